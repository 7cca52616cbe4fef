//! The pre-LN transformer block shared by CLIP and DINOv2, and the encoder that stacks them.
//!
//! `x ← x + γ₁·Attn(LN₁(x))`, `x ← x + γ₂·MLP(LN₂(x))`, with `γ` the LayerScale vectors (DINOv2) or 1
//! (CLIP). Every projection is an adapter site: q/k/v (and Serial LoRA) in a [`QkvProjection`], W_o
//! and the MLP's two linears in [`AdaptedLinear`]s.

use serial_lora::{AdaptedLinear, QkvProjection, SelfAttention, SitePath, Target};
use tch::{nn, nn::Module, Tensor};

use super::{descend, Activation};
use crate::error::Result;

/// Where a block's modules sit in the checkpoint, relative to the block (dotted paths).
#[derive(Debug, Clone, Copy)]
pub struct BlockNames {
    /// The first LayerNorm (`layer_norm1`, `norm1`).
    pub norm1: &'static str,
    /// The module holding q, k and v, where the Serial adapter sits (`self_attn`, `attention.attention`).
    pub attention: &'static str,
    /// The q, k, v projections inside `attention` (`q_proj`…, `query`…).
    pub qkv: [&'static str; 3],
    /// The output projection (`self_attn.out_proj`, `attention.output.dense`).
    pub out: &'static str,
    /// The second LayerNorm (`layer_norm2`, `norm2`).
    pub norm2: &'static str,
    /// The LayerScale modules after attention and MLP, each holding `lambda1` (DINOv2), if any.
    pub layer_scale: Option<[&'static str; 2]>,
}

/// Sizes and options of a block.
#[derive(Debug, Clone, Copy)]
pub struct BlockConfig {
    /// Width `d`.
    pub dim: i64,
    /// Attention heads.
    pub heads: i64,
    /// Hidden width of the MLP.
    pub mlp_dim: i64,
    /// LayerNorm epsilon.
    pub eps: f64,
    /// MLP activation.
    pub activation: Activation,
    /// Whether q, k, v carry a bias.
    pub qkv_bias: bool,
}

/// `fc2(act(fc1(x)))` with both linears adapter sites (`Target::Mlp`).
#[derive(Debug)]
struct Mlp {
    fc1: AdaptedLinear,
    fc2: AdaptedLinear,
    activation: Activation,
}

impl Mlp {
    fn new(p: &SitePath, c: &BlockConfig) -> Result<Self> {
        Ok(Self {
            fc1: AdaptedLinear::new(&(p / "fc1"), Target::Mlp, c.dim, c.mlp_dim, true)?,
            fc2: AdaptedLinear::new(&(p / "fc2"), Target::Mlp, c.mlp_dim, c.dim, true)?,
            activation: c.activation,
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.fc2.forward_t(
            &self.activation.forward(&self.fc1.forward_t(x, train)),
            train,
        )
    }
}

fn layer_norm(p: &nn::Path, c: &BlockConfig) -> nn::LayerNorm {
    nn::layer_norm(
        p,
        vec![c.dim],
        nn::LayerNormConfig {
            eps: c.eps,
            ..Default::default()
        },
    )
}

/// One pre-LN block: self-attention and MLP, each in a residual branch scaled by LayerScale if present.
#[derive(Debug)]
pub struct Block {
    norm1: nn::LayerNorm,
    attention: SelfAttention,
    norm2: nn::LayerNorm,
    mlp: Mlp,
    layer_scale: Option<[Tensor; 2]>,
}

impl Block {
    /// The block at `p`, its modules named by `names`.
    pub fn new(p: &SitePath, c: &BlockConfig, names: &BlockNames) -> Result<Self> {
        let qkv =
            QkvProjection::separate(&descend(p, names.attention), names.qkv, c.dim, c.qkv_bias)?;
        let out = AdaptedLinear::new(&descend(p, names.out), Target::O, c.dim, c.dim, true)?;
        let layer_scale = names.layer_scale.map(|scales| {
            scales.map(|s| {
                descend(p, s)
                    .base()
                    .var("lambda1", &[c.dim], nn::Init::Const(1.0))
            })
        });
        Ok(Self {
            norm1: layer_norm(descend(p, names.norm1).base(), c),
            attention: SelfAttention::new(qkv, out, c.heads),
            norm2: layer_norm(descend(p, names.norm2).base(), c),
            mlp: Mlp::new(&(p / "mlp"), c)?,
            layer_scale,
        })
    }

    fn scaled(&self, branch: usize, h: Tensor) -> Tensor {
        match &self.layer_scale {
            Some(gammas) => h * &gammas[branch],
            None => h,
        }
    }

    /// `x`: `[batch, tokens, dim]`. `mask` is added to (or, boolean, selects) the attention logits;
    /// `causal` masks future tokens.
    pub fn forward_t(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        causal: bool,
        train: bool,
    ) -> Tensor {
        let h = self
            .attention
            .forward_t(&self.norm1.forward(x), mask, causal, train);
        self.finish(x + self.scaled(0, h), train)
    }

    /// The block's output for the first `rows` tokens of `x` only (every token still attends as
    /// key and value; no mask): the same rows as [`forward_t`](Self::forward_t), with Q, the
    /// attention products, W_o and the MLP computed for `rows` tokens instead of all.
    pub fn forward_t_rows(&self, x: &Tensor, rows: i64, train: bool) -> Tensor {
        let h = self
            .attention
            .forward_t_queries(&self.norm1.forward(x), rows, train);
        self.finish(x.narrow(1, 0, rows) + self.scaled(0, h), train)
    }

    /// The MLP branch on the attention branch's output `x`.
    fn finish(&self, x: Tensor, train: bool) -> Tensor {
        let h = self.mlp.forward_t(&self.norm2.forward(&x), train);
        &x + self.scaled(1, h)
    }
}

/// A stack of [`Block`]s at `<encoder>.<layers>.<i>`, each marked as transformer layer `i`.
#[derive(Debug)]
pub struct Encoder {
    blocks: Vec<Block>,
}

impl Encoder {
    /// `depth` blocks under `p / layers` (`layers` for CLIP, `layer` for DINOv2).
    pub fn new(
        p: &SitePath,
        layers: &str,
        depth: usize,
        c: &BlockConfig,
        names: &BlockNames,
    ) -> Result<Self> {
        let layers = p / layers;
        let blocks = (0..depth)
            .map(|i| Block::new(&layers.layer(i, i), c, names))
            .collect::<Result<_>>()?;
        Ok(Self { blocks })
    }

    /// Every block's output in order (transformers' `hidden_states` after the embeddings).
    pub fn forward_states(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        causal: bool,
        train: bool,
    ) -> Vec<Tensor> {
        let mut states: Vec<Tensor> = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let input = states.last().unwrap_or(x);
            let next = block.forward_t(input, mask, causal, train);
            states.push(next);
        }
        states
    }

    /// Runs every block in order.
    pub fn forward_t(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        causal: bool,
        train: bool,
    ) -> Tensor {
        self.blocks.iter().fold(x.shallow_clone(), |x, block| {
            block.forward_t(&x, mask, causal, train)
        })
    }

    /// Every block in order, the last one for the first `rows` tokens only
    /// ([`Block::forward_t_rows`]): `[batch, rows, dim]`, what a pooled output reads, without the
    /// last block's work on the other tokens. No mask.
    pub fn forward_t_rows(&self, x: &Tensor, rows: i64, train: bool) -> Tensor {
        let Some((last, rest)) = self.blocks.split_last() else {
            return x.narrow(1, 0, rows);
        };
        let x = rest.iter().fold(x.shallow_clone(), |x, block| {
            block.forward_t(&x, None, false, train)
        });
        last.forward_t_rows(&x, rows, train)
    }
}
