//! The MMDiT's normalisations: diffusers' `AdaLayerNormZero` and `AdaLayerNormContinuous` (LayerNorm
//! without affine, eps 1e-6, modulated by a projection of SiLU(temb)) and the per-head `RMSNorm`.

use tch::{nn, nn::Module, Kind, Tensor};

/// Epsilon of every LayerNorm and RMSNorm of the model.
pub const EPS: f64 = 1e-6;

/// LayerNorm over the last dimension without weight or bias.
pub fn layer_norm(x: &Tensor) -> Tensor {
    let d = *x.size().last().expect("a tensor with channels");
    x.layer_norm([d], None::<&Tensor>, None::<&Tensor>, EPS, false)
}

/// `x·(1 + scale) + shift`, the per-sample `[B, D]` modulation broadcast over tokens.
pub fn modulate(x: &Tensor, shift: &Tensor, scale: &Tensor) -> Tensor {
    x * (scale.unsqueeze(1) + 1.0) + shift.unsqueeze(1)
}

/// The modulation of one stream of a joint block, from `AdaLayerNormZero` (`[B, D]` each).
#[derive(Debug)]
pub struct Modulation {
    /// Gate of the attention branch.
    pub gate_msa: Tensor,
    /// Shift before the feed-forward.
    pub shift_mlp: Tensor,
    /// Scale before the feed-forward.
    pub scale_mlp: Tensor,
    /// Gate of the feed-forward branch.
    pub gate_mlp: Tensor,
}

/// `AdaLayerNormZero`: `linear(SiLU(temb))` `[B, 6D]` chunked into (shift_msa, scale_msa, gate_msa,
/// shift_mlp, scale_mlp, gate_mlp); returns `LN(x)·(1 + scale_msa) + shift_msa` and the rest.
#[derive(Debug)]
pub struct AdaLayerNormZero {
    linear: nn::Linear,
}

impl AdaLayerNormZero {
    /// `p.linear` `[6D, D]`.
    pub fn new(p: &nn::Path, d: i64) -> Self {
        Self {
            linear: nn::linear(p / "linear", d, 6 * d, Default::default()),
        }
    }

    /// The normalised, modulated `x` and the modulation of the rest of the block.
    pub fn forward(&self, x: &Tensor, temb: &Tensor) -> (Tensor, Modulation) {
        let chunks = self.linear.forward(&temb.silu()).chunk(6, 1);
        let [shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp] =
            <[Tensor; 6]>::try_from(chunks).expect("six chunks");
        let modulation = Modulation {
            gate_msa,
            shift_mlp,
            scale_mlp,
            gate_mlp,
        };
        (modulate(&layer_norm(x), &shift_msa, &scale_msa), modulation)
    }
}

/// `AdaLayerNormContinuous`: `linear(SiLU(temb))` `[B, 2D]` chunked in **(scale, shift)** order;
/// returns `LN(x)·(1 + scale) + shift`.
#[derive(Debug)]
pub struct AdaLayerNormContinuous {
    linear: nn::Linear,
}

impl AdaLayerNormContinuous {
    /// `p.linear` `[2D, D]`.
    pub fn new(p: &nn::Path, d: i64) -> Self {
        Self {
            linear: nn::linear(p / "linear", d, 2 * d, Default::default()),
        }
    }

    /// The normalised, modulated `x` `[B, N, D]`.
    pub fn forward(&self, x: &Tensor, temb: &Tensor) -> Tensor {
        let emb = self.linear.forward(&temb.silu());
        let [scale, shift] = <[Tensor; 2]>::try_from(emb.chunk(2, 1)).expect("two chunks");
        modulate(&layer_norm(x), &shift, &scale)
    }
}

/// diffusers' `RMSNorm` with a weight: `x / √(mean(x²) + ε) · weight` over the last dimension, the
/// mean taken in fp32.
#[derive(Debug)]
pub struct RmsNorm {
    weight: Tensor,
}

impl RmsNorm {
    /// `p.weight` `[dim]`.
    pub fn new(p: &nn::Path, dim: i64) -> Self {
        Self {
            weight: p.var("weight", &[dim], nn::Init::Const(1.0)),
        }
    }

    /// Normalises the last dimension of `x`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let variance = x
            .to_kind(Kind::Float)
            .square()
            .mean_dim(-1, true, Kind::Float);
        (x * (variance + EPS).rsqrt()).to_kind(self.weight.kind()) * &self.weight
    }
}
