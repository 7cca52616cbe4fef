//! Learning-rate selection on a validation split: the experiment files' `[select]` section, the
//! committed table of every candidate (`lr_selection.csv`) and the chosen values that a grid's
//! runs then train with. Each method gets its own learning rate (and λ for the `+` variants),
//! scored on data held out of the training pool, never on the test set.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::check::Checks;
use crate::error::{Error, Result};
use crate::method::Method;
use crate::optim::OptimConfig;
use crate::sections::{AdapterSection, OptimSection};

/// Selection runs live in `<results>/<task>/selection/<run>/`.
pub const SELECTION_FOLDER: &str = "selection";
/// The selection table: `<results>/<task>/lr_selection.csv`.
pub const LR_SELECTION_FILE: &str = "lr_selection.csv";

/// `[select]`: the candidates each method is tried with, at one rank and one seed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectSection {
    /// Learning rates tried for every method (the head's for `probe`; the backbone's for `full`).
    pub lrs: Vec<f64>,
    /// λ values tried for the `+` variants (each with every learning rate).
    pub plus_ratios: Vec<f64>,
    /// The adapter rank of the selection runs.
    pub rank: i64,
    /// The seed of the selection runs.
    pub seed: u64,
    /// Share of the training pool held out for validation (per class where the task has classes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_fraction: Option<f64>,
    /// Classification, instead of `validation_fraction`: validate on this many more training
    /// images per class drawn outside the few-shot pool; the selection runs then train on the
    /// whole pool, as the grid's runs do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside_pool_per_class: Option<usize>,
    /// The selection runs' length when it differs from the grid's: the longest schedule tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iters: Option<usize>,
    /// Score the validation split every this many steps too (each run's `validation_curve.csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate_every: Option<usize>,
    /// The schedule rule's tolerance (needs `validate_every`): the grid trains for the first
    /// scored step after which no method's best validation score improves by more than this, and
    /// each method's candidate is chosen by its score at that step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plateau: Option<f64>,
}

impl SelectSection {
    /// Range checks of every field, as `select.<field>`.
    pub fn check(&self, checks: &mut Checks) {
        if self.lrs.is_empty() {
            checks.problem("field `select.lrs` is empty");
        }
        if self.plus_ratios.is_empty() {
            checks.problem("field `select.plus_ratios` is empty");
        }
        for lr in &self.lrs {
            checks.positive("select.lrs", *lr);
        }
        for ratio in &self.plus_ratios {
            checks.positive("select.plus_ratios", *ratio);
        }
        checks.at_least("select.rank", self.rank, 1);
        match (self.validation_fraction, self.outside_pool_per_class) {
            (Some(fraction), None) => {
                checks
                    .half_open("select.validation_fraction", fraction, 0.0, 1.0)
                    .positive("select.validation_fraction", fraction);
            }
            (None, Some(per_class)) => {
                checks.at_least("select.outside_pool_per_class", per_class, 1);
            }
            _ => {
                checks.problem(
                    "section `[select]` needs exactly one of `validation_fraction` and \
                     `outside_pool_per_class`",
                );
            }
        }
        if let Some(iters) = self.iters {
            checks.at_least("select.iters", iters, 1);
        }
        if let Some(every) = self.validate_every {
            checks.at_least("select.validate_every", every, 1);
        }
        if let Some(tolerance) = self.plateau {
            checks.non_negative("select.plateau", tolerance);
            if self.validate_every.is_none() {
                checks.problem("field `select.plateau` needs `select.validate_every`");
            }
        }
    }

    /// Problems for the fields only few-shot classification reads, in a task that validates on
    /// `validation_fraction` of its training data when a run finishes.
    pub fn check_fraction_only(&self, checks: &mut Checks) {
        let classification_only = [
            (
                "outside_pool_per_class",
                self.outside_pool_per_class.is_some(),
            ),
            ("iters", self.iters.is_some()),
            ("validate_every", self.validate_every.is_some()),
            ("plateau", self.plateau.is_some()),
        ];
        for (field, _) in classification_only.iter().filter(|(_, set)| *set) {
            checks.problem(format!(
                "field `select.{field}` is read by few-shot classification only; this task \
                 scores `validation_fraction` of its training data when a run finishes"
            ));
        }
    }

    /// The share of the pool held out (0 when the section validates outside the pool).
    pub fn fraction(&self) -> f64 {
        self.validation_fraction.unwrap_or(0.0)
    }

