//! The `AutoencoderKL` configuration as diffusers writes it (`_class_name: "AutoencoderKL"`), with
//! diffusers' defaults.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::json::{diffusers_fields, parse};

/// diffusers' `_class_name` of the model this module implements.
pub const CLASS_NAME: &str = "AutoencoderKL";

/// The encoder's block type (the only one `AutoencoderKL` checkpoints use).
pub const DOWN_BLOCK: &str = "DownEncoderBlock2D";
/// The decoder's block type.
pub const UP_BLOCK: &str = "UpDecoderBlock2D";

/// The fields of diffusers' `AutoencoderKL` config.
const FIELDS: [&str; 18] = [
    "in_channels",
    "out_channels",
    "down_block_types",
    "up_block_types",
    "block_out_channels",
    "layers_per_block",
    "act_fn",
    "latent_channels",
    "norm_num_groups",
    "sample_size",
    "scaling_factor",
    "shift_factor",
    "latents_mean",
    "latents_std",
    "force_upcast",
    "use_quant_conv",
    "use_post_quant_conv",
    "mid_block_add_attention",
];

/// diffusers' `AutoencoderKL` configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Image channels in.
    pub in_channels: i64,
    /// Image channels out.
    pub out_channels: i64,
    /// One `DownEncoderBlock2D` per entry of `block_out_channels`.
    pub down_block_types: Vec<String>,
    /// One `UpDecoderBlock2D` per entry of `block_out_channels`.
    pub up_block_types: Vec<String>,
    /// Width of each resolution level, finest first; every level but the last halves the image.
    pub block_out_channels: Vec<i64>,
    /// ResNet blocks per encoder level (the decoder has one more).
    pub layers_per_block: usize,
    /// The activation (`silu`, alias `swish`).
    pub act_fn: String,
    /// Latent channels (SD3: 16).
    pub latent_channels: i64,
    /// Groups of every GroupNorm.
    pub norm_num_groups: i64,
    /// Image side the model was trained at (only used by diffusers' tiling).
    pub sample_size: Value,
    /// `z = (mean − shift_factor)·scaling_factor` is what the diffusion model sees.
    pub scaling_factor: f64,
    /// See `scaling_factor` (`null`: 0).
    pub shift_factor: Option<f64>,
    /// Per-channel latent statistics some pipelines use instead (kept, not applied).
    pub latents_mean: Option<Vec<f64>>,
    /// See `latents_mean`.
    pub latents_std: Option<Vec<f64>>,
    /// diffusers runs the model in fp32 under fp16 pipelines when set (this model always runs fp32).
    pub force_upcast: bool,
    /// A 1×1 `quant_conv` on the encoder's moments.
    pub use_quant_conv: bool,
    /// A 1×1 `post_quant_conv` on the latents before decoding.
    pub use_post_quant_conv: bool,
    /// Self-attention in both mid blocks.
    pub mid_block_add_attention: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            in_channels: 3,
            out_channels: 3,
            down_block_types: vec![DOWN_BLOCK.into()],
            up_block_types: vec![UP_BLOCK.into()],
            block_out_channels: vec![64],
            layers_per_block: 1,
            act_fn: "silu".into(),
            latent_channels: 4,
            norm_num_groups: 32,
            sample_size: Value::from(32),
            scaling_factor: 0.18215,
            shift_factor: None,
            latents_mean: None,
            latents_std: None,
            force_upcast: true,
            use_quant_conv: true,
            use_post_quant_conv: true,
            mid_block_add_attention: true,
        }
    }
}

impl Config {
    /// Stable Diffusion 3's VAE (`scripts/convert_sd3_to_diffusers.py`): 16 latent channels, 8×
    /// down-sampling, no quant convs, scaling 1.5305, shift 0.0609.
    pub fn sd3() -> Self {
        Self {
            down_block_types: vec![DOWN_BLOCK.into(); 4],
            up_block_types: vec![UP_BLOCK.into(); 4],
            block_out_channels: vec![128, 256, 512, 512],
            layers_per_block: 2,
            latent_channels: 16,
            sample_size: Value::from(1024),
            scaling_factor: 1.5305,
            shift_factor: Some(0.0609),
            use_quant_conv: false,
            use_post_quant_conv: false,
            ..Default::default()
        }
    }

    /// Parses a diffusers `config.json` object; keys starting with `_` are diffusers' metadata, any
    /// other unknown key is refused (it may change the math).
    pub fn from_json(config: &Map<String, Value>, path: &Path) -> Result<Self> {
        let fields = diffusers_fields(config, path, &FIELDS, CLASS_NAME)?;
        let c: Self = parse(fields, path, "")?;
        c.check().map_err(|message| Error::config(path, message))?;
        Ok(c)
    }

    /// Checks the fields against each other; the message names the field at fault.
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        let levels = self.block_out_channels.len();
        if levels == 0 {
            return Err("field `block_out_channels`: must not be empty".into());
        }
        for (field, types, expected) in [
            ("down_block_types", &self.down_block_types, DOWN_BLOCK),
            ("up_block_types", &self.up_block_types, UP_BLOCK),
        ] {
            if types.len() != levels || types.iter().any(|t| t != expected) {
                return Err(format!(
                    "field `{field}`: {types:?}: expected {levels} × {expected} (one per block_out_channels)"
                ));
            }
        }
        if !matches!(self.act_fn.as_str(), "silu" | "swish") {
            return Err(format!(
                "field `act_fn`: `{}` is unsupported (silu)",
                self.act_fn
            ));
        }
        let positive = [
            ("in_channels", self.in_channels),
            ("out_channels", self.out_channels),
            ("latent_channels", self.latent_channels),
            ("norm_num_groups", self.norm_num_groups),
        ];
        if let Some((name, value)) = positive.iter().find(|(_, v)| *v < 1) {
            return Err(format!("field `{name}`: {value} must be at least 1"));
        }
        if let Some(width) = self
            .block_out_channels
            .iter()
            .find(|&&w| w < 1 || w % self.norm_num_groups != 0)
        {
            return Err(format!(
                "field `block_out_channels`: {width} is not a positive multiple of norm_num_groups {}",
                self.norm_num_groups
            ));
        }
        if self.layers_per_block < 1 {
            return Err("field `layers_per_block`: must be at least 1".into());
        }
        Ok(())
    }

    /// How much the encoder shrinks each side: `2^(levels − 1)`.
    pub fn downsampling_factor(&self) -> i64 {
        1 << (self.block_out_channels.len() - 1)
    }

    /// `shift_factor`, 0 when `null`.
    pub fn shift(&self) -> f64 {
        self.shift_factor.unwrap_or(0.0)
    }
}
