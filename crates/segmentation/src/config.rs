//! The experiment file (`experiments/*.toml`): a grid of runs, and the fully resolved [`RunSpec`]
//! of one run that is written to its `config.json` (with `backbone`, `model_dir`, `method`, `rank`
//! for `analysis svd`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use formats::check::Checks;
use formats::paths::portable;
use formats::sections::{adapter_config, optim_config};
use formats::{AdapterConfig, AdapterSection, Method, OptimConfig, OptimSection};
use runner::slurm::SlurmOptions;
use runner::{Coords, Overrides};
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
    /// Resources of each run on a Slurm cluster (`--slurm`).
    #[serde(default)]
    pub slurm: Option<SlurmOptions>,
}

fn default_checkpoint_every() -> usize {
    25
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

impl runner::Experiment for Experiment {
    type Spec = RunSpec;

    fn validate(&self) -> Result<()> {
        runner::require_non_empty(&[
            ("seeds", self.seeds.is_empty()),
            ("methods", self.methods.is_empty()),
            ("ranks", self.ranks.is_empty()),
        ])?;
        if let Some(m) = self.methods.iter().find(|m| !m.has_adapter()) {
            bail!("field `methods`: `{m}` is not an adapter method (lora, serial_lora, lora_plus, serial_lora_plus)");
        }
        let mut checks = Checks::new();
        checks
            .all_at_least("ranks", &self.ranks, 1)
            .at_least("iters", self.iters, 1)
            .at_least("boxes_per_step", self.boxes_per_step, 1)
            .at_least("checkpoint_every", self.checkpoint_every, 1);
        self.adapter.check(&mut checks);
        self.optim.check(&mut checks);
        Ok(checks.finish()?)
    }

    fn apply(&mut self, o: &Overrides) {
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
    }

    fn runs(&self, root: &Path) -> Result<Vec<RunSpec>> {
        Experiment::runs(self, root)
    }

    fn slurm(&self) -> Option<&SlurmOptions> {
        self.slurm.as_ref()
    }
}

impl runner::RunSpec for RunSpec {
    fn name(&self) -> String {
        RunSpec::name(self)
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
}

impl Experiment {
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
        let adapter = adapter_config(&self.adapter, method, rank)?
            .with_context(|| format!("method `{method}` trains no adapter"))?;
        let optim = optim_config(&self.optim, method, Some(&adapter), self.iters)?;
        Ok(RunSpec {
            backbone: self.backbone.clone(),
            model_dir: portable(&self.model_dir, root),
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
