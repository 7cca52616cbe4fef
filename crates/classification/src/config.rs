//! The experiment file (`experiments/*.toml`): a grid of runs, and the fully resolved [`RunSpec`]
//! of one run that is written to its `config.json`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serial_lora::{AdapterConfig, Method as AdapterMethod, OptimConfig, ScaleRule, Target};

/// How a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// No training: CLIP's text classifier (or, for a backbone without text, the class-mean head).
    ZeroShot,
    /// Only the classifier head trains (backbones without a text tower).
    Probe,
    /// LoRA on the configured targets.
    Lora,
    /// Serial LoRA: one shared pair before q/k/v per block.
    SerialLora,
    /// LoRA with B at `lr·λ`.
    LoraPlus,
    /// Serial LoRA with B at `lr·λ`.
    SerialLoraPlus,
    /// Every weight trains (reference).
    Full,
}

impl Method {
    /// The name used in file names and tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::ZeroShot => "zero_shot",
            Self::Probe => "probe",
            Self::Lora => "lora",
            Self::SerialLora => "serial_lora",
            Self::LoraPlus => "lora_plus",
            Self::SerialLoraPlus => "serial_lora_plus",
            Self::Full => "full",
        }
    }

    /// Whether this method trains adapters (and so has a rank).
    pub fn has_adapter(self) -> bool {
        matches!(
            self,
            Self::Lora | Self::SerialLora | Self::LoraPlus | Self::SerialLoraPlus
        )
    }
}

/// `[adapter]`: shared by every adapter run of the grid (method and rank come from the grid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterSection {
    /// `alpha` of the scale rule; `"rank"` is not accepted: write a number.
    pub alpha: f64,
    /// Scale rule.
    #[serde(default)]
    pub scaling: ScaleRule,
    /// Dropout on the adapter input.
    #[serde(default)]
    pub dropout: f64,
    /// LoRA targets.
    pub targets: Vec<Target>,
    /// λ of the `+` variants.
    pub plus_ratio: f64,
}

/// `[optim]`: learning rates and schedule (steps come from the grid's `iters`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimSection {
    /// Peak learning rate of adapters and head.
    pub lr: f64,
    /// Peak learning rate of `full` fine-tuning.
    pub full_lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Warm-up steps.
    #[serde(default)]
    pub warmup_steps: usize,
    /// Final learning rate of the cosine.
    pub min_lr: f64,
    /// Gradient-norm clipping.
    #[serde(default)]
    pub grad_clip: Option<f64>,
}

/// The experiment file: every combination of the lists is one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Name of the backbone in reports (e.g. `dinov2-s14-imgfocus`, `clip-vit-b16`).
    pub backbone: String,
    /// A transformers-style model directory (`config.json` + `model.safetensors`); relative paths
    /// are taken from the workspace root.
    pub model_dir: PathBuf,
    /// Data sets: `fashion-mnist`, `digits`, `faces` (packaged), a CLIP data set name
    /// (`oxford_pets`, `dtd`, … under `data_root`), or `folder:<path>`.
    pub datasets: Vec<String>,
    /// Root of the CoOp layout, for the CLIP data sets.
    #[serde(default)]
    pub data_root: Option<PathBuf>,
    /// Skip CLIP data sets whose folder is absent under `data_root` (run the ones present).
    #[serde(default)]
    pub skip_missing: bool,
    /// Shots per class.
    pub shots: Vec<usize>,
    /// Seeds (few-shot draw, initialisation, batches).
    pub seeds: Vec<u64>,
    /// Methods.
    pub methods: Vec<Method>,
    /// Adapter ranks (ignored by methods without adapters).
    pub ranks: Vec<i64>,
    /// Training iterations per run; `iters_per_shot` × shots when absent (CLIP-LoRA: 500).
    #[serde(default)]
    pub iters: Option<usize>,
    /// Iterations per shot when `iters` is absent.
    #[serde(default = "default_iters_per_shot")]
    pub iters_per_shot: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Input resolution (square) fed to the backbone.
    pub resolution: u32,
    /// Area range of the training RandomResizedCrop (CLIP-LoRA: 0.08-1).
    #[serde(default = "default_crop_scale")]
    pub crop_scale: (f64, f64),
    /// Random horizontal flips in training (CLIP-LoRA: yes).
    #[serde(default = "default_flip")]
    pub flip: bool,
    /// Evaluate on at most this many test images (a fixed, class-stratified subset); all when absent.
    #[serde(default)]
    pub test_limit: Option<usize>,
    /// Logit scale of the cosine classifier (CLIP-LoRA: 100).
    pub logit_scale: f64,
    /// Prompt template for CLIP's text classifier.
    #[serde(default = "default_template")]
    pub template: String,
    /// Save a resumable checkpoint every this many steps.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
    /// Adapter settings.
    pub adapter: AdapterSection,
    /// Optimiser settings.
    pub optim: OptimSection,
}

