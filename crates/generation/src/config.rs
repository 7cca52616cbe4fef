//! The generation experiment file (`experiments/generation_*.toml`): a grid of runs over one base
//! MMDiT. Its own fields ([`Fields`]) sit beside the ones every experiment file has
//! ([`runner::GridSection`]: `model_dir` is the MMDiT directory, diffusers' `config.json` +
//! `diffusion_pytorch_model.safetensors`); the fully resolved [`RunSpec`] of one run is written to
//! its `config.json` (with `backbone`, `model_dir`, `method`, `rank` for `analysis svd`).
//!
//! `pretrain` runs train the model in `model_dir` (only its `config.json` is read) from a random
//! initialisation on every class but `held_out`; every other method starts from the weights in
//! `model_dir` and personalises it on `instance_images` images of `held_out` with
//! `instance_prompt` (DreamBooth).

use std::path::PathBuf;

use anyhow::{bail, Result};
use formats::check::Checks;
use formats::{AdapterConfig, Method, OptimConfig, Precision};
use runner::{Coords, GridContext, GridSection, Overrides, RunPoint, Stage};
use serde::{Deserialize, Serialize};

use crate::flow::FlowSection;
use crate::prior::PriorSection;
use crate::sampling::SamplingSection;

/// The generation experiment file: every seed × method × rank is one run.
pub type Experiment = runner::ExperimentFile<Fields>;

/// The generation fields of an experiment file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Fields {
    /// The BERT/MiniLM text encoder directory (`config.json`, `model.safetensors`,
    /// `tokenizer.json`); not used when `model_dir` is an SD3 pipeline folder (its CLIP pair
    /// encodes the prompts, [`crate::models`]).
    #[serde(default)]
    pub text_encoder: Option<PathBuf>,
    /// The DINOv2 directory whose features FD and KID compare.
    pub feature_model: PathBuf,
    /// The data set (`fashion-mnist`, or `folder:<dir>` of instance images).
    pub dataset: String,
    /// Side of the square images (required for `folder:`; Fashion-MNIST is 28).
    #[serde(default)]
    pub resolution: Option<i64>,
    /// The class left out of pre-training and personalised (a class name of the data set).
    pub held_out: String,
    /// The class prompt, `{}` replaced by the lower-case class name.
    pub class_prompt: String,
    /// The instance prompt of personalisation, with its rare token (e.g. `a photo of a sks boot`).
    pub instance_prompt: String,
    /// Instance images of `held_out` the personalisation sees (taken from the train split).
    pub instance_images: usize,
    /// Text tokens per prompt (padded or truncated).
    pub max_tokens: usize,
    /// Training steps per run.
    pub iters: usize,
    /// Images per step (instance images, or pre-training images).
    pub batch_size: usize,
    /// The flow-matching objective.
    #[serde(default)]
    pub flow: FlowSection,
    /// Keep a moving average of the trained weights with this decay ceiling and sample, score
    /// and save it instead of the last weights (DiT/SD3 practice; [`runner::ema::Ema`]); none
    /// when absent.
    #[serde(default)]
    pub ema_decay: Option<f64>,
    /// Prior preservation (DreamBooth's class images), if used.
    #[serde(default)]
    pub prior: Option<PriorSection>,
    /// Sampling and evaluation.
    pub sampling: SamplingSection,
}

/// One fully resolved run, written as its `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Base model name.
    pub backbone: String,
    /// The MMDiT directory (relative to the repository root when inside it).
    pub model_dir: PathBuf,
    /// The text encoder directory (absent with an SD3 pipeline folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_encoder: Option<PathBuf>,
    /// The feature model of FD and KID.
    pub feature_model: PathBuf,
    /// Data set.
    pub dataset: String,
    /// Image side (absent: the data set's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<i64>,
    /// The held-out (personalised) class.
    pub held_out: String,
    /// Class prompt template.
    pub class_prompt: String,
    /// Instance prompt.
    pub instance_prompt: String,
    /// Instance images.
    pub instance_images: usize,
    /// Text tokens per prompt.
    pub max_tokens: usize,
    /// Seed.
    pub seed: u64,
    /// Method.
    pub method: Method,
    /// Rank (0 without adapters).
    pub rank: i64,
    /// Training steps.
    pub iters: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Checkpoint interval.
    pub checkpoint_every: usize,
    /// The flow-matching objective.
    pub flow: FlowSection,
    /// Decay ceiling of the moving average of the weights (absent: none is kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ema_decay: Option<f64>,
    /// Prior preservation.
    pub prior: Option<PriorSection>,
    /// Sampling and evaluation.
    pub sampling: SamplingSection,
    /// A selection run: the share of the instance images held out and scored by their
    /// flow-matching loss (absent for the grid's runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_fraction: Option<f64>,
    /// The adapter (absent for `pretrain`, `full`, `zero_shot`).
    pub adapter: Option<AdapterConfig>,
    /// Optimiser and schedule.
    pub optim: OptimConfig,
    /// Arithmetic of the run (absent from `config.json` when fp32).
    #[serde(default, skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

