//! What a task (classification, segmentation, generation) gives the engine: its experiment file,
//! its fully resolved runs, and a training session per run. The engine owns everything else.

use std::path::{Path, PathBuf};

use anyhow::Result;
use formats::selection::selection_run_name;
use formats::{Method, OptimConfig, Precision, SelectSection, Selected, SummaryRow};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serial_lora::ModelStore;
use tch::{nn::VarStore, Tensor};

use crate::run_dir::RunDir;

/// A run's coordinates in its grid; the command line selects runs by them.
#[derive(Debug, Clone, PartialEq)]
pub struct Coords {
    /// Data set name.
    pub dataset: String,
    /// Method.
    pub method: Method,
    /// Adapter rank (0 without adapters).
    pub rank: i64,
    /// Seed.
    pub seed: u64,
    /// Shots per class, for few-shot tasks.
    pub shots: Option<usize>,
}

/// One fully resolved run, written as its `config.json`: everything needed to repeat it. Paths in
/// it are portable (relative to the repository root when inside it).
pub trait RunSpec: Serialize + DeserializeOwned + Clone {
    /// The pre-trained model's name, the first part of the run folder's name.
    fn backbone(&self) -> &str;
    /// The grid coordinates.
    fn coords(&self) -> Coords;
    /// What the run folder's name ends with after the seed (e.g. `_dec`); nothing by default.
    fn name_suffix(&self) -> &str {
        ""
    }
    /// The run folder's name, every grid coordinate so that a rerun resumes the same folder:
    /// `<backbone>_<data set>_[<shots>shot_]<method>_r<rank>_seed<seed><suffix>`, the data set
    /// with every character but letters, digits and `-` replaced by `_`; a selection run's is
    /// `selection/<name>_lr<lr>[_ratio<λ>]`.
    fn name(&self) -> String {
        let c = self.coords();
        let dataset = c
            .dataset
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_");
        let shots = c.shots.map(|s| format!("{s}shot_")).unwrap_or_default();
        let name = format!(
            "{}_{dataset}_{shots}{}_r{}_seed{}{}",
            self.backbone(),
            c.method.name(),
            c.rank,
            c.seed,
            self.name_suffix()
        );
        if self.scores_validation() {
            selection_run_name(&name, c.method, self.optim())
        } else {
            name
        }
    }
    /// Training steps (0: the run only evaluates).
    fn steps(&self) -> usize;
    /// Save a resumable checkpoint every this many steps.
    fn checkpoint_every(&self) -> usize;
    /// The optimiser and schedule.
    fn optim(&self) -> &OptimConfig;
    /// The run's arithmetic (fp32, or bf16/fp16 autocast).
    fn precision(&self) -> Precision;
    /// The ceiling of the decay of a moving average of the trainable weights kept during
    /// training and used for the finished model ([`crate::ema::Ema`]); none by default.
    fn ema_decay(&self) -> Option<f64> {
        None
    }
    /// Whether this is a selection run (scored on a validation split): its divergence is a
    /// result, recorded, rather than a failure.
    fn scores_validation(&self) -> bool;
    /// A selection run that also scores its validation split every this many steps
    /// ([`Session::validate`], recorded in its `validation_curve.csv`); none by default.
    fn validate_every(&self) -> Option<usize> {
        None
    }
}

/// Values the command line replaces in an experiment before its grid is expanded.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Training steps per run.
    pub iters: Option<usize>,
    /// The model folder.
    pub model_dir: Option<PathBuf>,
    /// The data set(s): replaces the experiment's list with this one (your own data).
    pub dataset: Option<String>,
    /// Root of data sets in a shared layout (CoOp).
    pub data_root: Option<PathBuf>,
    /// Backbone name in reports.
    pub backbone: Option<String>,
    /// The runs' arithmetic.
    pub precision: Option<Precision>,
}

/// An experiment file: the only place a grid is defined (read from its TOML text).
pub trait Experiment: std::str::FromStr<Err = anyhow::Error> {
    /// One run of the grid.
    type Spec: RunSpec;
    /// Checks every field (names the field, the value and the allowed range).
    fn validate(&self) -> Result<()>;
    /// Applies command-line values (paths already absolute).
    fn apply(&mut self, overrides: &Overrides);
    /// Every run of `stage`; relative paths are taken from `root`, the repository root.
    fn runs(&self, root: &Path, stage: Stage) -> Result<Vec<Self::Spec>>;
    /// The `[select]` section, if the grid's learning rates are chosen on a validation split.
    fn selection(&self) -> Option<&SelectSection>;
    /// The `[slurm]` section, if any.
    fn slurm(&self) -> Option<&crate::slurm::SlurmOptions>;
}

