//! `attn` of a joint block (diffusers' `Attention` with `JointAttnProcessor2_0`): image and context
//! tokens are projected by their own q/k/v, optionally RMS-normalised per head, attended over jointly
//! (image tokens first), split again and projected out by `to_out.0` and `to_add_out`.
//!
//! Adapter sites: the image stream's `to_q`/`to_k`/`to_v` (roles q, k, v) with the Serial pair before
//! them (a [`QkvProjection`] at `attn`) and `to_out.0` (role o); the context stream's `add_q_proj`/
//! `add_k_proj`/`add_v_proj` and `to_add_out` (role `context`, all four) with its own Serial pair at
//! the virtual sub-module `attn.context`, before `add_q/k/v_proj`.

use serial_lora::{AdaptedLinear, QkvProjection, SitePath, Target};
use tch::{nn, Tensor};

use super::config::{Config, QkNorm};
use super::norm::RmsNorm;
use crate::error::Result;

/// `norm_q`, `norm_k`, `norm_added_q`, `norm_added_k`: RMSNorm over each head's channels.
#[derive(Debug)]
struct QkNorms {
    norm_q: RmsNorm,
    norm_k: RmsNorm,
    norm_added_q: RmsNorm,
    norm_added_k: RmsNorm,
}

impl QkNorms {
    fn new(p: &nn::Path, head_dim: i64) -> Self {
        Self {
            norm_q: RmsNorm::new(&(p / "norm_q"), head_dim),
            norm_k: RmsNorm::new(&(p / "norm_k"), head_dim),
            norm_added_q: RmsNorm::new(&(p / "norm_added_q"), head_dim),
            norm_added_k: RmsNorm::new(&(p / "norm_added_k"), head_dim),
        }
    }
}

/// Joint attention of one block over image tokens `x` `[B, N, D]` and context tokens `c` `[B, T, D]`.
#[derive(Debug)]
pub struct JointAttention {
    qkv: QkvProjection,
    to_out: AdaptedLinear,
    add_qkv: QkvProjection,
    to_add_out: Option<AdaptedLinear>,
    qk_norms: Option<QkNorms>,
    heads: i64,
}

impl JointAttention {
    /// The attention at `p`; `context_pre_only` (the last block) has no `to_add_out`.
    pub fn new(p: &SitePath, c: &Config, context_pre_only: bool) -> Result<Self> {
        let d = c.inner_dim();
        let base = p.base();
        let add_names = ["add_q_proj", "add_k_proj", "add_v_proj"];
        let to_add_out = (!context_pre_only)
            .then(|| AdaptedLinear::new(&(p / "to_add_out"), Target::Context, d, d, true))
            .transpose()?;
        Ok(Self {
            qkv: QkvProjection::separate(p, ["to_q", "to_k", "to_v"], d, true)?,
            to_out: AdaptedLinear::new(&(p / "to_out" / 0), Target::O, d, d, true)?,
            add_qkv: QkvProjection::separate_as(p, Target::Context, "context", add_names, d, true)?,
            to_add_out,
            qk_norms: c
                .qk_norm
                .map(|QkNorm::RmsNorm| QkNorms::new(base, c.attention_head_dim)),
            heads: c.num_attention_heads,
        })
    }

    /// `(image output [B, N, D], context output [B, T, D] unless context_pre_only)`.
    pub fn forward_t(&self, x: &Tensor, c: &Tensor, train: bool) -> (Tensor, Option<Tensor>) {
        let (batch, tokens, d) = x.size3().expect("image tokens are [B, N, D]");
        let heads = |t: Tensor| {
            t.view([batch, -1, self.heads, d / self.heads])
                .transpose(1, 2)
        };
        let (q, k, v) = self.qkv.forward_t(x, train);
        let (mut q, mut k, v) = (heads(q), heads(k), heads(v));
        let (c_q, c_k, c_v) = self.add_qkv.forward_t(c, train);
        let (mut c_q, mut c_k, c_v) = (heads(c_q), heads(c_k), heads(c_v));
        if let Some(n) = &self.qk_norms {
            q = n.norm_q.forward(&q);
            k = n.norm_k.forward(&k);
            c_q = n.norm_added_q.forward(&c_q);
            c_k = n.norm_added_k.forward(&c_k);
        }
        let joint = Tensor::scaled_dot_product_attention(
            &Tensor::cat(&[q, c_q], 2),
            &Tensor::cat(&[k, c_k], 2),
            &Tensor::cat(&[v, c_v], 2),
            None::<&Tensor>,
            0.0,
            false,
            None,
            false,
        )
        .transpose(1, 2)
        .reshape([batch, -1, d]);
        let image = self.to_out.forward_t(&joint.narrow(1, 0, tokens), train);
        let context = self.to_add_out.as_ref().map(|to_add_out| {
            to_add_out.forward_t(&joint.narrow(1, tokens, joint.size()[1] - tokens), train)
        });
        (image, context)
    }
}
