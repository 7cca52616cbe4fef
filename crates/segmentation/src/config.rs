//! The segmentation experiment file (`experiments/segmentation_*.toml`): its own fields
//! ([`Fields`]) beside the ones every experiment file has ([`runner::GridSection`]), and the fully
//! resolved [`RunSpec`] of one run that is written to its `config.json` (with `backbone`,
//! `model_dir`, `method`, `rank` for `analysis svd`). `prompt` picks the protocol: box prompts per instance (the default) or
//! SAMed's prompt-free semantic mask ([`Prompt`]).

use std::path::PathBuf;

use anyhow::{bail, Result};
use formats::check::Checks;
use formats::{AdapterConfig, Method, OptimConfig, Precision};
use runner::{Coords, GridContext, GridSection, Overrides, RunPoint, Stage};
use serde::{Deserialize, Serialize};

/// How pixels are scaled before the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// `v / max(255, max v)` to `[0, 1]`, grey repeated to RGB (LiteMedSAM's preprocessing).
    Unit,
    /// As `unit`, then ImageNet mean/std (transformers' `SamImageProcessor`).
    Imagenet,
}

/// What the mask decoder is given, and so what it learns to predict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Prompt {
    /// `box`: one box prompt per instance; the target is that instance's mask, scored per instance.
    #[default]
    #[serde(rename = "box")]
    Box,
    /// `none`: SAMed's prompt-free mode. No point or box (sparse embeddings empty, dense the
    /// prompt encoder's `no_mask_embed` everywhere, as transformers' `SamPromptEncoder` and
    /// segment_anything do with `points=None, boxes=None`); the target is the semantic mask (the
    /// union of every instance in the crop), scored per test tile. Needs `train_decoder = true`;
    /// `boxes_per_step` does not apply and is refused.
    #[serde(rename = "none")]
    Free,
}

impl Prompt {
    /// Whether this is the default box mode (left out of `config.json`, so the box runs' files are
    /// unchanged by the field's arrival).
    pub fn is_box(&self) -> bool {
        *self == Prompt::Box
    }
}

/// The segmentation experiment file: every seed × method × rank is one run.
pub type Experiment = runner::ExperimentFile<Fields>;

/// The segmentation fields of an experiment file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Fields {
    /// `stardist` (the packaged nuclei image), `folder:<path>` (`images/` + `masks/`) or `camvid`
    /// (multi-class street scenes under `data_root`: SAMed's multi-class protocol, [`is_multiclass`]).
    pub dataset: String,
    /// The folder holding `camvid/` (or CamVid's `train/`, `val/`, `test/` itself), if any
    /// (`--data-root`; make: `CAMVID=DIR`). Never written to a run's `config.json`.
    #[serde(default)]
    pub data_root: Option<PathBuf>,
    /// The encoder's input size when not the model's own (LiteMedSAM only; multi-class only).
    #[serde(default)]
    pub image_size: Option<i64>,
    /// Training steps per run (one image crop per step).
    pub iters: usize,
    /// `box` (default) or `none` (prompt-free semantic masks).
    #[serde(default)]
    pub prompt: Prompt,
    /// Box prompts (instances) per step, at most: required with `prompt = "box"`, refused with
    /// `prompt = "none"`.
    #[serde(default)]
    pub boxes_per_step: Option<usize>,
    /// Pixel scaling.
    pub normalize: Normalize,
    /// Train the mask decoder fully (else it stays frozen); must be true with `prompt = "none"`.
    #[serde(default)]
    pub train_decoder: bool,
}

/// One fully resolved run, written as its `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Backbone name.
    pub backbone: String,
    /// Model directory (relative to the repository root when inside it).
    pub model_dir: PathBuf,
    /// Data set.
    pub dataset: String,
    /// The data root (never written to `config.json`: the data set's name identifies the data).
    #[serde(default, skip_serializing)]
    pub data_root: Option<PathBuf>,
    /// The encoder's input size, when not the model's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<i64>,
    /// Seed.
    pub seed: u64,
    /// Method.
    pub method: Method,
    /// Rank (0 without an adapter).
    pub rank: i64,
    /// Training steps.
    pub iters: usize,
    /// Box prompts or prompt-free (absent: box, as in the runs made before the field existed).
    #[serde(default, skip_serializing_if = "Prompt::is_box")]
    pub prompt: Prompt,
    /// Box prompts per step (absent when prompt-free).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boxes_per_step: Option<usize>,
    /// Pixel scaling.
    pub normalize: Normalize,
    /// Whether the mask decoder trains.
    pub train_decoder: bool,
    /// Checkpoint interval.
    pub checkpoint_every: usize,
    /// Loss: `dice_weight · Dice + (1 − dice_weight) · BCE` (multi-class: cross-entropy).
    pub dice_weight: f64,
    /// A selection run: the share of the training half's columns scored instead of the test half
    /// (absent for the grid's runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_fraction: Option<f64>,
    /// The adapter (none for `probe`: the mask decoder alone trains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<AdapterConfig>,
    /// Optimiser and schedule.
    pub optim: OptimConfig,
    /// Arithmetic of the run (absent from `config.json` when fp32).
    #[serde(default, skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

