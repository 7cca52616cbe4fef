//! The classification experiment file (`experiments/clip_*.toml`, `experiments/dinov2_*.toml`):
//! its own fields ([`Fields`]) beside the ones every experiment file has
//! ([`runner::GridSection`]), and the fully resolved [`RunSpec`] of one run that is written to its
//! `config.json`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use formats::check::Checks;
use formats::{AdapterConfig, Hyper, Method, OptimConfig, Precision, SelectSection, Selected};
use runner::{Coords, GridContext, GridSection, Overrides, Stage};
use serde::{Deserialize, Serialize};

/// The classification experiment file: every data set × shots × seed × method × rank is one run.
pub type Experiment = runner::ExperimentFile<Fields>;

/// The classification fields of an experiment file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Fields {
    /// Data sets: `fashion-mnist`, `digits`, `faces` (packaged), `cifar10`, a CLIP data set name
    /// (`oxford_pets`, `dtd`, … under `data_root`), or `folder:<path>`.
    pub datasets: Vec<String>,
    /// Root of the named data sets (CIFAR-10, the CoOp layout).
    #[serde(default)]
    pub data_root: Option<PathBuf>,
    /// Skip CLIP data sets whose folder is absent under `data_root` (run the ones present).
    #[serde(default)]
    pub skip_missing: bool,
    /// Shots per class.
    pub shots: Vec<usize>,
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

/// Where a run's validation split comes from, if it is a selection run.
#[derive(Debug, Clone, Copy)]
enum Validation {
    /// A grid run: scored on the test set.
    None,
    /// This many of each class's shots held out of the pool.
    HeldOut(usize),
    /// This many more images per class drawn outside the pool.
    OutsidePool(usize),
}

/// Images per class held out for validation from `shots` at `fraction` (rounded).
fn held_out(shots: usize, fraction: f64) -> usize {
    (shots as f64 * fraction).round() as usize
}

/// One fully resolved run: everything needed to reproduce it, written as its `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Backbone name.
    pub backbone: String,
    /// Model directory (relative to the repository root when inside it).
    pub model_dir: PathBuf,
    /// Data set name (`folder:` paths relative to the repository root when inside it).
    pub dataset: String,
    /// The root of named data sets (CIFAR-10, CoOp layout), if any. Never written to
    /// `config.json`: the data set's name identifies the data, so run folders, configurations and
    /// committed tables hold no machine's data path.
    #[serde(default, skip_serializing)]
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
    /// A selection run: this many of each class's shots are held out and scored instead of the
    /// test set (the run trains on the rest).
    pub validation_per_class: Option<usize>,
    /// A selection run that trains on the whole pool and scores this many more training images
    /// per class drawn outside it instead of the test set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_outside_pool: Option<usize>,
    /// A selection run that scores its validation split every this many steps too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_every: Option<usize>,
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
    /// Arithmetic of the run (absent from `config.json` when fp32).
    #[serde(default, skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
}

impl RunSpec {
    /// Whether this is a selection run, scored on a validation split instead of the test set.
    pub fn scores_validation(&self) -> bool {
        self.validation_per_class.is_some() || self.validation_outside_pool.is_some()
    }
}

impl runner::TaskFields for Fields {
    type Spec = RunSpec;
    const CHECKPOINT_EVERY: usize = 50;

    fn check(&self, grid: &GridSection, checks: &mut Checks) -> Result<()> {
        runner::require_non_empty(&[
            ("datasets", self.datasets.is_empty()),
            ("shots", self.shots.is_empty()),
        ])?;
        if self.datasets.iter().any(String::is_empty) {
            checks.problem("field `datasets` holds an empty name");
        }
        checks
            .all_at_least("shots", &self.shots, 1)
            .at_least("iters_per_shot", self.iters_per_shot, 1)
            .at_least("batch_size", self.batch_size, 1)
            .at_least("resolution", self.resolution, 1)
            .closed("crop_scale[1]", self.crop_scale.1, 0.0, 1.0)
            .positive("logit_scale", self.logit_scale);
        let (lo, hi) = self.crop_scale;
        if !(lo > 0.0 && lo <= hi) {
            checks.problem(format!(
                "field `crop_scale` = [{lo}, {hi}]: need 0 < crop_scale[0] ≤ crop_scale[1] ≤ 1"
            ));
        }
        if let Some(iters) = self.iters {
            checks.at_least("iters", iters, 1);
        }
        if let Some(limit) = self.test_limit {
            checks.at_least("test_limit", limit, 1);
        }
        if let Some(select) = &grid.select {
            self.check_held_out(select, checks);
        }
        Ok(())
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(d) = &o.dataset {
            self.datasets = vec![d.clone()];
        }
        if o.iters.is_some() {
            self.iters = o.iters;
        }
        if o.data_root.is_some() {
            self.data_root = o.data_root.clone();
        }
    }

