//! The experiment file (`experiments/*.toml`): a grid of runs, and the fully resolved [`RunSpec`]
//! of one run that is written to its `config.json` (with `backbone`, `model_dir`, `method`, `rank`
//! for `analysis svd`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serial_lora::{AdapterConfig, Method as AdapterMethod, OptimConfig, ScaleRule, Target};

/// How a run adapts the image encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// LoRA on the configured targets (SAMed: q, v slices of the fused qkv).
    Lora,
    /// Serial LoRA: one shared pair before qkv per block.
    SerialLora,
    /// LoRA with B at `lr·λ`.
    LoraPlus,
    /// Serial LoRA with B at `lr·λ`.
    SerialLoraPlus,
}

impl Method {
    /// The name used in folder names, tables and `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lora => "lora",
            Self::SerialLora => "serial_lora",
            Self::LoraPlus => "lora_plus",
            Self::SerialLoraPlus => "serial_lora_plus",
        }
    }
}

/// How pixels are scaled before the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// `v / max(255, max v)` to `[0, 1]`, grey repeated to RGB (LiteMedSAM's preprocessing).
    Unit,
    /// As `unit`, then ImageNet mean/std (transformers' `SamImageProcessor`).
    Imagenet,
}

/// `[adapter]`: shared by every run of the grid (method and rank come from the grid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterSection {
    /// `alpha` of the scale rule.
    pub alpha: f64,
    /// Scale rule.
    #[serde(default)]
    pub scaling: ScaleRule,
    /// Dropout on the adapter input.
    #[serde(default)]
    pub dropout: f64,
    /// LoRA targets: `["q", "v"]` (SAMed) or `["q", "k", "v", "o"]`.
    pub targets: Vec<Target>,
    /// λ of the `+` variants.
    pub plus_ratio: f64,
}

/// `[optim]`: AdamW with warm-up and cosine decay over the run's steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimSection {
    /// Peak learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Warm-up steps.
    #[serde(default)]
    pub warmup_steps: usize,
    /// Final learning rate.
    #[serde(default)]
    pub min_lr: f64,
    /// Gradient-norm clipping.
    #[serde(default)]
    pub grad_clip: Option<f64>,
}

/// The experiment file: every (seed, method, rank) is one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Name of the backbone in reports (e.g. `litemedsam`, `sam-vit-b`).
    pub backbone: String,
    /// Model directory (`config.json` + `model.safetensors`); relative to the workspace root.
    pub model_dir: PathBuf,
    /// `stardist` (the packaged nuclei image) or `folder:<path>` (`images/` + `masks/`).
    pub dataset: String,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Methods.
    pub methods: Vec<Method>,
    /// Ranks.
    pub ranks: Vec<i64>,
    /// Training steps per run (one image crop per step).
    pub iters: usize,
    /// Box prompts (instances) per step, at most.
    pub boxes_per_step: usize,
    /// Pixel scaling.
    pub normalize: Normalize,
    /// Train the mask decoder fully (else it stays frozen).
    #[serde(default)]
    pub train_decoder: bool,
    /// Save a resumable checkpoint every this many steps.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
    /// Adapter settings.
    pub adapter: AdapterSection,
    /// Optimiser settings.
    pub optim: OptimSection,
}

fn default_checkpoint_every() -> usize {
    25
}

/// One fully resolved run, written as its `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Backbone name.
    pub backbone: String,
    /// Model directory (absolute).
    pub model_dir: PathBuf,
    /// Data set.
    pub dataset: String,
    /// Seed.
    pub seed: u64,
    /// Method.
    pub method: Method,
    /// Rank.
    pub rank: i64,
    /// Training steps.
    pub iters: usize,
    /// Box prompts per step.
    pub boxes_per_step: usize,
    /// Pixel scaling.
    pub normalize: Normalize,
    /// Whether the mask decoder trains.
    pub train_decoder: bool,
    /// Checkpoint interval.
    pub checkpoint_every: usize,
    /// Loss: `dice_weight · Dice + (1 − dice_weight) · BCE`.
    pub dice_weight: f64,
    /// The adapter.
    pub adapter: AdapterConfig,
    /// Optimiser and schedule.
    pub optim: OptimConfig,
}

impl RunSpec {
    /// The run folder name: every grid coordinate, so a rerun resumes the same folder.
    pub fn name(&self) -> String {
        let dataset = self
            .dataset
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_");
        let decoder = if self.train_decoder { "_dec" } else { "" };
        format!(
            "{}_{dataset}_{}_r{}_seed{}{decoder}",
            self.backbone,
            self.method.name(),
            self.rank,
            self.seed
        )
    }
}