    /// Every (lr, λ) candidate of `method`: λ varies only for the `+` variants.
    pub fn candidates(&self, method: Method) -> Vec<Hyper> {
        let ratios: &[f64] = if method.is_plus() {
            &self.plus_ratios
        } else {
            &[1.0]
        };
        self.lrs
            .iter()
            .flat_map(|&lr| {
                ratios
                    .iter()
                    .map(move |&plus_ratio| Hyper { lr, plus_ratio })
            })
            .collect()
    }
}

/// The tuned values of one run: its peak learning rate and LoRA+ λ (1 for the others).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    /// Peak learning rate.
    pub lr: f64,
    /// λ: `B` trains at `lr·λ` (1 without a `+`).
    pub plus_ratio: f64,
}

impl Hyper {
    /// The sections of a `method` run with these values in place of the file's `lr` (`full_lr`
    /// for `full`) and `plus_ratio`.
    pub fn apply(
        &self,
        adapter: &AdapterSection,
        optim: &OptimSection,
        method: Method,
    ) -> (AdapterSection, OptimSection) {
        let mut adapter = adapter.clone();
        let mut optim = optim.clone();
        if matches!(method, Method::Full | Method::Pretrain) {
            optim.full_lr = Some(self.lr);
        } else {
            optim.lr = self.lr;
            optim.min_lr = optim.min_lr.min(self.lr);
        }
        if method.is_plus() {
            adapter.plus_ratio = self.plus_ratio;
        }
        (adapter, optim)
    }
}

/// A selection run's folder: `selection/<name>_lr<lr>[_ratio<λ>]` (λ only for the `+` variants),
/// from the values its optimiser trains with.
pub fn selection_run_name(name: &str, method: Method, optim: &OptimConfig) -> String {
    let ratio = if method.is_plus() {
        format!("_ratio{}", optim.lr_ratio)
    } else {
        String::new()
    };
    format!("{SELECTION_FOLDER}/{name}_lr{}{ratio}", optim.lr)
}

/// One finished selection run: what it tried and its validation score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Backbone name (one table serves every experiment of a task).
    pub backbone: String,
    /// Data set.
    pub dataset: String,
    /// Method.
    pub method: Method,
    /// Rank.
    pub rank: i64,
    /// Seed.
    pub seed: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// λ (1 without a `+`).
    pub plus_ratio: f64,
    /// The validation score (higher is better).
    pub score: f64,
    /// The step the score was taken at when a schedule rule chose it (the grid's length).
    pub steps: Option<usize>,
}

/// Writes `path` (atomically): every candidate, sorted, with `validation_<score_name>` and
/// `chosen` = the best score of its (backbone, data set, method): the highest, or the lowest when
/// `minimise` (a diverged candidate's score is NaN and never chosen over a number); ties go to the
/// smaller learning rate, then the smaller λ. Returns the chosen values.
pub fn write_table(
    path: &Path,
    score_name: &str,
    minimise: bool,
    candidates: &[Candidate],
) -> Result<Selected> {
    let mut sorted = candidates.to_vec();
    sorted.sort_by(|a, b| {
        (&a.backbone, &a.dataset, a.method)
            .cmp(&(&b.backbone, &b.dataset, b.method))
            .then(a.lr.total_cmp(&b.lr))
            .then(a.plus_ratio.total_cmp(&b.plus_ratio))
    });
    let mut chosen: BTreeMap<Key, &Candidate> = BTreeMap::new();
    for c in &sorted {
        let best = chosen.entry(key(c)).or_insert(c);
        if ranked(c.score, minimise) > ranked(best.score, minimise) {
            *best = c;
        }
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| Error::parse(path, e.to_string());
    let score_column = format!("validation_{score_name}");
    // The `steps` column only where a schedule rule chose a length: older tables keep their bytes.
    let with_steps = sorted.iter().any(|c| c.steps.is_some());
    let mut header = vec![
        "backbone",
        "dataset",
        "method",
        "rank",
        "seed",
        "lr",
        "plus_ratio",
        &score_column,
        "chosen",
    ];
    if with_steps {
        header.push("steps");
    }
    out.write_record(&header).map_err(csv_error)?;
    for c in &sorted {
        let is_chosen = std::ptr::eq(chosen[&key(c)], c);
        let mut record = vec![
            c.backbone.clone(),
            c.dataset.clone(),
            c.method.name().to_string(),
            c.rank.to_string(),
            c.seed.to_string(),
            c.lr.to_string(),
            c.plus_ratio.to_string(),
            format!("{:.6}", c.score),
            is_chosen.to_string(),
        ];
        if with_steps {
            record.push(c.steps.map_or(String::new(), |s| s.to_string()));
        }
        out.write_record(&record).map_err(csv_error)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| Error::parse(path, e.to_string()))?;
    write_atomic(path, &bytes)?;
    Ok(Selected::new(
        path,
        chosen.into_values().map(|c| (c.clone(), true)).collect(),
    ))
}

/// A score for ranking, higher is better: a diverged candidate's NaN ranks below every number.
fn ranked(score: f64, minimise: bool) -> f64 {
    if score.is_nan() {
        f64::NEG_INFINITY
    } else if minimise {
        -score
    } else {
        score
    }
}

/// (backbone, data set, method).
type Key = (String, String, Method);

fn key(c: &Candidate) -> Key {
    (c.backbone.clone(), c.dataset.clone(), c.method)
}

/// The chosen values of a selection table, per (backbone, data set, method).
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    path: PathBuf,
    chosen: BTreeMap<Key, Hyper>,
    /// The schedule length chosen with them, where a schedule rule chose one.
    steps: BTreeMap<Key, usize>,
    /// Lenient: [`Selected::get`] answers a missing entry with a placeholder and records it.
    lenient: bool,
    missing: RefCell<BTreeSet<(String, Method)>>,
}