impl RunSpec {
    /// The class prompt of `class` (lower-cased).
    pub fn prompt_of(&self, class: &str) -> String {
        self.class_prompt.replace("{}", &class.to_lowercase())
    }
}

impl runner::TaskFields for Fields {
    type Spec = RunSpec;
    const CHECKPOINT_EVERY: usize = 100;

    fn check(&self, grid: &GridSection, checks: &mut Checks) -> Result<()> {
        if let Some(m) = grid.methods.iter().find(|m| **m == Method::Probe) {
            bail!("field `methods`: `{m}` has no meaning for generation");
        }
        if !self.class_prompt.contains("{}") {
            bail!(
                "field `class_prompt`: `{}` has no `{{}}` for the class name",
                self.class_prompt
            );
        }
        if self.dataset.is_empty() {
            checks.problem("field `dataset` is empty");
        }
        checks
            .at_least("instance_images", self.instance_images, 2)
            .at_least("max_tokens", self.max_tokens, 2)
            .at_least("batch_size", self.batch_size, 1);
        self.flow.check(checks);
        if let Some(decay) = self.ema_decay {
            checks
                .positive("ema_decay", decay)
                .half_open("ema_decay", decay, 0.0, 1.0);
        }
        if let Some(prior) = &self.prior {
            prior.check(checks);
        }
        self.sampling.check(checks);
        if let Some(select) = &grid.select {
            select.check_fraction_only(checks);
        }
        Ok(())
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(i) = o.iters {
            self.iters = i;
        }
        if let Some(d) = &o.dataset {
            self.dataset = d.clone();
        }
    }

    /// The grid's runs in seed → method → rank order (`zero_shot` once, at the first seed, since
    /// it trains nothing), or the selection's candidates.
    fn runs(&self, ctx: &GridContext, stage: Stage) -> Result<Vec<RunSpec>> {
        ctx.expand(
            &self.dataset,
            stage,
            |p| p.method != Method::ZeroShot || p.seed_index == 0,
            |p| self.run(ctx, p),
        )
    }
}

impl runner::RunSpec for RunSpec {
    fn backbone(&self) -> &str {
        &self.backbone
    }

    fn coords(&self) -> Coords {
        Coords {
            dataset: self.dataset.clone(),
            method: self.method,
            rank: self.rank,
            seed: self.seed,
            shots: None,
        }
    }

    fn steps(&self) -> usize {
        if self.method.trains() {
            self.iters
        } else {
            0
        }
    }

    fn checkpoint_every(&self) -> usize {
        self.checkpoint_every
    }

    fn optim(&self) -> &OptimConfig {
        &self.optim
    }

    fn precision(&self) -> Precision {
        self.precision
    }

    fn ema_decay(&self) -> Option<f64> {
        self.ema_decay
    }

    fn scores_validation(&self) -> bool {
        self.validation_fraction.is_some()
    }
}

impl Fields {
    /// The run at `p`, with its learning rate and λ in place of the file's when chosen, a selection
    /// run when it holds a validation share.
    fn run(&self, ctx: &GridContext, p: RunPoint) -> Result<RunSpec> {
        let (adapter, optim) = ctx
            .grid
            .sections(p.method, p.rank, p.hyper, self.iters.max(1))?;
        Ok(RunSpec {
            precision: ctx.grid.precision,
            backbone: ctx.grid.backbone.clone(),
            model_dir: ctx.model_dir(),
            text_encoder: self.text_encoder.as_deref().map(|t| ctx.portable(t)),
            feature_model: ctx.portable(&self.feature_model),
            dataset: self.dataset.clone(),
            resolution: self.resolution,
            held_out: self.held_out.clone(),
            class_prompt: self.class_prompt.clone(),
            instance_prompt: self.instance_prompt.clone(),
            instance_images: self.instance_images,
            max_tokens: self.max_tokens,
            seed: p.seed,
            method: p.method,
            rank: p.rank,
            iters: if p.method.trains() { self.iters } else { 0 },
            batch_size: self.batch_size,
            checkpoint_every: ctx.checkpoint_every,
            flow: self.flow.clone(),
            ema_decay: self.ema_decay,
            prior: self.prior.clone(),
            sampling: self.sampling.clone(),
            validation_fraction: p.validation_fraction,
            adapter,
            optim,
        })
    }
}
