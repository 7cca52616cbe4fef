//! The experiment file (`experiments/*.toml`): a grid of runs, and the fully resolved [`RunSpec`]
//! of one run that is written to its `config.json`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use formats::check::Checks;
use formats::paths::portable;
use formats::sections::{adapter_config, optim_config};
use formats::selection::selection_run_name;
use formats::{
    AdapterConfig, AdapterSection, Hyper, Method, OptimConfig, OptimSection, Precision,
    SelectSection, Selected,
};
use runner::slurm::SlurmOptions;
use runner::{Coords, Overrides, Stage};
use serde::{Deserialize, Serialize};

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
    /// Learning-rate selection: when present, every method trains with the learning rate (and λ)
    /// that scored best on a validation split held out of the few-shot pool (`--select`).
    #[serde(default)]
    pub select: Option<SelectSection>,
    /// Resources of each run on a Slurm cluster (`--slurm`).
    #[serde(default)]
    pub slurm: Option<SlurmOptions>,
    /// Arithmetic of every run: `fp32` (default), `bf16` or `fp16` (`--precision`).
    #[serde(default)]
    pub precision: Precision,
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
    /// The run folder name: every grid coordinate, so reruns and resumes find the same folder;
    /// a selection run's is `selection/<name>_lr<lr>[_ratio<λ>]`.
    pub fn name(&self) -> String {
        let dataset = self
            .dataset
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_");
        let name = format!(
            "{}_{dataset}_{}shot_{}_r{}_seed{}",
            self.backbone,
            self.shots,
            self.method.name(),
            self.rank,
            self.seed
        );
        if self.scores_validation() {
            selection_run_name(&name, self.method, &self.optim)
        } else {
            name
        }
    }

    /// Whether this is a selection run, scored on a validation split instead of the test set.
    pub fn scores_validation(&self) -> bool {
        self.validation_per_class.is_some() || self.validation_outside_pool.is_some()
    }
}

impl runner::Experiment for Experiment {
    type Spec = RunSpec;