/// What a lenient [`Selected::get`] answers for an entry it does not hold: never trained, because
/// the runs that asked for it are either filtered out or refused ([`Selected::missing`]).
const PLACEHOLDER: Hyper = Hyper {
    lr: 1e-3,
    plus_ratio: 1.0,
};

/// A selection table as read back: the name of its score column (`validation_accuracy`, …) and
/// every row with its `chosen` mark.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The score column's name.
    pub score_column: String,
    /// Every candidate and whether it was chosen.
    pub rows: Vec<(Candidate, bool)>,
}

impl Table {
    /// Reads the table at `path` (as [`write_table`] writes it); errors name the file and row.
    pub fn read(path: &Path) -> Result<Self> {
        let (score_column, rows) = read_candidates(path, |row| {
            let chosen = row.field("chosen")?;
            chosen.parse().map_err(|_| row.bad("chosen", chosen))
        })?;
        Ok(Self { score_column, rows })
    }
}

/// One row of a candidate table being read: its values by column name, errors naming the file
/// and row.
pub(crate) struct Row<'a> {
    path: &'a Path,
    headers: &'a csv::StringRecord,
    record: &'a csv::StringRecord,
    row: usize,
}

impl Row<'_> {
    /// The value of column `name`.
    pub(crate) fn field(&self, name: &str) -> Result<&str> {
        let at = self.headers.iter().position(|h| h == name);
        at.and_then(|i| self.record.get(i))
            .ok_or_else(|| Error::parse(self.path, format!("row {}: no `{name}` value", self.row)))
    }

    /// The error for an unreadable `value` of column `name`.
    pub(crate) fn bad(&self, name: &str, value: &str) -> Error {
        Error::parse(
            self.path,
            format!("row {}, `{name}`: cannot read `{value}`", self.row),
        )
    }

    /// The number in column `name`.
    pub(crate) fn number<T: std::str::FromStr>(&self, name: &str) -> Result<T> {
        let v = self.field(name)?;
        v.parse().map_err(|_| self.bad(name, v))
    }
}

