//! `transformer_blocks.<i>`: diffusers' `JointTransformerBlock`. Each stream (image `x`, context `c`)
//! runs `x ← x + g_msa·Attn(LN(x)·(1 + s_msa) + b_msa)` (attention joint over both streams), then
//! `x ← x + g_mlp·FF(LN(x)·(1 + s_mlp) + b_mlp)`, its modulation from `AdaLayerNormZero(temb)`. The
//! last block is `context_pre_only`: its context only feeds the attention (`norm1_context` is then an
//! `AdaLayerNormContinuous`) and it returns no context.

use serial_lora::SitePath;
use tch::{nn, nn::Module, Tensor};

use super::attention::JointAttention;
use super::config::Config;
use super::norm::{layer_norm, modulate, AdaLayerNormContinuous, AdaLayerNormZero, Modulation};
use crate::error::Result;

/// `ff` / `ff_context`: `net.2(GELU_tanh(net.0.proj(x)))`, hidden width 4D.
#[derive(Debug)]
struct FeedForward {
    proj: nn::Linear,
    out: nn::Linear,
}

impl FeedForward {
    fn new(p: &nn::Path, d: i64) -> Self {
        let c = Default::default();
        Self {
            proj: nn::linear(p / "net" / 0 / "proj", d, 4 * d, c),
            out: nn::linear(p / "net" / 2, 4 * d, d, c),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.out.forward(&self.proj.forward(x).gelu("tanh"))
    }
}

/// `x + g_msa·attn`, then `x + g_mlp·FF(LN(x)·(1 + s_mlp) + b_mlp)`.
fn residuals(x: &Tensor, attn: &Tensor, m: &Modulation, ff: &FeedForward) -> Tensor {
    let x = x + m.gate_msa.unsqueeze(1) * attn;
    let h = ff.forward(&modulate(&layer_norm(&x), &m.shift_mlp, &m.scale_mlp));
    &x + m.gate_mlp.unsqueeze(1) * h
}

/// The context stream of a block: a full stream, or (last block) only the attention's input.
#[derive(Debug)]
enum ContextStream {
    Full {
        norm1_context: AdaLayerNormZero,
        ff_context: FeedForward,
    },
    PreOnly {
        norm1_context: AdaLayerNormContinuous,
    },
}

/// One joint transformer block.
#[derive(Debug)]
pub struct JointTransformerBlock {
    norm1: AdaLayerNormZero,
    context: ContextStream,
    attn: JointAttention,
    ff: FeedForward,
}

impl JointTransformerBlock {
    /// The block at `p`; `context_pre_only` for the last one.
    pub fn new(p: &SitePath, c: &Config, context_pre_only: bool) -> Result<Self> {
        let (base, d) = (p.base(), c.inner_dim());
        let context = if context_pre_only {
            ContextStream::PreOnly {
                norm1_context: AdaLayerNormContinuous::new(&(base / "norm1_context"), d),
            }
        } else {
            ContextStream::Full {
                norm1_context: AdaLayerNormZero::new(&(base / "norm1_context"), d),
                ff_context: FeedForward::new(&(base / "ff_context"), d),
            }
        };
        Ok(Self {
            norm1: AdaLayerNormZero::new(&(base / "norm1"), d),
            context,
            attn: JointAttention::new(&(p / "attn"), c, context_pre_only)?,
            ff: FeedForward::new(&(base / "ff"), d),
        })
    }

    /// `(x, c)` → `(x', c')`, `c'` absent after a `context_pre_only` block.
    pub fn forward_t(
        &self,
        x: &Tensor,
        c: &Tensor,
        temb: &Tensor,
        train: bool,
    ) -> (Tensor, Option<Tensor>) {
        let (norm_x, m) = self.norm1.forward(x, temb);
        match &self.context {
            ContextStream::PreOnly { norm1_context } => {
                let norm_c = norm1_context.forward(c, temb);
                let (attn, _) = self.attn.forward_t(&norm_x, &norm_c, train);
                (residuals(x, &attn, &m, &self.ff), None)
            }
            ContextStream::Full {
                norm1_context,
                ff_context,
            } => {
                let (norm_c, context_m) = norm1_context.forward(c, temb);
                let (attn, context_attn) = self.attn.forward_t(&norm_x, &norm_c, train);
                let context_attn = context_attn.expect("a full block projects its context out");
                (
                    residuals(x, &attn, &m, &self.ff),
                    Some(residuals(c, &context_attn, &context_m, ff_context)),
                )
            }
        }
    }
}
