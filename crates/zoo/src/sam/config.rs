//! transformers' `SamConfig` (`model_type: "sam"`) and its three sub-configurations, with presets.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::vit::Activation;

/// transformers' `SamVisionConfig`: the ViT image encoder (windowed + global attention).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct VisionConfig {
    /// Width.
    pub hidden_size: i64,
    /// Channels of the neck's output (the image embedding).
    pub output_channels: i64,
    /// Number of blocks.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: i64,
    /// Input channels.
    pub num_channels: i64,
    /// Side of the square input in pixels.
    pub image_size: i64,
    /// Patch side in pixels.
    pub patch_size: i64,
    /// MLP activation.
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Whether `qkv` carries a bias.
    pub qkv_bias: bool,
    /// MLP width as a multiple of `hidden_size` (when `mlp_dim` is absent).
    pub mlp_ratio: f64,
    /// MLP width.
    pub mlp_dim: Option<i64>,
    /// Whether the encoder adds the absolute `pos_embed`.
    pub use_abs_pos: bool,
    /// Whether attention adds decomposed relative position embeddings.
    pub use_rel_pos: bool,
    /// Side of the attention windows of non-global blocks.
    pub window_size: i64,
    /// Blocks that attend globally.
    pub global_attn_indexes: Vec<usize>,
    /// Random Fourier features of the shared positional embedding (half the prompt width).
    pub num_pos_feats: i64,
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            hidden_size: 768,
            output_channels: 256,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 1024,
            patch_size: 16,
            hidden_act: Activation::Gelu,
            layer_norm_eps: 1e-6,
            qkv_bias: true,
            mlp_ratio: 4.0,
            mlp_dim: None,
            use_abs_pos: true,
            use_rel_pos: true,
            window_size: 14,
            global_attn_indexes: vec![2, 5, 8, 11],
            num_pos_feats: 128,
        }
    }
}

impl VisionConfig {
    /// Patches per side.
    pub fn grid(&self) -> i64 {
        self.image_size / self.patch_size
    }

    /// MLP width (`mlp_dim`, else `int(hidden_size · mlp_ratio)`).
    pub fn mlp_width(&self) -> i64 {
        self.mlp_dim
            .unwrap_or((self.hidden_size as f64 * self.mlp_ratio) as i64)
    }

    /// Attention window of block `i`: 0 (global) or `window_size`.
    pub fn window_of(&self, i: usize) -> i64 {
        if self.global_attn_indexes.contains(&i) {
            0
        } else {
            self.window_size
        }
    }
}

/// transformers' `SamPromptEncoderConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct PromptEncoderConfig {
    /// Prompt and image-embedding width.
    pub hidden_size: i64,
    /// Side of the square input image (points and boxes are in its pixels).
    pub image_size: i64,
    /// Input pixels per image-embedding cell.
    pub patch_size: i64,
    /// Channels of the mask-embedding convolutions.
    pub mask_input_channels: i64,
    /// Learned point embeddings (negative, positive, two box corners).
    pub num_point_embeddings: i64,
    /// Activation of the mask embedding (`gelu`).
    pub hidden_act: Activation,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
}

impl Default for PromptEncoderConfig {
    fn default() -> Self {
        Self {
            hidden_size: 256,
            image_size: 1024,
            patch_size: 16,
            mask_input_channels: 16,
            num_point_embeddings: 4,
            hidden_act: Activation::Gelu,
            layer_norm_eps: 1e-6,
        }
    }
}

impl PromptEncoderConfig {
    /// Side of the image embedding (`image_size / patch_size`).
    pub fn embedding_size(&self) -> i64 {
        self.image_size / self.patch_size
    }
}

/// transformers' `SamMaskDecoderConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct MaskDecoderConfig {
    /// Width.
    pub hidden_size: i64,
    /// Activation of the two-way blocks' MLP; only `relu` (SAM's) is supported.
    pub hidden_act: String,
    /// MLP width of the two-way blocks.
    pub mlp_dim: i64,
    /// Two-way blocks.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: i64,
    /// Width reduction of the cross attentions.
    pub attention_downsample_rate: i64,
    /// Masks of the multimask output (plus one single-mask output).
    pub num_multimask_outputs: i64,
    /// Linears of the IoU head.
    pub iou_head_depth: usize,
    /// Hidden width of the IoU head.
    pub iou_head_hidden_dim: i64,
    /// LayerNorm epsilon of the two-way blocks (transformers 1e-6; the original SAM 1e-5).
    pub layer_norm_eps: f64,
}

impl Default for MaskDecoderConfig {
    fn default() -> Self {
        Self {
            hidden_size: 256,
            hidden_act: "relu".into(),
            mlp_dim: 2048,
            num_hidden_layers: 2,
            num_attention_heads: 8,
            attention_downsample_rate: 2,
            num_multimask_outputs: 3,
            iou_head_depth: 3,
            iou_head_hidden_dim: 256,
            layer_norm_eps: 1e-6,
        }
    }
}