/// Reads a table of candidates at `path` (the columns of [`write_table`]; its score is the
/// `validation_<score>` column, whose name is returned), each row with what `extra` reads from
/// it.
pub(crate) fn read_candidates<T>(
    path: &Path,
    extra: impl Fn(&Row<'_>) -> Result<T>,
) -> Result<(String, Vec<(Candidate, T)>)> {
    let csv_error = |e: csv::Error| Error::parse(path, e.to_string());
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let headers = reader.headers().map_err(csv_error)?.clone();
    let score_column = headers
        .iter()
        .find(|h| h.starts_with("validation_"))
        .ok_or_else(|| Error::parse(path, "has no `validation_<score>` column"))?
        .to_string();
    let mut rows = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(csv_error)?;
        let row = Row {
            path,
            headers: &headers,
            record: &record,
            row: line + 1,
        };
        let method = row.field("method")?;
        let candidate = Candidate {
            backbone: row.field("backbone")?.to_string(),
            dataset: row.field("dataset")?.to_string(),
            method: method.parse().map_err(|_| row.bad("method", method))?,
            rank: row.number("rank")?,
            seed: row.number("seed")?,
            lr: row.number("lr")?,
            plus_ratio: row.number("plus_ratio")?,
            score: row.number(&score_column)?,
            steps: match row.field("steps") {
                Ok("") | Err(_) => None,
                Ok(_) => Some(row.number("steps")?),
            },
        };
        rows.push((candidate, extra(&row)?));
    }
    Ok((score_column, rows))
}

