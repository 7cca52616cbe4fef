//! The experiment file (`experiments/generation_*.toml`): a grid of runs over one base MMDiT, and
//! the fully resolved [`RunSpec`] of one run written to its `config.json` (with `backbone`,
//! `model_dir`, `method`, `rank` for `analysis svd`).
//!
//! `pretrain` runs train the model in `model_dir` (only its `config.json` is read) from a random
//! initialisation on every class but `held_out`; every other method starts from the weights in
//! `model_dir` and personalises it on `instance_images` images of `held_out` with
//! `instance_prompt` (DreamBooth).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
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

use crate::flow::FlowSection;
use crate::prior::PriorSection;
use crate::sampling::SamplingSection;

/// The experiment file: every (seed, method, rank) is one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Name of the base model in reports (e.g. `tiny-mmdit-fashion`).
    pub backbone: String,
    /// The MMDiT directory (diffusers' `config.json` + `diffusion_pytorch_model.safetensors`;
    /// `pretrain` reads only `config.json`); relative to the workspace root.
    pub model_dir: PathBuf,
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
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Methods.
    pub methods: Vec<Method>,
    /// Ranks (adapter methods; the others run once, at rank 0).
    #[serde(default)]
    pub ranks: Vec<i64>,
    /// Training steps per run.
    pub iters: usize,
    /// Images per step (instance images, or pre-training images).
    pub batch_size: usize,
    /// Save a resumable checkpoint every this many steps.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
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
    /// Adapter settings.
    pub adapter: AdapterSection,
    /// Optimiser settings.
    pub optim: OptimSection,
    /// Learning-rate selection on held-out instance images (`--select`).
    #[serde(default)]
    pub select: Option<SelectSection>,
    /// Resources of each run on a Slurm cluster (`--slurm`).
    #[serde(default)]
    pub slurm: Option<SlurmOptions>,
    /// Arithmetic of every run: `fp32` (default), `bf16` or `fp16` (`--precision`).
    #[serde(default)]
    pub precision: Precision,
}

fn default_checkpoint_every() -> usize {
    100
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
    /// The run folder name: every grid coordinate, so a rerun resumes the same folder.
    pub fn name(&self) -> String {
        let dataset = self
            .dataset
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_");
        let name = format!(
            "{}_{dataset}_{}_r{}_seed{}",
            self.backbone,
            self.method.name(),
            self.rank,
            self.seed
        );
        match self.validation_fraction {
            Some(_) => selection_run_name(&name, self.method, &self.optim),
            None => name,
        }
    }

    /// The class prompt of `class` (lower-cased).
    pub fn prompt_of(&self, class: &str) -> String {
        self.class_prompt.replace("{}", &class.to_lowercase())
    }
}

impl runner::Experiment for Experiment {
    type Spec = RunSpec;