/// Which runs of an experiment file to expand.
#[derive(Debug, Clone, Copy)]
pub enum Stage<'a> {
    /// The `[select]` grid: every candidate at one rank and seed, scored on held-out data; run
    /// names start with `selection/`.
    Select(&'a SelectSection),
    /// The experiment's grid, each (backbone, data set, method) with its chosen values when the file has
    /// `[select]`, else with the file's `[optim]` and `[adapter]` values.
    Final(Option<&'a Selected>),
}

/// One training step's result.
pub struct StepOutput {
    /// The loss to minimise.
    pub loss: Tensor,
    /// Scalar metrics logged beside it (one per [`Session::metric_columns`]).
    pub metrics: Vec<Tensor>,
}

/// What the engine records of a run's training; every task's summary holds it (flattened: its
/// fields are the summary's `steps`, `train_seconds` and `peak_rss_mb`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainStats {
    /// Steps taken.
    pub steps: usize,
    /// Wall-clock seconds spent in training steps, summed over every resumption.
    pub train_seconds: f64,
    /// Peak resident memory of the process that finished the run, MiB.
    pub peak_rss_mb: f64,
}

impl TrainStats {
    /// The summary-table cells of `steps`, `train_seconds` (one decimal) and `peak_rss_mb` (whole
    /// MiB).
    pub fn cells(&self) -> [String; 3] {
        [
            self.steps.to_string(),
            format!("{:.1}", self.train_seconds),
            format!("{:.0}", self.peak_rss_mb),
        ]
    }
}

/// Where a run is being made.
pub struct RunContext<'a> {
    /// Its folder.
    pub dir: &'a RunDir,
    /// The repository root (stored paths are relative to it).
    pub root: &'a Path,
    /// The results root (for files shared by a task's runs).
    pub results: &'a Path,
    /// The device the model and every batch live on.
    pub device: tch::Device,
}

/// A run being trained: the task's model, data and loss. The engine drives it.
pub trait Session {
    /// The finished run's summary (`summary.json`, one row of `summary.csv`).
    type Summary: SummaryRow + Serialize;
    /// The model's variables (the engine keys dropout masks by step through it).
    fn store(&self) -> &ModelStore;
    /// The variable stores whose trainable variables the optimiser updates and checkpoints save.
    fn trainable(&self) -> Vec<&VarStore>;
    /// Names of the extra metrics each step returns.
    fn metric_columns(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// Moves the data order to `step` (a resumed run continues the same sequence).
    fn skip_to(&mut self, _step: usize) -> Result<()> {
        Ok(())
    }
    /// Whether to write a view of the model (e.g. sample grids) before training step `step`.
    fn snapshot_due(&self, _step: usize) -> bool {
        false
    }
    /// Writes the view of the model before training step `step`; the engine puts the moving
    /// average of the weights in place for it when the run keeps one.
    fn snapshot(&self, _step: usize) -> Result<()> {
        Ok(())
    }
    /// A selection run's validation score of the model as it is now (the summary's score), for
    /// its validation curve ([`RunSpec::validate_every`]).
    fn validate(&self) -> Result<f64> {
        anyhow::bail!("this task scores its validation split only when a run finishes")
    }
    /// The loss of training step `step` (0-based); the engine back-propagates it.
    fn step(&mut self, step: usize) -> Result<StepOutput>;
    /// After the last step (with the moving average of the weights in place when the run keeps
    /// one): evaluates, saves what the run keeps in `dir`, and reports.
    fn finish(&mut self, dir: &RunDir, stats: &TrainStats) -> Result<Self::Summary>;
}

/// A task: its name (the results sub-folder), experiment and session types.
pub trait Task {
    /// `results/<NAME>/`.
    const NAME: &'static str;
    /// The experiment file.
    type Experiment: Experiment<Spec = Self::Spec>;
    /// One run.
    type Spec: RunSpec;
    /// A run in training.
    type Session: Session;
    /// Builds `spec`'s model, data and adapters and scores the untrained model.
    fn start(spec: &Self::Spec, ctx: &RunContext) -> Result<Self::Session>;
}
