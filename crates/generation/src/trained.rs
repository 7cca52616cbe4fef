//! A finished generation run opened for sampling (`generation sample`, `generation calibrate`):
//! the model the run ends with — a `pretrain` run's saved model (its moving average when it kept
//! one), the base in `model_dir` with the run's adapter, or the base alone for `zero_shot` — with
//! the run's text encoder, image space, time shift and sampling settings.

use std::path::Path;

use anyhow::{bail, Context, Result};
use formats::paths::{repo_root, resolve};
use formats::run::{read_json, CONFIG_FILE, SUMMARY_FILE};
use formats::Method;
use serial_lora::ADAPTER_WEIGHTS;
use tch::{Device, Tensor};
use zoo::{Loaded, Model};

use crate::base::MODEL_FOLDER;
use crate::config::RunSpec;
use crate::models::ModelPaths;
use crate::prompts::Conditioning;
use crate::sampling::{Sampler, SamplingSection};
use crate::space::ImageSpace;

/// The `config.json` of the finished generation run in `run_dir` (refused unless it finished).
pub fn finished_spec(run_dir: &Path) -> Result<RunSpec> {
    if !run_dir.join(SUMMARY_FILE).is_file() {
        bail!(
            "{} is not a finished generation run (no {SUMMARY_FILE})",
            run_dir.display()
        );
    }
    Ok(read_json(&run_dir.join(CONFIG_FILE))?)
}

/// A finished run's model, ready to sample.
pub struct TrainedRun {
    /// The run's `config.json`.
    pub spec: RunSpec,
    loaded: Loaded,
    conditioning: Conditioning,
    space: ImageSpace,
    shape: [i64; 3],
}

impl TrainedRun {
    /// Opens the finished run in `run_dir` on `device`, encoding `prompts` (the empty prompt is
    /// always encoded too). Refuses a folder that is not a finished generation run, a `full`
    /// run (it keeps no weights) and an adapter run without its adapter file.
    pub fn open(run_dir: &Path, prompts: &[String], device: Device) -> Result<Self> {
        let spec = finished_spec(run_dir)?;
        let root = repo_root();
        let text_encoder = spec.text_encoder.as_ref().map(|t| resolve(t, &root));
        let paths = ModelPaths::locate(&resolve(&spec.model_dir, &root), text_encoder.as_deref())?;
        let (transformer, adapter) = match spec.method {
            Method::Pretrain => (run_dir.join(MODEL_FOLDER), None),
            Method::Full => bail!(
                "{}: a full fine-tuning run keeps no weights; sample a pretrain, zero_shot or \
                 adapter run",
                run_dir.display()
            ),
            _ if spec.adapter.is_some() => {
                let weights = run_dir.join(ADAPTER_WEIGHTS);
                if !weights.is_file() {
                    bail!("{}: no adapter file", weights.display());
                }
                (paths.transformer.clone(), Some(run_dir))
            }
            _ => (paths.transformer.clone(), None),
        };
        let loaded = zoo::load(&transformer, adapter, device)
            .with_context(|| format!("loading {}", transformer.display()))?;
        let Model::Sd3Transformer(model) = &loaded.model else {
            bail!("{}: not an SD3 transformer", transformer.display());
        };
        let config = model.config.clone();
        let conditioning =
            Conditioning::encode(&paths.text, prompts, spec.max_tokens, &config, device)?;
        let space = ImageSpace::new(paths.vae.as_deref(), device)?;
        let shape = match &paths.vae {
            None => {
                let side = spec.resolution.unwrap_or(config.sample_size);
                [config.in_channels, side, side]
            }
            Some(_) => {
                let side = spec.resolution.unwrap_or(config.sample_size * 8);
                space.shape([3, side, side])
            }
        };
        Ok(Self {
            spec,
            loaded,
            conditioning,
            space,
            shape,
        })
    }

    /// `n` images `[n, C, H, W]` in `[−1, 1]` (CPU) of `prompt` (one of the encoded prompts), drawn
    /// with `section`'s steps, guidance and batch; image `i` starts from the noise of seed
    /// `first_seed + i`.
    pub fn generate(
        &self,
        prompt: &str,
        n: usize,
        first_seed: u64,
        section: &SamplingSection,
    ) -> Result<Tensor> {
        let Model::Sd3Transformer(model) = &self.loaded.model else {
            unreachable!("checked in open")
        };
        let sampler = Sampler {
            model,
            conditioning: &self.conditioning,
            scheduler: self.spec.flow.scheduler(),
            shape: self.shape,
            section,
        };
        let row = self.conditioning.index(prompt)?;
        Ok(self.space.decode(&sampler.generate(row, n, first_seed)))
    }
}
