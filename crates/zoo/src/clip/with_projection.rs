//! transformers' `CLIPTextModelWithProjection` (Stable Diffusion 3's `text_encoder` and
//! `text_encoder_2`): the text tower under `text_model.` and a bias-free `text_projection` of its
//! pooled state (`text_embeds`).

use std::path::Path;

use serial_lora::{ModelStore, SitePath};
use tch::{nn, nn::Module, Device, Tensor};

use super::config::TextConfig;
use super::text::{TextOutput, TextTransformer};
use crate::error::{Error, Result};
use crate::model::{Architecture, WEIGHTS_FILE};

/// The text tower and its projection (checkpoint names `text_model.*`, `text_projection.weight`).
#[derive(Debug)]
pub struct TextModelWithProjection {
    /// The text tower.
    pub text_model: TextTransformer,
    text_projection: nn::Linear,
}

impl TextModelWithProjection {
    /// Builds the model at `p` (the checkpoint root).
    pub fn new(p: &SitePath, c: &TextConfig) -> Result<Self> {
        let no_bias = nn::LinearConfig {
            bias: false,
            ..Default::default()
        };
        Ok(Self {
            text_model: TextTransformer::new(&(p / "text_model"), c)?,
            text_projection: nn::linear(
                p.base() / "text_projection",
                c.hidden_size,
                c.projection_dim,
                no_bias,
            ),
        })
    }

    /// Loads a transformers folder (`config.json` with `model_type: clip_text_model`,
    /// `model.safetensors`) on `device`, without adapters.
    pub fn load(dir: &Path, device: Device) -> Result<(ModelStore, Self)> {
        let Architecture::ClipText(config) = Architecture::from_dir(dir)? else {
            return Err(Error::config(
                dir.join(crate::model::CONFIG_FILE),
                "field `model_type`: CLIPTextModelWithProjection needs `clip_text_model`",
            ));
        };
        let (store, model) = ModelStore::build(device, None, |p| {
            Self::new(p, &config).map_err(|e| serial_lora::Error::config("model", e.to_string()))
        })?;
        crate::checkpoint::load_base(
            &store,
            &dir.join(WEIGHTS_FILE),
            |k| k.to_string(),
            |k| k.ends_with("embeddings.position_ids"),
        )?;
        Ok((store, model))
    }

    /// The tower's outputs and `text_embeds` `[B, projection_dim]` (the projected pooled state).
    pub fn forward_t(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        train: bool,
    ) -> (TextOutput, Tensor) {
        let out = self.text_model.forward_t(input_ids, attention_mask, train);
        let text_embeds = self.text_projection.forward(&out.pooler_output);
        (out, text_embeds)
    }
}
