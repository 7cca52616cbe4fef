//! The experiment file every task shares: [`GridSection`] holds what every runner's file has (the
//! backbone and model, the grid axes, `[adapter]`, `[optim]`, `[select]`, `[slurm]`, precision,
//! the checkpoint interval), parsed and checked once; a task declares only its own fields
//! ([`TaskFields`]) and how one grid point becomes its run. [`ExperimentFile`] joins the two: one
//! TOML table, where a key that neither part knows is an error naming it and its line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use formats::check::Checks;
use formats::paths::portable;
use formats::sections::{adapter_config, optim_config};
use formats::{
    AdapterConfig, AdapterSection, Hyper, Method, OptimConfig, OptimSection, Precision,
    SelectSection, Selected,
};
use serde::de::{DeserializeOwned, Error as _, Visitor};
use serde::{Deserialize, Deserializer};

use crate::slurm::SlurmOptions;
use crate::task::{Experiment, Overrides, RunSpec, Stage};

/// Reads the experiment file at `path`; errors name the file (and the key and line at fault).
pub fn read_toml<T: FromStr<Err = anyhow::Error>>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.parse()
        .with_context(|| format!("{}: invalid experiment", path.display()))
}

/// Fails naming the first `(field, list is empty)` pair that is empty.
pub fn require_non_empty(lists: &[(&str, bool)]) -> Result<()> {
    if let Some((field, _)) = lists.iter().find(|(_, empty)| *empty) {
        bail!("field `{field}` is empty");
    }
    Ok(())
}

/// The fields every experiment file has, whatever its task.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GridSection {
    /// Name of the pre-trained model in run names and reports (e.g. `clip-vit-b16`).
    pub backbone: String,
    /// The model folder (transformers / diffusers layout); relative paths are taken from the
    /// repository root.
    pub model_dir: PathBuf,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Methods.
    pub methods: Vec<Method>,
    /// Adapter ranks (required when a method has an adapter; the others run once, at rank 0).
    #[serde(default)]
    pub ranks: Vec<i64>,
    /// Further ranks of some methods (e.g. `serial_lora = [16]`: the parameter-matched pair of
    /// LoRA (q, v) at rank 8).
    #[serde(default)]
    pub extra_ranks: BTreeMap<Method, Vec<i64>>,
    /// Save a resumable checkpoint every this many steps (the task's default when absent,
    /// [`TaskFields::CHECKPOINT_EVERY`]).
    #[serde(default)]
    pub checkpoint_every: Option<usize>,
    /// Adapter settings.
    pub adapter: AdapterSection,
    /// Optimiser settings.
    pub optim: OptimSection,
    /// Learning-rate selection: when present, every method trains with the learning rate (and λ)
    /// that scored best on a validation split (`--select`).
    #[serde(default)]
    pub select: Option<SelectSection>,
    /// Resources of each run on a Slurm cluster (`--slurm`).
    #[serde(default)]
    pub slurm: Option<SlurmOptions>,
    /// Arithmetic of every run: `fp32` (default), `bf16` or `fp16` (`--precision`).
    #[serde(default)]
    pub precision: Precision,
}

/// One point of the grid's seed × method × rank axes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GridPoint {
    /// Position of the seed in `seeds` (0: the first).
    pub seed_index: usize,
    /// Seed.
    pub seed: u64,
    /// Method.
    pub method: Method,
    /// Rank (0 without an adapter).
    pub rank: i64,
}

impl GridSection {
    /// The shared checks: the lists, the backbone as a path component, the ranks, the interval and
    /// the sections.
    fn check(&self, checks: &mut Checks) -> Result<()> {
        require_non_empty(&[
            ("seeds", self.seeds.is_empty()),
            ("methods", self.methods.is_empty()),
        ])?;
        if self.methods.iter().any(|m| m.has_adapter()) && self.ranks.is_empty() {
            bail!("field `ranks` is empty (the grid has adapter methods)");
        }
        if let Some(m) = self.extra_ranks.keys().find(|m| !m.has_adapter()) {
            bail!("field `extra_ranks`: `{m}` has no adapter, so no rank");
        }
        checks.path_component("backbone", &self.backbone);
        checks.all_at_least("ranks", &self.ranks, 1);
        for ranks in self.extra_ranks.values() {
            checks.all_at_least("extra_ranks", ranks, 1);
        }
        if let Some(every) = self.checkpoint_every {
            checks.at_least("checkpoint_every", every, 1);
        }
        for m in self.methods.iter().filter(|m| needs_full_lr(**m)) {
            if self.optim.full_lr.is_none() {
                checks.problem(format!(
                    "field `optim.full_lr` is required when `methods` has `{m}`"
                ));
            }
        }
        self.adapter.check(checks);
        self.optim.check(checks);
        if let Some(select) = &self.select {
            select.check(checks);
        }
        Ok(())
    }

    /// Applies the command line's model folder, backbone name and precision.
    fn apply(&mut self, o: &Overrides) {
        if let Some(p) = o.precision {
            self.precision = p;
        }
        if let Some(m) = &o.model_dir {
            self.model_dir = m.clone();
        }
        if let Some(b) = &o.backbone {
            self.backbone = b.clone();
        }
    }