fn default_iters_per_shot() -> usize {
    500
}

fn default_crop_scale() -> (f64, f64) {
    (0.08, 1.0)
}

fn default_flip() -> bool {
    true
}

fn default_template() -> String {
    "a photo of a {}.".into()
}

fn default_checkpoint_every() -> usize {
    50
}

/// One fully resolved run: everything needed to reproduce it, written as its `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Backbone name.
    pub backbone: String,
    /// Model directory (absolute).
    pub model_dir: PathBuf,
    /// Data set name.
    pub dataset: String,
    /// CoOp data root, if any.
    pub data_root: Option<PathBuf>,
    /// Shots per class.
    pub shots: usize,
    /// Seed.
    pub seed: u64,
    /// Method.
    pub method: Method,
    /// Rank (0 for methods without adapters).
    pub rank: i64,
    /// Training iterations.
    pub iters: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Input resolution.
    pub resolution: u32,
    /// Area range of the training crop.
    pub crop_scale: (f64, f64),
    /// Horizontal flips in training.
    pub flip: bool,
    /// Test subset size, if limited.
    pub test_limit: Option<usize>,
    /// Logit scale.
    pub logit_scale: f64,
    /// CLIP prompt template.
    pub template: String,
    /// Checkpoint interval.
    pub checkpoint_every: usize,
    /// The adapter, if the method has one.
    pub adapter: Option<AdapterConfig>,
    /// Optimiser and schedule.
    pub optim: OptimConfig,
}

impl RunSpec {
    /// The run folder name: every grid coordinate, so reruns and resumes find the same folder.
    pub fn name(&self) -> String {
        let dataset = self
            .dataset
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_");
        format!(
            "{}_{dataset}_{}shot_{}_r{}_seed{}",
            self.backbone,
            self.shots,
            self.method.name(),
            self.rank,
            self.seed
        )
    }
}

/// Narrowing of the grid from the command line (each replaces its list by one value).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// One data set.
    pub dataset: Option<String>,
    /// One shot count.
    pub shots: Option<usize>,
    /// One method.
    pub method: Option<Method>,
    /// One rank.
    pub rank: Option<i64>,
    /// One seed.
    pub seed: Option<u64>,
    /// Iterations.
    pub iters: Option<usize>,
    /// Model directory.
    pub model_dir: Option<PathBuf>,
    /// CoOp data root.
    pub data_root: Option<PathBuf>,
}

impl Experiment {
    /// Reads and validates an experiment file; unknown keys are errors naming the file.
    pub fn from_file(path: &Path) -> Result<Self> {
        runner::read_experiment(path, Self::validate)
    }

    fn validate(&self) -> Result<()> {
        runner::require_non_empty(&[
            ("datasets", self.datasets.is_empty()),
            ("shots", self.shots.is_empty()),
            ("seeds", self.seeds.is_empty()),
            ("methods", self.methods.is_empty()),
            ("ranks", self.ranks.is_empty()),
        ])?;
        if self.batch_size == 0 || self.resolution == 0 || self.checkpoint_every == 0 {
            bail!("fields `batch_size`, `resolution` and `checkpoint_every` must be positive");
        }
        Ok(())
    }