impl Selected {
    /// Reads the rows marked `chosen` of the table at `path`; a missing file says how to make it.
    pub fn read(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::parse(
                path,
                "no learning-rate selection yet: this experiment has a [select] section, so run \
                 its selection first (the same command with --select)",
            ));
        }
        Ok(Self::new(path, Table::read(path)?.rows))
    }

    /// A strict table at `path` holding the rows marked chosen.
    fn new(path: &Path, rows: Vec<(Candidate, bool)>) -> Self {
        let chosen = rows.iter().filter(|(_, chosen)| *chosen);
        Self {
            path: path.to_path_buf(),
            chosen: chosen
                .clone()
                .map(|(c, _)| {
                    let hyper = Hyper {
                        lr: c.lr,
                        plus_ratio: c.plus_ratio,
                    };
                    (key(c), hyper)
                })
                .collect(),
            steps: chosen
                .filter_map(|(c, _)| c.steps.map(|s| (key(c), s)))
                .collect(),
            lenient: false,
            missing: RefCell::default(),
        }
    }

    /// Like [`Selected::read`], but a missing table is an empty one, and [`Selected::get`] answers
    /// what the table lacks with a placeholder while recording it in [`Selected::missing`]: a grid
    /// can then be expanded in full and filtered before anyone asks whether the runs that remain
    /// have their choices.
    pub fn read_lenient(path: &Path) -> Result<Self> {
        let mut selected = if path.is_file() {
            Self::read(path)?
        } else {
            Self::new(path, Vec::new())
        };
        selected.lenient = true;
        Ok(selected)
    }

    /// The (data set, method) pairs a lenient [`Selected::get`] was asked for and did not hold.
    pub fn missing(&self) -> BTreeSet<(String, Method)> {
        self.missing.borrow().clone()
    }

    /// The selection table's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The training length a schedule rule chose for (`backbone`, `dataset`, `method`), if any.
    pub fn steps(&self, backbone: &str, dataset: &str, method: Method) -> Option<usize> {
        let key = (backbone.to_string(), dataset.to_string(), method);
        self.steps.get(&key).copied()
    }

    /// The chosen values of (`backbone`, `dataset`, `method`), or an error naming the table.
    pub fn get(&self, backbone: &str, dataset: &str, method: Method) -> Result<Hyper> {
        let found = self
            .chosen
            .get(&(backbone.to_string(), dataset.to_string(), method))
            .copied();
        if found.is_none() && self.lenient {
            self.missing
                .borrow_mut()
                .insert((dataset.to_string(), method));
            return Ok(PLACEHOLDER);
        }
        found.ok_or_else(|| {
            Error::parse(
                &self.path,
                format!(
                    "no chosen learning rate for backbone `{backbone}`, data set `{dataset}` \
                         and method `{method}`: run the selection with these (--select)"
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(method: Method, lr: f64, plus_ratio: f64, score: f64) -> Candidate {
        Candidate {
            backbone: "vit".into(),
            dataset: "digits".into(),
            method,
            rank: 8,
            seed: 1,
            lr,
            plus_ratio,
            score,
            steps: None,
        }
    }

    #[test]
    fn a_minimised_score_chooses_the_lowest_and_never_a_diverged_candidate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LR_SELECTION_FILE);
        let table = [
            candidate(Method::Lora, 1e-4, 1.0, 0.30),
            candidate(Method::Lora, 1e-3, 1.0, 0.20),
            candidate(Method::Lora, 3e-3, 1.0, f64::NAN),
            candidate(Method::Lora, 1e-2, 1.0, 0.25),
        ];
        let selected = write_table(&path, "loss", true, &table).unwrap();
        let chosen = selected.get("vit", "digits", Method::Lora).unwrap();
        assert_eq!(chosen.lr, 1e-3);
    }

    #[test]
    fn the_best_validation_score_per_method_is_chosen_ties_to_the_smaller_lr() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LR_SELECTION_FILE);
        let table = [
            candidate(Method::Lora, 1e-4, 1.0, f64::NAN),
            candidate(Method::Lora, 1e-3, 1.0, 0.7),
            candidate(Method::Lora, 3e-3, 1.0, 0.9),
            candidate(Method::Lora, 1e-2, 1.0, 0.9),
            candidate(Method::SerialLoraPlus, 1e-2, 4.0, 0.6),
            candidate(Method::SerialLoraPlus, 1e-2, 16.0, 0.8),
        ];
        let selected = write_table(&path, "accuracy", false, &table).unwrap();
        let lora = Hyper {
            lr: 3e-3,
            plus_ratio: 1.0,
        };
        assert_eq!(selected.get("vit", "digits", Method::Lora).unwrap(), lora);
        let read = Selected::read(&path).unwrap();
        assert_eq!(read, selected);
        let table = Table::read(&path).unwrap();
        assert_eq!(table.score_column, "validation_accuracy");
        assert_eq!(table.rows.len(), 6);
        assert!(
            table.rows[0].0.score.is_nan() && !table.rows[0].1,
            "the diverged one"
        );
        assert_eq!(
            read.get("vit", "digits", Method::SerialLoraPlus)
                .unwrap()
                .plus_ratio,
            16.0
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(
            "backbone,dataset,method,rank,seed,lr,plus_ratio,validation_accuracy,chosen\n"
        ));
        assert_eq!(text.matches(",true").count(), 2, "{text}");
        let missing = read
            .get("vit", "faces", Method::Lora)
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("`faces`") && missing.contains("lr_selection.csv"),
            "{missing}"
        );
    }

    #[test]
    fn a_missing_table_says_to_run_the_selection() {
        let err = Selected::read(Path::new("nowhere/lr_selection.csv")).unwrap_err();
        assert!(err.to_string().contains("--select"), "{err}");
    }

    #[test]
    fn plus_variants_try_every_ratio_and_apply_sets_lr_and_ratio() {
        let select = SelectSection {
            lrs: vec![1e-3, 1e-2],
            plus_ratios: vec![4.0, 16.0],
            rank: 8,
            seed: 1,
            validation_fraction: Some(0.25),
            ..SelectSection::default()
        };
        assert_eq!(select.candidates(Method::Lora).len(), 2);
        assert_eq!(select.candidates(Method::LoraPlus).len(), 4);
        let adapter = AdapterSection {
            alpha: 8.0,
            scaling: Default::default(),
            dropout: 0.0,
            targets: vec![crate::Target::Q],
            plus_ratio: 2.0,
        };
        let optim = OptimSection {
            lr: 3e-4,
            full_lr: None,
            weight_decay: 0.0,
            warmup_steps: 0,
            min_lr: 1e-6,
            grad_clip: None,
        };
        let hyper = Hyper {
            lr: 1e-2,
            plus_ratio: 16.0,
        };
        let (a, o) = hyper.apply(&adapter, &optim, Method::SerialLoraPlus);
        assert_eq!((a.plus_ratio, o.lr), (16.0, 1e-2));
        let (a, o) = hyper.apply(&adapter, &optim, Method::Full);
        assert_eq!((a.plus_ratio, o.lr, o.full_lr), (2.0, 3e-4, Some(1e-2)));
        let (a, o) = hyper.apply(&adapter, &optim, Method::LoraPlus);
        let adapter = crate::sections::adapter_config(&a, Method::LoraPlus, 8).unwrap();
        let trained = crate::sections::optim_config(&o, Method::LoraPlus, adapter.as_ref(), 10);
        let trained = trained.unwrap();
        assert_eq!(
            selection_run_name("run", Method::LoraPlus, &trained),
            "selection/run_lr0.01_ratio16"
        );
        let plain = OptimConfig {
            lr_ratio: 1.0,
            ..trained
        };
        assert_eq!(
            selection_run_name("run", Method::Lora, &plain),
            "selection/run_lr0.01"
        );
    }
}