    fn runs(&self, ctx: &GridContext, stage: Stage) -> Result<Vec<RunSpec>> {
        match stage {
            Stage::Select(select) => self.selection_runs(ctx, select),
            Stage::Final(selected) => self.grid_runs(ctx, selected),
        }
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
            shots: Some(self.shots),
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
        RunSpec::scores_validation(self)
    }

    fn validate_every(&self) -> Option<usize> {
        self.validate_every
    }
}

impl Fields {
    /// The validation share of `[select]` must leave at least one shot per class to train and
    /// one to validate at the shot count the selection runs at (the largest).
    fn check_held_out(&self, select: &SelectSection, checks: &mut Checks) {
        let (Some(fraction), Some(&shots)) = (select.validation_fraction, self.shots.iter().max())
        else {
            return;
        };
        let held = held_out(shots, fraction);
        if held == 0 || held >= shots {
            checks.problem(format!(
                "field `select.validation_fraction` = {fraction} holds out {held} of {shots} \
                 shots per class: need at least one to train and one to validate"
            ));
        }
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

    /// Every run of the grid, in data set → shots → seed → method → rank order (methods without
    /// adapters once per seed; LoRA on q,k,v at the smallest rank only, a reference row);
    /// `selected` gives each (backbone, data set, method) its learning rate and λ (else the file's
    /// `[optim]` and `[adapter]` values) and its schedule length when chosen.
    fn grid_runs(&self, ctx: &GridContext, selected: Option<&Selected>) -> Result<Vec<RunSpec>> {
        let mut runs = Vec::new();
        for dataset in self.datasets(ctx.root) {
            for &shots in &self.shots {
                for p in ctx.grid.points() {
                    let (hyper, steps) = ctx.grid.chosen(selected, dataset, p.method)?;
                    let point = (dataset, shots, p.seed, p.method, p.rank);
                    runs.push(self.run(ctx, point, hyper, Validation::None, steps)?);
                }
            }
        }
        Ok(runs)
    }

    /// The `[select]` grid: every data set × candidate at the section's rank and seed, at the
    /// largest shot count, with the validation split held out of the pool or drawn outside it,
    /// for `select.iters` steps when given.
    fn selection_runs(&self, ctx: &GridContext, select: &SelectSection) -> Result<Vec<RunSpec>> {
        let shots = self.shots.iter().copied().max().unwrap_or(1);
        let validation = match select.outside_pool_per_class {
            Some(per_class) => Validation::OutsidePool(per_class),
            None => Validation::HeldOut(held_out(shots, select.fraction())),
        };
        let mut runs = Vec::new();
        for dataset in self.datasets(ctx.root) {
            for (method, rank, hyper) in ctx.grid.candidates(select) {
                let point = (dataset, shots, select.seed, method, rank);
                let mut spec = self.run(ctx, point, Some(hyper), validation, select.iters)?;
                spec.validate_every = select.validate_every;
                runs.push(spec);
            }
        }
        Ok(runs)
    }

    /// The data sets that are present.
    fn datasets<'a>(&'a self, root: &'a Path) -> impl Iterator<Item = &'a str> {
        self.datasets
            .iter()
            .map(String::as_str)
            .filter(move |d| self.present(d, root))
    }

    /// The run at (data set, shots, seed, method, rank) with `hyper` in place of the file's
    /// learning rate and λ, scored on `validation`, for `iters` steps when given.
    fn run(
        &self,
        ctx: &GridContext,
        (dataset, shots, seed, method, rank): (&str, usize, u64, Method, i64),
        hyper: Option<Hyper>,
        validation: Validation,
        iters: Option<usize>,
    ) -> Result<RunSpec> {
        let iters = if method.trains() {
            iters.or(self.iters).unwrap_or(self.iters_per_shot * shots)
        } else {
            0
        };
        let (adapter, optim) = ctx.grid.sections(method, rank, hyper, iters)?;
        Ok(RunSpec {
            precision: ctx.grid.precision,
            backbone: ctx.grid.backbone.clone(),
            model_dir: ctx.model_dir(),
            dataset: dataset.to_string(),
            data_root: self.data_root.as_deref().map(|d| ctx.portable(d)),
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
            validation_per_class: match validation {
                Validation::HeldOut(n) => Some(n),
                _ => None,
            },
            validation_outside_pool: match validation {
                Validation::OutsidePool(n) => Some(n),
                _ => None,
            },
            validate_every: None,
            logit_scale: self.logit_scale,
            template: self.template.clone(),
            checkpoint_every: ctx.checkpoint_every,
            adapter,
            optim,
        })
    }
}