    /// Applies command-line overrides.
    pub fn narrow(mut self, o: &Overrides) -> Self {
        if let Some(d) = &o.dataset {
            self.datasets = vec![d.clone()];
        }
        if let Some(s) = o.shots {
            self.shots = vec![s];
        }
        if let Some(m) = o.method {
            self.methods = vec![m];
        }
        if let Some(r) = o.rank {
            self.ranks = vec![r];
        }
        if let Some(s) = o.seed {
            self.seeds = vec![s];
        }
        if o.iters.is_some() {
            self.iters = o.iters;
        }
        if let Some(m) = &o.model_dir {
            self.model_dir = m.clone();
        }
        if o.data_root.is_some() {
            self.data_root = o.data_root.clone();
        }
        self
    }

    fn adapter(&self, method: Method, rank: i64) -> Option<AdapterConfig> {
        let (kind, plus) = match method {
            Method::Lora => (AdapterMethod::Lora, false),
            Method::LoraPlus => (AdapterMethod::Lora, true),
            Method::SerialLora => (AdapterMethod::SerialLora, false),
            Method::SerialLoraPlus => (AdapterMethod::SerialLora, true),
            _ => return None,
        };
        let a = &self.adapter;
        Some(AdapterConfig {
            method: kind,
            rank,
            alpha: a.alpha,
            scaling: a.scaling,
            dropout: a.dropout,
            targets: a.targets.clone(),
            lr_ratio: if plus { a.plus_ratio } else { 1.0 },
            blocks: None,
        })
    }

    /// Every run of the grid, in data set → shots → seed → method → rank order (methods without
    /// adapters once per seed). `root` resolves relative paths.
    pub fn runs(&self, root: &Path) -> Result<Vec<RunSpec>> {
        let mut runs = Vec::new();
        for dataset in self.datasets.iter().filter(|d| self.present(d, root)) {
            for &shots in &self.shots {
                for &seed in &self.seeds {
                    for &method in &self.methods {
                        let ranks: Vec<i64> = if method.has_adapter() {
                            self.ranks.clone()
                        } else {
                            vec![0]
                        };
                        for rank in ranks {
                            runs.push(self.run(dataset, shots, seed, method, rank, root)?);
                        }
                    }
                }
            }
        }
        Ok(runs)
    }

    /// False for a CLIP data set missing under `data_root` when `skip_missing` is set.
    fn present(&self, dataset: &str, root: &Path) -> bool {
        let (Some(set), Some(data_root), true) = (
            data::ClipDataset::from_name(dataset),
            &self.data_root,
            self.skip_missing,
        ) else {
            return true;
        };
        let present = root.join(data_root).join(set.folder()).is_dir();
        if !present {
            eprintln!(
                "skipping `{dataset}`: no {} under {}",
                set.folder(),
                data_root.display()
            );
        }
        present
    }

    fn run(
        &self,
        dataset: &str,
        shots: usize,
        seed: u64,
        method: Method,
        rank: i64,
        root: &Path,
    ) -> Result<RunSpec> {
        let iters = if method == Method::ZeroShot {
            0
        } else {
            self.iters.unwrap_or(self.iters_per_shot * shots)
        };
        let adapter = self.adapter(method, rank);
        if let Some(a) = &adapter {
            a.validate()
                .with_context(|| format!("adapter of {} at rank {rank}", method.name()))?;
        }
        let o = &self.optim;
        let optim = OptimConfig {
            lr: if method == Method::Full {
                o.full_lr
            } else {
                o.lr
            },
            weight_decay: o.weight_decay,
            betas: (0.9, 0.999),
            eps: 1e-8,
            warmup_steps: o.warmup_steps.min(iters),
            total_steps: iters.max(1),
            min_lr: o.min_lr,
            grad_clip: o.grad_clip,
            lr_ratio: adapter.as_ref().map_or(1.0, |a| a.lr_ratio),
        };
        optim.validate().context("[optim]")?;
        Ok(RunSpec {
            backbone: self.backbone.clone(),
            model_dir: root.join(&self.model_dir),
            dataset: dataset.to_string(),
            data_root: self.data_root.as_ref().map(|d| root.join(d)),
            shots,
            seed,
            method,
            rank,
            iters,
            batch_size: self.batch_size,
            resolution: self.resolution,
            crop_scale: self.crop_scale,
            flip: self.flip,
            test_limit: self.test_limit,
            logit_scale: self.logit_scale,
            template: self.template.clone(),
            checkpoint_every: self.checkpoint_every,
            adapter,
            optim,
        })
    }
}
