//! `mid_block.attentions.0`: diffusers' `Attention` on a feature map as the VAE builds it (one head
//! over all channels, a GroupNorm before, a residual connection): every pixel attends to every pixel,
//! `x + to_out.0(softmax(q kᵀ/√C) v)` with `q, k, v = to_{q,k,v}(GroupNorm(x))` per pixel.

use tch::{nn, nn::Module, Tensor};

use super::resnet::group_norm;

/// Single-head spatial self-attention with a residual connection.
#[derive(Debug)]
pub struct SpatialAttention {
    group_norm: nn::GroupNorm,
    to_q: nn::Linear,
    to_k: nn::Linear,
    to_v: nn::Linear,
    to_out: nn::Linear,
}

impl SpatialAttention {
    /// `p.group_norm`, `p.to_q`, `p.to_k`, `p.to_v`, `p.to_out.0`, all `C` wide.
    pub fn new(p: &nn::Path, channels: i64, groups: i64) -> Self {
        let linear = |q: nn::Path| nn::linear(q, channels, channels, Default::default());
        Self {
            group_norm: group_norm(p / "group_norm", groups, channels),
            to_q: linear(p / "to_q"),
            to_k: linear(p / "to_k"),
            to_v: linear(p / "to_v"),
            to_out: linear(p / "to_out" / 0),
        }
    }
}

impl Module for SpatialAttention {
    fn forward(&self, x: &Tensor) -> Tensor {
        let (b, c, h, w) = x.size4().expect("a [B, C, H, W] feature map");
        let pixels = self
            .group_norm
            .forward(x)
            .view([b, c, h * w])
            .transpose(1, 2)
            .unsqueeze(1);
        let attended = Tensor::scaled_dot_product_attention(
            &self.to_q.forward(&pixels),
            &self.to_k.forward(&pixels),
            &self.to_v.forward(&pixels),
            None::<&Tensor>,
            0.0,
            false,
            None,
            false,
        )
        .squeeze_dim(1);
        let out = self.to_out.forward(&attended).transpose(1, 2);
        x + out.reshape([b, c, h, w])
    }
}
