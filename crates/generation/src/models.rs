//! Where a run's models are: `model_dir` is either an MMDiT folder (the tiny default: pixel space,
//! conditioned by the BERT/MiniLM `text_encoder`) or a diffusers Stable Diffusion 3 pipeline folder
//! (`transformer/`, `vae/`, `text_encoder/` + `tokenizer/` (CLIP-L), `text_encoder_2/` +
//! `tokenizer_2/` (CLIP-G); T5 is replaced by zeros, as the pipeline allows).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// The pipeline folder's transformer sub-folder.
const TRANSFORMER: &str = "transformer";

/// How prompts are encoded.
#[derive(Debug, Clone, PartialEq)]
pub enum TextSource {
    /// A BERT/MiniLM folder (`config.json`, `model.safetensors`, `tokenizer.json`).
    Bert(PathBuf),
    /// SD3's two CLIP text encoders of a pipeline folder.
    Sd3Clip(PathBuf),
}

/// The folders a run loads.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPaths {
    /// The `SD3Transformer2DModel` folder.
    pub transformer: PathBuf,
    /// The text conditioning.
    pub text: TextSource,
    /// The `AutoencoderKL` folder, when the model works in a VAE's latent space.
    pub vae: Option<PathBuf>,
}

impl ModelPaths {
    /// The folders of `model_dir` (a pipeline folder when it has `transformer/config.json`) and
    /// `text_encoder` (required, and only used, without a pipeline folder).
    pub fn locate(model_dir: &Path, text_encoder: Option<&Path>) -> Result<Self> {
        if model_dir
            .join(TRANSFORMER)
            .join(zoo::model::CONFIG_FILE)
            .is_file()
        {
            return Ok(Self {
                transformer: model_dir.join(TRANSFORMER),
                text: TextSource::Sd3Clip(model_dir.to_path_buf()),
                vae: Some(model_dir.join("vae")),
            });
        }
        let Some(text_encoder) = text_encoder else {
            bail!(
                "field `text_encoder` is missing: {} is an MMDiT folder, not an SD3 pipeline \
                 folder (with transformer/, vae/, text_encoder/, text_encoder_2/), so it needs a \
                 BERT text encoder",
                model_dir.display()
            );
        };
        Ok(Self {
            transformer: model_dir.to_path_buf(),
            text: TextSource::Bert(text_encoder.to_path_buf()),
            vae: None,
        })
    }
}