/// Narrowing of the grid from the command line (each replaces its list by one value).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// One method.
    pub method: Option<Method>,
    /// One rank.
    pub rank: Option<i64>,
    /// One seed.
    pub seed: Option<u64>,
    /// Steps.
    pub iters: Option<usize>,
    /// Model directory.
    pub model_dir: Option<PathBuf>,
    /// Backbone name.
    pub backbone: Option<String>,
    /// Data set.
    pub dataset: Option<String>,
    /// Train the mask decoder.
    pub train_decoder: Option<bool>,
}

impl Experiment {
    /// Reads and validates an experiment file; errors name the file and field.
    pub fn from_file(path: &Path) -> Result<Self> {
        runner::read_experiment(path, Self::validate)
    }

    fn validate(&self) -> Result<()> {
        runner::require_non_empty(&[
            ("seeds", self.seeds.is_empty()),
            ("methods", self.methods.is_empty()),
            ("ranks", self.ranks.is_empty()),
        ])?;
        if self.iters == 0 || self.boxes_per_step == 0 || self.checkpoint_every == 0 {
            bail!("fields `iters`, `boxes_per_step` and `checkpoint_every` must be positive");
        }
        Ok(())
    }

    /// Applies command-line overrides.
    pub fn narrow(mut self, o: &Overrides) -> Self {
        if let Some(m) = o.method {
            self.methods = vec![m];
        }
        if let Some(r) = o.rank {
            self.ranks = vec![r];
        }
        if let Some(s) = o.seed {
            self.seeds = vec![s];
        }
        if let Some(i) = o.iters {
            self.iters = i;
        }
        if let Some(m) = &o.model_dir {
            self.model_dir = m.clone();
        }
        if let Some(b) = &o.backbone {
            self.backbone = b.clone();
        }
        if let Some(d) = &o.dataset {
            self.dataset = d.clone();
        }
        if let Some(t) = o.train_decoder {
            self.train_decoder = t;
        }
        self
    }

    fn adapter(&self, method: Method, rank: i64) -> AdapterConfig {
        let (kind, plus) = match method {
            Method::Lora => (AdapterMethod::Lora, false),
            Method::LoraPlus => (AdapterMethod::Lora, true),
            Method::SerialLora => (AdapterMethod::SerialLora, false),
            Method::SerialLoraPlus => (AdapterMethod::SerialLora, true),
        };
        let a = &self.adapter;
        AdapterConfig {
            method: kind,
            rank,
            alpha: a.alpha,
            scaling: a.scaling,
            dropout: a.dropout,
            targets: a.targets.clone(),
            lr_ratio: if plus { a.plus_ratio } else { 1.0 },
            blocks: None,
        }
    }

    /// Every run, in seed → method → rank order; `root` resolves relative paths.
    pub fn runs(&self, root: &Path) -> Result<Vec<RunSpec>> {
        let mut runs = Vec::new();
        for &seed in &self.seeds {
            for &method in &self.methods {
                for &rank in &self.ranks {
                    runs.push(self.run(seed, method, rank, root)?);
                }
            }
        }
        Ok(runs)
    }

    fn run(&self, seed: u64, method: Method, rank: i64, root: &Path) -> Result<RunSpec> {
        let adapter = self.adapter(method, rank);
        adapter
            .validate()
            .with_context(|| format!("adapter of {} at rank {rank}", method.name()))?;
        let o = &self.optim;
        let optim = OptimConfig {
            lr: o.lr,
            weight_decay: o.weight_decay,
            betas: (0.9, 0.999),
            eps: 1e-8,
            warmup_steps: o.warmup_steps.min(self.iters),
            total_steps: self.iters,
            min_lr: o.min_lr,
            grad_clip: o.grad_clip,
            lr_ratio: adapter.lr_ratio,
        };
        optim.validate().context("[optim]")?;
        Ok(RunSpec {
            backbone: self.backbone.clone(),
            model_dir: root.join(&self.model_dir),
            dataset: self.dataset.clone(),
            seed,
            method,
            rank,
            iters: self.iters,
            boxes_per_step: self.boxes_per_step,
            normalize: self.normalize,
            train_decoder: self.train_decoder,
            checkpoint_every: self.checkpoint_every,
            dice_weight: 0.8,
            adapter,
            optim,
        })
    }
}
