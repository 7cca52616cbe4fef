//! The `SD3Transformer2DModel` configuration as diffusers writes it (`_class_name:
//! "SD3Transformer2DModel"`), with diffusers' defaults.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::json::{diffusers_fields, parse};

/// diffusers' `_class_name` of the model this module implements.
pub const CLASS_NAME: &str = "SD3Transformer2DModel";

/// The fields of diffusers' `SD3Transformer2DModel` config; every one shapes the model.
const FIELDS: [&str; 13] = [
    "sample_size",
    "patch_size",
    "in_channels",
    "num_layers",
    "attention_head_dim",
    "num_attention_heads",
    "joint_attention_dim",
    "caption_projection_dim",
    "pooled_projection_dim",
    "out_channels",
    "pos_embed_max_size",
    "dual_attention_layers",
    "qk_norm",
];

/// The query/key normalisation of the joint attention (`qk_norm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QkNorm {
    /// RMSNorm over each head's channels, with a weight (`norm_q`, `norm_k`, `norm_added_q`,
    /// `norm_added_k`).
    #[serde(rename = "rms_norm")]
    RmsNorm,
}

/// diffusers' `SD3Transformer2DModel` configuration. Width `D = num_attention_heads ·
/// attention_head_dim`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Latent side the position table's scale was trained for (`base_size = sample_size / patch_size`).
    pub sample_size: i64,
    /// Patch side in latent pixels.
    pub patch_size: i64,
    /// Latent channels in.
    pub in_channels: i64,
    /// Joint transformer blocks; the last one is `context_pre_only`.
    pub num_layers: usize,
    /// Channels per head.
    pub attention_head_dim: i64,
    /// Attention heads.
    pub num_attention_heads: i64,
    /// Width of `encoder_hidden_states`.
    pub joint_attention_dim: i64,
    /// Width of the projected text tokens (must equal `D`).
    pub caption_projection_dim: i64,
    /// Width of `pooled_projections`.
    pub pooled_projection_dim: i64,
    /// Latent channels out (`null`: `in_channels`).
    pub out_channels: Option<i64>,
    /// Side of the stored position table, in patches (required: SD3 crops it to the latent's grid).
    pub pos_embed_max_size: Option<i64>,
    /// Blocks with SD3.5's second, image-only attention (not supported).
    pub dual_attention_layers: Vec<usize>,
    /// Query/key normalisation, if any.
    pub qk_norm: Option<QkNorm>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            sample_size: 128,
            patch_size: 2,
            in_channels: 16,
            num_layers: 18,
            attention_head_dim: 64,
            num_attention_heads: 18,
            joint_attention_dim: 4096,
            caption_projection_dim: 1152,
            pooled_projection_dim: 2048,
            out_channels: Some(16),
            pos_embed_max_size: Some(96),
            dual_attention_layers: Vec::new(),
            qk_norm: None,
        }
    }
}

impl Config {
    /// Stable Diffusion 3 medium (24 blocks of width 1536, `scripts/convert_sd3_to_diffusers.py`).
    pub fn sd3_medium() -> Self {
        Self {
            num_layers: 24,
            num_attention_heads: 24,
            caption_projection_dim: 1536,
            pos_embed_max_size: Some(192),
            ..Default::default()
        }
    }

    /// Parses a diffusers `config.json` object. Keys starting with `_` are diffusers' metadata; any
    /// other key this model does not know is refused, since it may change the math.
    pub fn from_json(config: &Map<String, Value>, path: &Path) -> Result<Self> {
        let fields = diffusers_fields(config, path, &FIELDS, CLASS_NAME)?;
        let c: Self = parse(fields, path, "")?;
        c.check().map_err(|message| Error::config(path, message))?;
        Ok(c)
    }

    /// The `config.json` diffusers writes for this model (`_class_name` and every field), which
    /// [`Config::from_json`] and diffusers' `from_pretrained` read back.
    pub fn to_json(&self) -> Value {
        let mut fields = match serde_json::to_value(self).expect("plain fields") {
            Value::Object(map) => map,
            _ => unreachable!("a struct serialises to an object"),
        };
        fields.insert("_class_name".into(), Value::from(CLASS_NAME));
        Value::Object(fields)
    }

    /// Checks the fields against each other; the message names the field at fault.
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        if !self.dual_attention_layers.is_empty() {
            return Err(format!(
                "field `dual_attention_layers`: {:?}: SD3.5's dual-attention blocks are unsupported",
                self.dual_attention_layers
            ));
        }
        let Some(max) = self.pos_embed_max_size else {
            return Err(
                "field `pos_embed_max_size`: null is unsupported (SD3 crops a stored table)".into(),
            );
        };
        let positive = [
            ("sample_size", self.sample_size),
            ("patch_size", self.patch_size),
            ("in_channels", self.in_channels),
            ("attention_head_dim", self.attention_head_dim),
            ("num_attention_heads", self.num_attention_heads),
            ("joint_attention_dim", self.joint_attention_dim),
            ("pooled_projection_dim", self.pooled_projection_dim),
            ("out_channels", self.out_channels()),
            ("pos_embed_max_size", max),
        ];
        if let Some((name, value)) = positive.iter().find(|(_, v)| *v < 1) {
            return Err(format!("field `{name}`: {value} must be at least 1"));
        }
        if self.num_layers < 1 {
            return Err("field `num_layers`: must be at least 1".into());
        }
        if self.caption_projection_dim != self.inner_dim() {
            return Err(format!(
                "field `caption_projection_dim`: {} must equal num_attention_heads · attention_head_dim = {}",
                self.caption_projection_dim,
                self.inner_dim()
            ));
        }
        if self.inner_dim() % 4 != 0 || self.sample_size < self.patch_size {
            return Err(format!(
                "the width {} must be a multiple of 4 (2-D sin-cos table) and sample_size {} at least patch_size {}",
                self.inner_dim(),
                self.sample_size,
                self.patch_size
            ));
        }
        Ok(())
    }

    /// Width `D = num_attention_heads · attention_head_dim`.
    pub fn inner_dim(&self) -> i64 {
        self.num_attention_heads * self.attention_head_dim
    }

    /// Latent channels out.
    pub fn out_channels(&self) -> i64 {
        self.out_channels.unwrap_or(self.in_channels)
    }

    /// Side of the stored position table, in patches.
    pub fn pos_embed_max_size(&self) -> i64 {
        self.pos_embed_max_size
            .expect("checked by Config::from_json")
    }

    /// `base_size = sample_size / patch_size`, the grid the table's coordinates are scaled to.
    pub fn base_size(&self) -> i64 {
        self.sample_size / self.patch_size
    }
}