    fn validate(&self) -> Result<()> {
        runner::require_non_empty(&[
            ("datasets", self.datasets.is_empty()),
            ("shots", self.shots.is_empty()),
            ("seeds", self.seeds.is_empty()),
            ("methods", self.methods.is_empty()),
            ("ranks", self.ranks.is_empty()),
        ])?;
        let mut checks = Checks::new();
        checks.path_component("backbone", &self.backbone);
        if self.datasets.iter().any(String::is_empty) {
            checks.problem("field `datasets` holds an empty name");
        }
        checks
            .all_at_least("shots", &self.shots, 1)
            .all_at_least("ranks", &self.ranks, 1)
            .at_least("iters_per_shot", self.iters_per_shot, 1)
            .at_least("batch_size", self.batch_size, 1)
            .at_least("resolution", self.resolution, 1)
            .closed("crop_scale[1]", self.crop_scale.1, 0.0, 1.0)
            .positive("logit_scale", self.logit_scale)
            .at_least("checkpoint_every", self.checkpoint_every, 1);
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
        if self.methods.contains(&Method::Full) && self.optim.full_lr.is_none() {
            checks.problem("field `optim.full_lr` is required when `methods` has `full`");
        }
        self.adapter.check(&mut checks);
        self.optim.check(&mut checks);
        if let Some(select) = &self.select {
            select.check(&mut checks);
            let fraction = select.validation_fraction;
            for (&shots, fraction) in fraction.iter().flat_map(|f| self.shots.iter().zip([f])) {
                let held = held_out(shots, *fraction);
                if held == 0 || held >= shots {
                    checks.problem(format!(
                        "field `select.validation_fraction` = {fraction} holds out {held} of \
                         {shots} shots per class: need at least one to train and one to validate"
                    ));
                }
            }
        }
        Ok(checks.finish()?)
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(p) = o.precision {
            self.precision = p;
        }
        if let Some(d) = &o.dataset {
            self.datasets = vec![d.clone()];
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
        if let Some(b) = &o.backbone {
            self.backbone = b.clone();
        }
    }

    fn runs(&self, root: &Path, stage: Stage) -> Result<Vec<RunSpec>> {
        match stage {
            Stage::Select(select) => self.selection_runs(select, root),
            Stage::Final(selected) => Experiment::runs(self, root, selected),
        }
    }

    fn selection(&self) -> Option<&SelectSection> {
        self.select.as_ref()
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

impl Experiment {
    /// Every run of the grid, in data set → shots → seed → method → rank order (methods without
    /// adapters once per seed; LoRA on q,k,v at the smallest rank only, a reference row). `root`
    /// resolves relative paths; `selected` gives each (backbone, data set, method) its learning rate and λ
    /// (else the file's `[optim]` and `[adapter]` values).
    pub fn runs(&self, root: &Path, selected: Option<&Selected>) -> Result<Vec<RunSpec>> {
        let mut runs = Vec::new();
        for dataset in self.datasets.iter().filter(|d| self.present(d, root)) {
            for &shots in &self.shots {
                for &seed in &self.seeds {
                    for &method in &self.methods {
                        let (hyper, steps) = match selected {
                            Some(s) if method.trains() => (
                                Some(s.get(&self.backbone, dataset, method)?),
                                s.steps(&self.backbone, dataset, method),
                            ),
                            _ => (None, None),
                        };
                        for rank in self.method_ranks(method) {
                            let coords = (dataset.as_str(), shots, seed, method, rank);
                            runs.push(self.run(coords, hyper, Validation::None, steps, root)?);
                        }
                    }
                }
            }
        }
        Ok(runs)
    }

    /// The ranks `method` runs at: none (0) without adapters, the smallest for LoRA on q,k,v.
    fn method_ranks(&self, method: Method) -> Vec<i64> {
        match method {
            Method::LoraQkv => self.ranks.iter().min().into_iter().copied().collect(),
            m if m.has_adapter() => self.ranks.clone(),
            _ => vec![0],
        }
    }

    /// The `[select]` grid: every data set × trained method × candidate at the section's rank
    /// and seed, at each data set's largest shot count, with the validation split held out of
    /// the pool or drawn outside it, for `select.iters` steps when given.
    fn selection_runs(&self, select: &SelectSection, root: &Path) -> Result<Vec<RunSpec>> {
        let shots = self.shots.iter().copied().max().unwrap_or(1);
        let validation = match select.outside_pool_per_class {
            Some(per_class) => Validation::OutsidePool(per_class),
            None => Validation::HeldOut(held_out(shots, select.fraction())),
        };
        let mut runs = Vec::new();
        for dataset in self.datasets.iter().filter(|d| self.present(d, root)) {
            for &method in self.methods.iter().filter(|m| m.trains()) {
                let rank = if method.has_adapter() { select.rank } else { 0 };
                for hyper in select.candidates(method) {
                    let coords = (dataset.as_str(), shots, select.seed, method, rank);
                    let mut spec = self.run(coords, Some(hyper), validation, select.iters, root)?;
                    spec.validate_every = select.validate_every;
                    runs.push(spec);
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
        (dataset, shots, seed, method, rank): (&str, usize, u64, Method, i64),
        hyper: Option<Hyper>,
        validation: Validation,
        iters: Option<usize>,
        root: &Path,
    ) -> Result<RunSpec> {
        let iters = if method.trains() {
            iters.or(self.iters).unwrap_or(self.iters_per_shot * shots)
        } else {
            0
        };
        let (adapter_section, optim_section) = match hyper {
            Some(h) => h.apply(&self.adapter, &self.optim, method),
            None => (self.adapter.clone(), self.optim.clone()),
        };
        let adapter = adapter_config(&adapter_section, method, rank)?;
        let optim = optim_config(&optim_section, method, adapter.as_ref(), iters)?;
        Ok(RunSpec {
            precision: self.precision,
            backbone: self.backbone.clone(),
            model_dir: portable(&self.model_dir, root),
            dataset: dataset.to_string(),
            data_root: self.data_root.as_ref().map(|d| portable(d, root)),
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
            checkpoint_every: self.checkpoint_every,
            adapter,
            optim,
        })
    }
}
