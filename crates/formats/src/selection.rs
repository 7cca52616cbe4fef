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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub validation_fraction: f64,
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
        checks
            .at_least("select.rank", self.rank, 1)
            .half_open(
                "select.validation_fraction",
                self.validation_fraction,
                0.0,
                1.0,
            )
            .positive("select.validation_fraction", self.validation_fraction);
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
    out.write_record([
        "backbone",
        "dataset",
        "method",
        "rank",
        "seed",
        "lr",
        "plus_ratio",
        &score_column,
        "chosen",
    ])
    .map_err(csv_error)?;
    for c in &sorted {
        let is_chosen = std::ptr::eq(chosen[&key(c)], c);
        out.write_record([
            c.backbone.clone(),
            c.dataset.clone(),
            c.method.name().to_string(),
            c.rank.to_string(),
            c.seed.to_string(),
            c.lr.to_string(),
            c.plus_ratio.to_string(),
            format!("{:.6}", c.score),
            is_chosen.to_string(),
        ])
        .map_err(csv_error)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| Error::parse(path, e.to_string()))?;
    write_atomic(path, &bytes)?;
    Ok(Selected::new(
        path,
        chosen
            .into_iter()
            .map(|(key, c)| {
                let hyper = Hyper {
                    lr: c.lr,
                    plus_ratio: c.plus_ratio,
                };
                (key, hyper)
            })
            .collect(),
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
            let row = line + 1;
            let field = |name: &str| -> Result<&str> {
                let at = headers.iter().position(|h| h == name);
                at.and_then(|i| record.get(i))
                    .ok_or_else(|| Error::parse(path, format!("row {row}: no `{name}` value")))
            };
            let bad = |name: &str, value: &str| {
                Error::parse(path, format!("row {row}, `{name}`: cannot read `{value}`"))
            };
            let parsed = |name: &str| -> Result<f64> {
                let v = field(name)?;
                v.parse().map_err(|_| bad(name, v))
            };
            let (method, chosen) = (field("method")?, field("chosen")?);
            let candidate = Candidate {
                backbone: field("backbone")?.to_string(),
                dataset: field("dataset")?.to_string(),
                method: method.parse().map_err(|_| bad("method", method))?,
                rank: parsed("rank")? as i64,
                seed: parsed("seed")? as u64,
                lr: parsed("lr")?,
                plus_ratio: parsed("plus_ratio")?,
                score: parsed(&score_column)?,
            };
            rows.push((
                candidate,
                chosen.parse().map_err(|_| bad("chosen", chosen))?,
            ));
        }
        Ok(Self { score_column, rows })
    }
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
        let chosen = Table::read(path)?
            .rows
            .into_iter()
            .filter(|(_, chosen)| *chosen)
            .map(|(c, _)| {
                let hyper = Hyper {
                    lr: c.lr,
                    plus_ratio: c.plus_ratio,
                };
                (key(&c), hyper)
            })
            .collect();
        Ok(Self::new(path, chosen))
    }

    /// A strict table at `path` holding `chosen`.
    fn new(path: &Path, chosen: BTreeMap<Key, Hyper>) -> Self {
        Self {
            path: path.to_path_buf(),
            chosen,
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
            Self::new(path, BTreeMap::new())
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
            validation_fraction: 0.25,
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