/// transformers' `SamConfig`: vision encoder, prompt encoder and mask decoder.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    /// The image encoder.
    pub vision_config: VisionConfig,
    /// The prompt encoder.
    pub prompt_encoder_config: PromptEncoderConfig,
    /// The mask decoder.
    pub mask_decoder_config: MaskDecoderConfig,
}

impl Config {
    /// SAM ViT-B (`facebook/sam-vit-base`).
    pub fn vit_b() -> Self {
        Self::default()
    }

    /// SAM ViT-L (`facebook/sam-vit-large`).
    pub fn vit_l() -> Self {
        Self {
            vision_config: VisionConfig {
                hidden_size: 1024,
                num_hidden_layers: 24,
                num_attention_heads: 16,
                global_attn_indexes: vec![5, 11, 17, 23],
                ..VisionConfig::default()
            },
            ..Self::default()
        }
    }

    /// SAM ViT-H (`facebook/sam-vit-huge`).
    pub fn vit_h() -> Self {
        Self {
            vision_config: VisionConfig {
                hidden_size: 1280,
                num_hidden_layers: 32,
                num_attention_heads: 16,
                global_attn_indexes: vec![7, 15, 23, 31],
                ..VisionConfig::default()
            },
            ..Self::default()
        }
    }

    /// Parses a `sam` `config.json` object and checks that its parts fit together.
    pub fn from_json(config: &Map<String, Value>, path: &Path) -> Result<Self> {
        let c: Self = serde_json::from_value(Value::Object(config.clone()))
            .map_err(|e| Error::config(path, format!("config: {e}")))?;
        let v = &c.vision_config;
        check_heads(path, "vision_config", v.hidden_size, v.num_attention_heads)?;
        if v.patch_size < 1 || v.image_size % v.patch_size != 0 {
            return Err(Error::config(
                path,
                format!(
                    "vision_config: image_size {} is not a multiple of patch_size {}",
                    v.image_size, v.patch_size
                ),
            ));
        }
        if v.window_size < 1 && v.global_attn_indexes.len() < v.num_hidden_layers {
            return Err(Error::config(
                path,
                "vision_config: window_size must be at least 1",
            ));
        }
        check_head(path, &c.prompt_encoder_config, &c.mask_decoder_config)?;
        if v.output_channels != c.prompt_encoder_config.hidden_size
            || 2 * v.num_pos_feats != c.prompt_encoder_config.hidden_size
            || v.grid() != c.prompt_encoder_config.embedding_size()
        {
            return Err(Error::config(
                path,
                format!(
                    "vision_config (output_channels {}, 2·num_pos_feats {}, grid {}) does not fit \
                     prompt_encoder_config (hidden_size {}, embedding {})",
                    v.output_channels,
                    2 * v.num_pos_feats,
                    v.grid(),
                    c.prompt_encoder_config.hidden_size,
                    c.prompt_encoder_config.embedding_size()
                ),
            ));
        }
        Ok(c)
    }
}

fn check_heads(path: &Path, part: &str, width: i64, heads: i64) -> Result<()> {
    if heads < 1 || width % heads != 0 {
        return Err(Error::config(
            path,
            format!("{part}: hidden_size {width} is not divisible by num_attention_heads {heads}"),
        ));
    }
    Ok(())
}

/// Checks the prompt encoder and mask decoder configurations (shared by SAM and LiteMedSAM).
pub fn check_head(path: &Path, p: &PromptEncoderConfig, d: &MaskDecoderConfig) -> Result<()> {
    if d.hidden_act != "relu" {
        return Err(Error::config(
            path,
            format!(
                "mask_decoder_config: hidden_act `{}` is not supported (SAM uses relu)",
                d.hidden_act
            ),
        ));
    }
    check_heads(
        path,
        "mask_decoder_config",
        d.hidden_size,
        d.num_attention_heads,
    )?;
    let internal = d.hidden_size / d.attention_downsample_rate.max(1);
    check_heads(
        path,
        "mask_decoder_config (downsampled)",
        internal,
        d.num_attention_heads,
    )?;
    if d.hidden_size % 8 != 0 || d.iou_head_depth < 2 {
        return Err(Error::config(
            path,
            "mask_decoder_config: hidden_size must be a multiple of 8 and iou_head_depth at least 2",
        ));
    }
    if p.hidden_size != d.hidden_size || p.mask_input_channels % 4 != 0 || p.patch_size < 1 {
        return Err(Error::config(
            path,
            format!(
                "prompt_encoder_config: hidden_size {} must equal the decoder's {}, \
                 mask_input_channels {} be a multiple of 4",
                p.hidden_size, d.hidden_size, p.mask_input_channels
            ),
        ));
    }
    Ok(())
}
