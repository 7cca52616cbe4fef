//! `encoder.layer.<i>`: transformers' `BertLayer`, post-LN:
//! `x ← LN_a(x + W_o·Attn(x))` (`attention.output.{dense,LayerNorm}`), then
//! `x ← LN_o(x + W₂·act(W₁·x))` (`intermediate.dense`, `output.{dense,LayerNorm}`).
//!
//! Adapter sites: `attention.self.{query,key,value}` (with the Serial adapter at `attention.self`),
//! `attention.output.dense` (o) and the feed-forward's two linears (mlp).

use serial_lora::{AdaptedLinear, QkvProjection, SelfAttention, SitePath, Target};
use tch::{nn, nn::Module, Tensor};

use super::config::Config;
use crate::error::Result;
use crate::vit::{descend, Activation};

/// One post-LN encoder layer.
#[derive(Debug)]
pub struct BertLayer {
    attention: SelfAttention,
    attention_layer_norm: nn::LayerNorm,
    intermediate: AdaptedLinear,
    activation: Activation,
    output: AdaptedLinear,
    output_layer_norm: nn::LayerNorm,
}

impl BertLayer {
    /// The layer at `p`; its adapter sites follow the store's plan.
    pub fn new(p: &SitePath, c: &Config) -> Result<Self> {
        let (d, ffn) = (c.hidden_size, c.intermediate_size);
        let norm = |dotted: &str| {
            let config = nn::LayerNormConfig {
                eps: c.layer_norm_eps,
                ..Default::default()
            };
            nn::layer_norm(descend(p, dotted).base(), vec![d], config)
        };
        let qkv = QkvProjection::separate(
            &descend(p, "attention.self"),
            ["query", "key", "value"],
            d,
            true,
        )?;
        let out = AdaptedLinear::new(&descend(p, "attention.output.dense"), Target::O, d, d, true)?;
        Ok(Self {
            attention: SelfAttention::new(qkv, out, c.num_attention_heads),
            attention_layer_norm: norm("attention.output.LayerNorm"),
            intermediate: AdaptedLinear::new(
                &descend(p, "intermediate.dense"),
                Target::Mlp,
                d,
                ffn,
                true,
            )?,
            activation: c.hidden_act,
            output: AdaptedLinear::new(&descend(p, "output.dense"), Target::Mlp, ffn, d, true)?,
            output_layer_norm: norm("output.LayerNorm"),
        })
    }

    /// `x` `[B, T, d]`; `mask` boolean `[B, 1, 1, T]`, true where a key may be attended to.
    pub fn forward_t(&self, x: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        let attended = self.attention.forward_t(x, Some(mask), false, train);
        let x = self.attention_layer_norm.forward(&(x + attended));
        let hidden = self
            .activation
            .forward(&self.intermediate.forward_t(&x, train));
        let out = self.output.forward_t(&hidden, train);
        self.output_layer_norm.forward(&(&x + out))
    }
}
