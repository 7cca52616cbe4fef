//! CLIP configurations as transformers writes them in `config.json` (`clip`, `clip_vision_model`,
//! `clip_text_model`), with transformers' defaults for absent fields, and the OpenAI presets.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::json::parse;
use crate::vit::{Activation, BlockConfig};

/// The vision tower (`CLIPVisionConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct VisionConfig {
    /// Width.
    pub hidden_size: i64,
    /// MLP hidden width.
    pub intermediate_size: i64,
    /// Output width of `visual_projection` in standalone use (the joint model uses its own).
    pub projection_dim: i64,
    /// Number of blocks.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: i64,
    /// Input channels.
    pub num_channels: i64,
    /// Input side in pixels (square).
    pub image_size: i64,
    /// Patch side in pixels.
    pub patch_size: i64,
    /// MLP activation.
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            hidden_size: 768,
            intermediate_size: 3072,
            projection_dim: 512,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
        }
    }
}

impl VisionConfig {
    /// Parses a `clip_vision_model` `config.json` object (fields at the top level).
    pub fn from_json(config: &Map<String, Value>, path: &Path) -> Result<Self> {
        let c: Self = parse(Value::Object(config.clone()), path, "")?;
        c.validate().map_err(|m| Error::config(path, m))?;
        Ok(c)
    }

    /// Patch tokens of a `image_size²` input.
    pub fn num_patches(&self) -> i64 {
        (self.image_size / self.patch_size).pow(2)
    }

    /// The block sizes.
    pub fn block(&self) -> BlockConfig {
        BlockConfig {
            dim: self.hidden_size,
            heads: self.num_attention_heads,
            mlp_dim: self.intermediate_size,
            eps: self.layer_norm_eps,
            activation: self.hidden_act,
            qkv_bias: true,
        }
    }

    fn validate(&self) -> std::result::Result<(), String> {
        check_heads(self.hidden_size, self.num_attention_heads)?;
        if self.patch_size < 1 || self.image_size < self.patch_size {
            return Err(format!(
                "patch_size {} must be between 1 and image_size {}",
                self.patch_size, self.image_size
            ));
        }
        Ok(())
    }
}

/// The text tower (`CLIPTextConfig`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct TextConfig {
    /// Vocabulary size.
    pub vocab_size: i64,
    /// Width.
    pub hidden_size: i64,
    /// MLP hidden width.
    pub intermediate_size: i64,
    /// Output width of `text_projection` in standalone use (the joint model uses its own).
    pub projection_dim: i64,
    /// Number of blocks.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: i64,
    /// Longest sequence.
    pub max_position_embeddings: i64,
    /// MLP activation.
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// End-of-text id. `2` (the value in the original OpenAI configs) means "pool at the largest id",
    /// as transformers does for those checkpoints; any other value pools at its first occurrence.
    pub eos_token_id: i64,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            projection_dim: 512,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
            eos_token_id: 49407,
        }
    }
}

impl TextConfig {
    /// Parses a `clip_text_model` `config.json` object (fields at the top level).
    pub fn from_json(config: &Map<String, Value>, path: &Path) -> Result<Self> {
        let c: Self = parse(Value::Object(config.clone()), path, "")?;
        c.validate().map_err(|m| Error::config(path, m))?;
        Ok(c)
    }

    /// The block sizes.
    pub fn block(&self) -> BlockConfig {
        BlockConfig {
            dim: self.hidden_size,
            heads: self.num_attention_heads,
            mlp_dim: self.intermediate_size,
            eps: self.layer_norm_eps,
            activation: self.hidden_act,
            qkv_bias: true,
        }
    }

    fn validate(&self) -> std::result::Result<(), String> {
        check_heads(self.hidden_size, self.num_attention_heads)
    }
}

fn check_heads(hidden: i64, heads: i64) -> std::result::Result<(), String> {
    if heads < 1 || hidden % heads != 0 {
        return Err(format!(
            "hidden_size {hidden} is not divisible by num_attention_heads {heads}"
        ));
    }
    Ok(())
}

/// The joint model (`CLIPConfig`): both towers, the shared projection width and the initial logit scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The text tower.
    pub text: TextConfig,
    /// The vision tower.
    pub vision: VisionConfig,
    /// Width of the joint embedding space.
    pub projection_dim: i64,
    /// Initial value of `logit_scale` (its log), overwritten by the checkpoint.
    pub logit_scale_init_value: f64,
}

/// `config[key]` with the legacy `config[key + "_dict"]` (older transformers) laid over it.
fn tower(config: &Map<String, Value>, key: &str) -> Value {
    let mut merged = match config.get(key) {
        Some(Value::Object(o)) => o.clone(),
        _ => Map::new(),
    };
    if let Some(Value::Object(legacy)) = config.get(&format!("{key}_dict")) {
        merged.extend(legacy.clone());
    }
    Value::Object(merged)
}

impl Config {
    /// Parses a `clip` `config.json` object (towers under `text_config` / `vision_config`).
    pub fn from_json(config: &Map<String, Value>, path: &Path) -> Result<Self> {
        let text: TextConfig = parse(tower(config, "text_config"), path, "text_config")?;
        let vision: VisionConfig = parse(tower(config, "vision_config"), path, "vision_config")?;
        text.validate()
            .map_err(|m| Error::config(path, format!("text_config: {m}")))?;
        vision
            .validate()
            .map_err(|m| Error::config(path, format!("vision_config: {m}")))?;
        let number = |key: &str, default: f64| match config.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v.as_f64().ok_or_else(|| {
                Error::config(path, format!("field `{key}`: expected a number, got {v}"))
            }),
        };
        Ok(Self {
            text,
            vision,
            projection_dim: number("projection_dim", 512.0)? as i64,
            logit_scale_init_value: number("logit_scale_init_value", 2.6592)?,
        })
    }

    /// OpenAI CLIP ViT-B/16 (`openai/clip-vit-base-patch16`).
    pub fn vit_b_16() -> Self {
        Self::openai(
            VisionConfig {
                patch_size: 16,
                ..Default::default()
            },
            TextConfig::default(),
            512,
        )
    }

    /// OpenAI CLIP ViT-B/32 (`openai/clip-vit-base-patch32`).
    pub fn vit_b_32() -> Self {
        Self::openai(VisionConfig::default(), TextConfig::default(), 512)
    }

    /// OpenAI CLIP ViT-L/14 (`openai/clip-vit-large-patch14`).
    pub fn vit_l_14() -> Self {
        let vision = VisionConfig {
            hidden_size: 1024,
            intermediate_size: 4096,
            projection_dim: 768,
            num_hidden_layers: 24,
            num_attention_heads: 16,
            patch_size: 14,
            ..Default::default()
        };
        let text = TextConfig {
            hidden_size: 768,
            intermediate_size: 3072,
            projection_dim: 768,
            num_attention_heads: 12,
            ..Default::default()
        };
        Self::openai(vision, text, 768)
    }

    /// The OpenAI release: `eos_token_id` 2 in its configs (argmax pooling), logit scale ln(1/0.07).
    fn openai(vision: VisionConfig, text: TextConfig, projection_dim: i64) -> Self {
        let text = TextConfig {
            eos_token_id: 2,
            ..text
        };
        Self {
            text,
            vision,
            projection_dim,
            logit_scale_init_value: 2.6592,
        }
    }
}