/// Whether `dataset` is a multi-class scene data set (SAMed's multi-class protocol).
pub fn is_multiclass(dataset: &str) -> bool {
    dataset == data::CAMVID
}

impl RunSpec {
    /// Whether the run segments several classes at once ([`is_multiclass`]).
    pub fn multiclass(&self) -> bool {
        is_multiclass(&self.dataset)
    }
}

impl runner::TaskFields for Fields {
    type Spec = RunSpec;
    const CHECKPOINT_EVERY: usize = 25;

    fn check(&self, grid: &GridSection, checks: &mut Checks) -> Result<()> {
        let multiclass = is_multiclass(&self.dataset);
        let allowed = |m: &Method| m.has_adapter() || (multiclass && *m == Method::Probe);
        if let Some(m) = grid.methods.iter().find(|m| !allowed(m)) {
            bail!("field `methods`: `{m}` is not an adapter method (lora, serial_lora, lora_plus, serial_lora_plus; probe, the decoder alone, with camvid)");
        }
        self.check_prompt()?;
        self.check_multiclass()?;
        if self.dataset.is_empty() {
            checks.problem("field `dataset` is empty");
        }
        checks.at_least("iters", self.iters, 1);
        if let Some(b) = self.boxes_per_step {
            checks.at_least("boxes_per_step", b, 1);
        }
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
        if o.data_root.is_some() {
            self.data_root = o.data_root.clone();
        }
    }

    fn runs(&self, ctx: &GridContext, stage: Stage) -> Result<Vec<RunSpec>> {
        ctx.expand(&self.dataset, stage, |_| true, |p| self.run(ctx, p))
    }
}

impl runner::RunSpec for RunSpec {
    fn backbone(&self) -> &str {
        &self.backbone
    }

    fn name_suffix(&self) -> &str {
        if self.train_decoder {
            "_dec"
        } else {
            ""
        }
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
        self.iters
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

    fn scores_validation(&self) -> bool {
        self.validation_fraction.is_some()
    }
}

impl Fields {
    /// The fields that depend on `prompt`: `boxes_per_step` only with boxes, and a trained
    /// decoder without prompts (the untrained decoder has never been asked for a semantic mask).
    fn check_prompt(&self) -> Result<()> {
        match (self.prompt, self.boxes_per_step) {
            (Prompt::Box, None) => {
                bail!("field `boxes_per_step` is missing (required with prompt = \"box\")")
            }
            (Prompt::Free, Some(_)) => bail!(
                "field `boxes_per_step`: prompt = \"none\" uses no box prompts; remove the field"
            ),
            (Prompt::Free, None) if !self.train_decoder => bail!(
                "field `train_decoder`: prompt = \"none\" trains the mask decoder (SAMed); set \
                 train_decoder = true"
            ),
            _ => Ok(()),
        }
    }

    /// The multi-class fields: `camvid` needs the prompt-free, decoder-training protocol and
    /// `image_size` applies to it only.
    fn check_multiclass(&self) -> Result<()> {
        if !is_multiclass(&self.dataset) {
            if self.image_size.is_some() {
                bail!("field `image_size`: applies to the multi-class data set camvid only");
            }
            return Ok(());
        }
        if self.prompt != Prompt::Free {
            bail!("field `prompt`: camvid is segmented without prompts (SAMed); set prompt = \"none\"");
        }
        Ok(())
    }

    /// The run at `p`, with its learning rate and λ in place of the file's when chosen, a selection
    /// run when it holds a validation share.
    fn run(&self, ctx: &GridContext, p: RunPoint) -> Result<RunSpec> {
        let (adapter, optim) = ctx.grid.sections(p.method, p.rank, p.hyper, self.iters)?;
        Ok(RunSpec {
            precision: ctx.grid.precision,
            backbone: ctx.grid.backbone.clone(),
            model_dir: ctx.model_dir(),
            dataset: self.dataset.clone(),
            data_root: self.data_root.as_deref().map(|d| ctx.portable(d)),
            image_size: self.image_size,
            seed: p.seed,
            method: p.method,
            rank: p.rank,
            iters: self.iters,
            prompt: self.prompt,
            boxes_per_step: self.boxes_per_step,
            normalize: self.normalize,
            train_decoder: self.train_decoder,
            checkpoint_every: ctx.checkpoint_every,
            dice_weight: 0.8,
            validation_fraction: p.validation_fraction,
            adapter,
            optim,
        })
    }
}