    /// The ranks `method` runs at: none (0) without an adapter, the smallest for LoRA on q,k,v
    /// (a reference row), else `ranks` then the method's `extra_ranks`.
    pub fn method_ranks(&self, method: Method) -> Vec<i64> {
        match method {
            m if !m.has_adapter() => vec![0],
            Method::LoraQkv => self.ranks.iter().min().into_iter().copied().collect(),
            m => {
                let extra = self.extra_ranks.get(&m).into_iter().flatten();
                self.ranks.iter().chain(extra).copied().collect()
            }
        }
    }

    /// Every seed × method × rank, in that order.
    pub fn points(&self) -> Vec<GridPoint> {
        let mut points = Vec::new();
        for (seed_index, &seed) in self.seeds.iter().enumerate() {
            for &method in &self.methods {
                for rank in self.method_ranks(method) {
                    points.push(GridPoint {
                        seed_index,
                        seed,
                        method,
                        rank,
                    });
                }
            }
        }
        points
    }

    /// The `[select]` candidates: every trained method × candidate learning rate (and λ), at the
    /// section's rank (0 without an adapter).
    pub fn candidates(&self, select: &SelectSection) -> Vec<(Method, i64, Hyper)> {
        let mut out = Vec::new();
        for &method in self.methods.iter().filter(|m| m.trains()) {
            let rank = if method.has_adapter() { select.rank } else { 0 };
            out.extend(
                select
                    .candidates(method)
                    .into_iter()
                    .map(|h| (method, rank, h)),
            );
        }
        out
    }

    /// What the selection table chose for a trained `method` on `dataset`: its learning rate
    /// (and λ), and its schedule length when the table has one; nothing without a table.
    pub fn chosen(
        &self,
        selected: Option<&Selected>,
        dataset: &str,
        method: Method,
    ) -> Result<(Option<Hyper>, Option<usize>)> {
        match selected {
            Some(s) if method.trains() => Ok((
                Some(s.get(&self.backbone, dataset, method)?),
                s.steps(&self.backbone, dataset, method),
            )),
            _ => Ok((None, None)),
        }
    }

    /// The adapter and optimiser of a `method` run at `rank` for `steps` steps, with `hyper`'s
    /// learning rate and λ in place of the file's when given.
    pub fn sections(
        &self,
        method: Method,
        rank: i64,
        hyper: Option<Hyper>,
        steps: usize,
    ) -> Result<(Option<AdapterConfig>, OptimConfig)> {
        let (adapter_section, optim_section) = match hyper {
            Some(h) => h.apply(&self.adapter, &self.optim, method),
            None => (self.adapter.clone(), self.optim.clone()),
        };
        let adapter = adapter_config(&adapter_section, method, rank)?;
        let optim = optim_config(&optim_section, method, adapter.as_ref(), steps)?;
        Ok((adapter, optim))
    }
}

/// Methods whose learning rate is `optim.full_lr`.
fn needs_full_lr(method: Method) -> bool {
    matches!(method, Method::Full | Method::Pretrain)
}

/// What a task adds to the shared fields: its own keys of the experiment file, their checks,
/// the command-line values that concern them, and how the grid becomes its runs.
pub trait TaskFields: DeserializeOwned {
    /// One run of the grid, written as its `config.json`.
    type Spec: RunSpec;
    /// The checkpoint interval when the file gives none.
    const CHECKPOINT_EVERY: usize;
    /// Checks the task's fields (and those shared fields whose meaning is the task's, such as
    /// which methods it allows): an early error, or problems added to `checks`.
    fn check(&self, grid: &GridSection, checks: &mut Checks) -> Result<()>;
    /// Applies the command line's values that are the task's (training steps, data set, data
    /// root).
    fn apply(&mut self, overrides: &Overrides);
    /// Every run of `stage`.
    fn runs(&self, grid: &GridContext, stage: Stage) -> Result<Vec<Self::Spec>>;
}

/// The shared fields while an experiment becomes its runs: the checkpoint interval resolved and
/// the repository root that relative paths are taken from.
#[derive(Debug, Clone, Copy)]
pub struct GridContext<'a> {
    /// The shared fields.
    pub grid: &'a GridSection,
    /// The checkpoint interval: the file's, else the task's default.
    pub checkpoint_every: usize,
    /// The repository root.
    pub root: &'a Path,
}

