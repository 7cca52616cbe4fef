//! The experiment file (`experiments/*.toml`): a grid of runs, and the fully resolved [`RunSpec`]
//! of one run that is written to its `config.json` (with `backbone`, `model_dir`, `method`, `rank`
//! for `analysis svd`). `prompt` picks the protocol: box prompts per instance (the default) or
//! SAMed's prompt-free semantic mask ([`Prompt`]).

use std::collections::BTreeMap;
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

/// The experiment file: every (seed, method, rank) is one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Name of the backbone in reports (e.g. `litemedsam`, `sam-vit-b`).
    pub backbone: String,
    /// Model directory (`config.json` + `model.safetensors`); relative to the workspace root.
    pub model_dir: PathBuf,
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
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Methods.
    pub methods: Vec<Method>,
    /// Ranks.
    pub ranks: Vec<i64>,
    /// Further ranks of some methods (e.g. `serial_lora = [16]`: the parameter-matched pair of
    /// LoRA (q, v) at rank 8).
    #[serde(default)]
    pub extra_ranks: BTreeMap<Method, Vec<i64>>,
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
    /// Save a resumable checkpoint every this many steps.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: usize,
    /// Adapter settings.
    pub adapter: AdapterSection,
    /// Optimiser settings.
    pub optim: OptimSection,
    /// Learning-rate selection: when present, every method trains with the learning rate (and λ)
    /// that scored best on a validation split inside the training half (`--select`).
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

    /// The run folder name: every grid coordinate, so a rerun resumes the same folder.
    pub fn name(&self) -> String {
        let dataset = self
            .dataset
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_");
        let decoder = if self.train_decoder { "_dec" } else { "" };
        let name = format!(
            "{}_{dataset}_{}_r{}_seed{}{decoder}",
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
}

impl runner::Experiment for Experiment {
    type Spec = RunSpec;

    fn validate(&self) -> Result<()> {
        runner::require_non_empty(&[
            ("seeds", self.seeds.is_empty()),
            ("methods", self.methods.is_empty()),
            ("ranks", self.ranks.is_empty()),
        ])?;
        let multiclass = is_multiclass(&self.dataset);
        let allowed = |m: &Method| m.has_adapter() || (multiclass && *m == Method::Probe);
        if let Some(m) = self.methods.iter().find(|m| !allowed(m)) {
            bail!("field `methods`: `{m}` is not an adapter method (lora, serial_lora, lora_plus, serial_lora_plus; probe, the decoder alone, with camvid)");
        }
        if let Some(m) = self.extra_ranks.keys().find(|m| !m.has_adapter()) {
            bail!("field `extra_ranks`: `{m}` has no adapter, so no rank");
        }
        self.check_prompt()?;
        self.check_multiclass()?;
        let mut checks = Checks::new();
        checks.path_component("backbone", &self.backbone);
        if self.dataset.is_empty() {
            checks.problem("field `dataset` is empty");
        }
        for ranks in self.extra_ranks.values() {
            checks.all_at_least("extra_ranks", ranks, 1);
        }
        checks
            .all_at_least("ranks", &self.ranks, 1)
            .at_least("iters", self.iters, 1)
            .at_least("checkpoint_every", self.checkpoint_every, 1);
        if let Some(b) = self.boxes_per_step {
            checks.at_least("boxes_per_step", b, 1);
        }
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
        if o.data_root.is_some() {
            self.data_root = o.data_root.clone();
        }
    }

    fn runs(&self, root: &Path, stage: Stage) -> Result<Vec<RunSpec>> {
        match stage {
            Stage::Final(selected) => Experiment::runs(self, root, selected),
            Stage::Select(select) => {
                let mut runs = Vec::new();
                for &method in &self.methods {
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

impl Experiment {
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

    /// The ranks `method` runs at: none (0) for the decoder alone, else `ranks` then its
    /// `extra_ranks`.
    fn method_ranks(&self, method: Method) -> Vec<i64> {
        if !method.has_adapter() {
            return vec![0];
        }
        let mut ranks = self.ranks.clone();
        ranks.extend(self.extra_ranks.get(&method).into_iter().flatten());
        ranks
    }

    /// Every run, in seed → method → rank order; `root` resolves relative paths; `selected`
    /// gives each method its learning rate and λ (else the file's `[optim]` and `[adapter]`).
    pub fn runs(&self, root: &Path, selected: Option<&Selected>) -> Result<Vec<RunSpec>> {
        let mut runs = Vec::new();
        for &seed in &self.seeds {
            for &method in &self.methods {
                let hyper = selected
                    .map(|s| s.get(&self.backbone, &self.dataset, method))
                    .transpose()?;
                for rank in self.method_ranks(method) {
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
        let optim = optim_config(&optim_section, method, adapter.as_ref(), self.iters)?;
        Ok(RunSpec {
            precision: self.precision,
            backbone: self.backbone.clone(),
            model_dir: portable(&self.model_dir, root),
            dataset: self.dataset.clone(),
            data_root: self.data_root.as_ref().map(|d| portable(d, root)),
            image_size: self.image_size,
            seed,
            method,
            rank,
            iters: self.iters,
            prompt: self.prompt,
            boxes_per_step: self.boxes_per_step,
            normalize: self.normalize,
            train_decoder: self.train_decoder,
            checkpoint_every: self.checkpoint_every,
            dice_weight: 0.8,
            validation_fraction,
            adapter,
            optim,
        })
    }
}