    fn validate(&self) -> Result<()> {
        runner::require_non_empty(&[
            ("seeds", self.seeds.is_empty()),
            ("methods", self.methods.is_empty()),
        ])?;
        if let Some(m) = self.methods.iter().find(|m| **m == Method::Probe) {
            bail!("field `methods`: `{m}` has no meaning for generation");
        }
        if self.methods.iter().any(|m| m.has_adapter()) && self.ranks.is_empty() {
            bail!("field `ranks` is empty (the grid has adapter methods)");
        }
        if !self.class_prompt.contains("{}") {
            bail!(
                "field `class_prompt`: `{}` has no `{{}}` for the class name",
                self.class_prompt
            );
        }
        let mut checks = Checks::new();
        checks.path_component("backbone", &self.backbone);
        if self.dataset.is_empty() {
            checks.problem("field `dataset` is empty");
        }
        checks
            .all_at_least("ranks", &self.ranks, 1)
            .at_least("instance_images", self.instance_images, 2)
            .at_least("max_tokens", self.max_tokens, 2)
            .at_least("batch_size", self.batch_size, 1)
            .at_least("checkpoint_every", self.checkpoint_every, 1);
        self.flow.check(&mut checks);
        if let Some(decay) = self.ema_decay {
            checks
                .positive("ema_decay", decay)
                .half_open("ema_decay", decay, 0.0, 1.0);
        }
        if let Some(prior) = &self.prior {
            prior.check(&mut checks);
        }
        self.sampling.check(&mut checks);
        self.adapter.check(&mut checks);
        self.optim.check(&mut checks);
        if let Some(select) = &self.select {
            select.check(&mut checks);
            select.check_fraction_only(&mut checks);
        }
        Ok(checks.finish()?)
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(p) = o.precision {
            self.precision = p;
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
    }

    fn runs(&self, root: &Path, stage: Stage) -> Result<Vec<RunSpec>> {
        match stage {
            Stage::Final(selected) => Experiment::runs(self, root, selected),
            Stage::Select(select) => {
                let mut runs = Vec::new();
                for &method in self.methods.iter().filter(|m| m.trains()) {
                    let rank = if method.has_adapter() { select.rank } else { 0 };
                    for hyper in select.candidates(method) {
                        let coords = (select.seed, method, rank);
                        let validation = Some(select.fraction());
                        runs.push(self.run(coords, Some(hyper), validation, root)?);
                    }
                }
                Ok(runs)
            }
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

impl Experiment {
    /// Every run, in seed → method → rank order (`zero_shot` once, at the first seed, since it
    /// trains nothing); `root` resolves relative paths; `selected` gives each trained method its
    /// learning rate and λ (else the file's `[optim]` and `[adapter]`).
    pub fn runs(&self, root: &Path, selected: Option<&Selected>) -> Result<Vec<RunSpec>> {
        let mut runs = Vec::new();
        for (i, &seed) in self.seeds.iter().enumerate() {
            for &method in &self.methods {
                if method == Method::ZeroShot && i > 0 {
                    continue;
                }
                let hyper = match selected {
                    Some(s) if method.trains() => {
                        Some(s.get(&self.backbone, &self.dataset, method)?)
                    }
                    _ => None,
                };
                let ranks = if method.has_adapter() {
                    self.ranks.clone()
                } else {
                    vec![0]
                };
                for rank in ranks {
                    runs.push(self.run((seed, method, rank), hyper, None, root)?);
                }
            }
        }
        Ok(runs)
    }

    fn run(
        &self,
        (seed, method, rank): (u64, Method, i64),
        hyper: Option<Hyper>,
        validation_fraction: Option<f64>,
        root: &Path,
    ) -> Result<RunSpec> {
        let (adapter_section, optim_section) = match hyper {
            Some(h) => h.apply(&self.adapter, &self.optim, method),
            None => (self.adapter.clone(), self.optim.clone()),
        };
        let adapter = adapter_config(&adapter_section, method, rank)?;
        let optim = optim_config(&optim_section, method, adapter.as_ref(), self.iters.max(1))?;
        Ok(RunSpec {
            precision: self.precision,
            backbone: self.backbone.clone(),
            model_dir: portable(&self.model_dir, root),
            text_encoder: self.text_encoder.as_ref().map(|t| portable(t, root)),
            feature_model: portable(&self.feature_model, root),
            dataset: self.dataset.clone(),
            resolution: self.resolution,
            held_out: self.held_out.clone(),
            class_prompt: self.class_prompt.clone(),
            instance_prompt: self.instance_prompt.clone(),
            instance_images: self.instance_images,
            max_tokens: self.max_tokens,
            seed,
            method,
            rank,
            iters: if method.trains() { self.iters } else { 0 },
            batch_size: self.batch_size,
            checkpoint_every: self.checkpoint_every,
            flow: self.flow.clone(),
            ema_decay: self.ema_decay,
            prior: self.prior.clone(),
            sampling: self.sampling.clone(),
            validation_fraction,
            adapter,
            optim,
        })
    }
}