impl GridContext<'_> {
    /// The model folder as a run records it (relative to the repository root when inside it).
    pub fn model_dir(&self) -> PathBuf {
        portable(&self.grid.model_dir, self.root)
    }

    /// A path of the file as a run records it (relative to the repository root when inside it).
    pub fn portable(&self, path: &Path) -> PathBuf {
        portable(path, self.root)
    }

    /// The runs of `stage` of a grid over one `dataset` (segmentation, generation), each made by
    /// `run`: the grid's points that `keep` keeps, each trained method with what the selection
    /// table chose for it (its schedule length is classification's alone), or every `[select]`
    /// candidate at the section's seed, scored on `select.fraction()` of the training data.
    pub fn expand<S>(
        &self,
        dataset: &str,
        stage: Stage,
        keep: impl Fn(&GridPoint) -> bool,
        run: impl Fn(RunPoint) -> Result<S>,
    ) -> Result<Vec<S>> {
        match stage {
            Stage::Final(selected) => self
                .grid
                .points()
                .into_iter()
                .filter(|p| keep(p))
                .map(|p| {
                    let (hyper, _) = self.grid.chosen(selected, dataset, p.method)?;
                    run(RunPoint {
                        seed: p.seed,
                        method: p.method,
                        rank: p.rank,
                        hyper,
                        validation_fraction: None,
                    })
                })
                .collect(),
            Stage::Select(select) => self
                .grid
                .candidates(select)
                .into_iter()
                .map(|(method, rank, hyper)| {
                    run(RunPoint {
                        seed: select.seed,
                        method,
                        rank,
                        hyper: Some(hyper),
                        validation_fraction: Some(select.fraction()),
                    })
                })
                .collect(),
        }
    }
}

/// One run of a grid over one data set ([`GridContext::expand`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunPoint {
    /// Seed.
    pub seed: u64,
    /// Method.
    pub method: Method,
    /// Rank (0 without an adapter).
    pub rank: i64,
    /// The learning rate and λ in place of the file's, when chosen or a candidate.
    pub hyper: Option<Hyper>,
    /// A selection candidate's share of the training data held out and scored.
    pub validation_fraction: Option<f64>,
}

/// An experiment file: the shared fields and the task's, from one TOML table.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentFile<T> {
    /// What every task's file has.
    pub grid: GridSection,
    /// The task's own fields.
    pub task: T,
}

/// An experiment file from its TOML text: a key that neither [`GridSection`] nor the task's fields
/// know is refused first, naming it and its line; then each part is read from the text itself, so
/// a wrong value's error shows its line and key.
impl<T: DeserializeOwned> FromStr for ExperimentFile<T> {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Self> {
        let table: toml::Table = toml::from_str(text)?;
        let (shared, own) = (field_names::<GridSection>(), field_names::<T>());
        if let Some(key) = table
            .keys()
            .find(|k| !shared.contains(&k.as_str()) && !own.contains(&k.as_str()))
        {
            let line = key_line(text, key).map_or_else(String::new, |n| format!(" (line {n})"));
            bail!(
                "unknown field `{key}`{line}: neither a field every experiment file has ({}) nor \
                 one of this task's ({})",
                shared.join(", "),
                own.join(", ")
            );
        }
        Ok(Self {
            grid: toml::from_str(text)?,
            task: toml::from_str(text)?,
        })
    }
}

/// The field names of a struct that derives `Deserialize` (what it passes to
/// `deserialize_struct`), without deserializing anything.
fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut names: &'static [&'static str] = &[];
    // The deserializer records the names and fails: the error is expected and dropped.
    let _ = T::deserialize(FieldNames(&mut names));
    names
}

/// A deserializer that only records the field names a struct asks for.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(Self::Error::custom("only a struct's field names are read"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The 1-based line where the top-level `key` is set (`key = …`) or opened (`[key]`).
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim_start();
            let assigned = line
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='));
            let opened = line
                .strip_prefix('[')
                .and_then(|rest| rest.strip_prefix(key))
                .is_some_and(|rest| rest.trim_start().starts_with(']') || rest.starts_with('.'));
            assigned || opened
        })
        .map(|i| i + 1)
}

impl<T: TaskFields> ExperimentFile<T> {
    /// The checkpoint interval: the file's, else the task's default.
    pub fn checkpoint_every(&self) -> usize {
        self.grid.checkpoint_every.unwrap_or(T::CHECKPOINT_EVERY)
    }

    /// The grid's runs (not the selection's), each trained method with what `selected` chose for
    /// it, else with the file's `[optim]` and `[adapter]` values; relative paths are taken from
    /// `root`, the repository root.
    pub fn grid_runs(&self, root: &Path, selected: Option<&Selected>) -> Result<Vec<T::Spec>> {
        Experiment::runs(self, root, Stage::Final(selected))
    }
}

impl<T: TaskFields> Experiment for ExperimentFile<T> {
    type Spec = T::Spec;

    fn validate(&self) -> Result<()> {
        let mut checks = Checks::new();
        self.grid.check(&mut checks)?;
        self.task.check(&self.grid, &mut checks)?;
        Ok(checks.finish()?)
    }

    fn apply(&mut self, overrides: &Overrides) {
        self.grid.apply(overrides);
        self.task.apply(overrides);
    }

    fn runs(&self, root: &Path, stage: Stage) -> Result<Vec<T::Spec>> {
        let grid = GridContext {
            grid: &self.grid,
            checkpoint_every: self.checkpoint_every(),
            root,
        };
        self.task.runs(&grid, stage)
    }

    fn selection(&self) -> Option<&SelectSection> {
        self.grid.select.as_ref()
    }

    fn slurm(&self) -> Option<&SlurmOptions> {
        self.grid.slurm.as_ref()
    }
}
