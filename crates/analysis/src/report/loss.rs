//! Training-loss curves from the run folders' `metrics.csv` (columns `step, loss, …`, and
//! `loss_mean` where the run logged it), averaged over seeds, for the loss figure
//! (`figures/loss_<backbone>.png`): per model, one rank (the learning-rate selection's, else the
//! smallest adapter rank) for every method, the baselines, and Serial LoRA (+) at the rank with
//! LoRA's parameters at that rank (the parameter-matched pairs of [`crate::report::paired`]; 4r
//! with LoRA on q,k,v,o).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use formats::run::{read_json, CONFIG_FILE, METRICS_FILE, SUMMARY_FILE};
use formats::Method;
use serde::Deserialize;

use crate::error::{parse_method, Error, Result};
use crate::report::paired::{Comparison, Pair};
use crate::report::rows::Group;

/// The fields of a run's `config.json` the curves need (others are ignored).
#[derive(Deserialize)]
struct Header {
    backbone: String,
    dataset: String,
    #[serde(default)]
    shots: Option<usize>,
    method: String,
    rank: usize,
    seed: u64,
}

/// The `metrics.csv` column a curve follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossColumn {
    /// `loss_mean`: the mean training loss over every step since the previous row.
    IntervalMean,
    /// `loss`: the logged step's own loss, one step in each interval (runs from before
    /// `loss_mean`, or a curve where some seed's file lacks it).
    LoggedStep,
}

impl LossColumn {
    /// The column's name in `metrics.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Self::IntervalMean => "loss_mean",
            Self::LoggedStep => "loss",
        }
    }
}

/// A run's logged losses: each row's `loss`, and its `loss_mean` where the file has that column.
#[derive(Debug, Clone, PartialEq)]
pub struct Logged {
    /// (step, `loss`).
    pub step_loss: Vec<(u64, f64)>,
    /// (step, `loss_mean`), or `None` when the file has no such column.
    pub interval_mean: Option<Vec<(u64, f64)>>,
}

/// One line of the figure: a method's mean loss over seeds at one rank.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// Model, data set and shots (one panel each).
    pub group: Group,
    /// Method.
    pub method: Method,
    /// Rank (0 for the baselines).
    pub rank: usize,
    /// `Some(r)` for Serial LoRA (+) at the rank with LoRA's rank-r parameters.
    pub matched: Option<usize>,
    /// The column followed: `loss_mean` where every seed's file has it, else `loss`.
    pub column: LossColumn,
    /// Each seed's (step, loss), by seed.
    pub by_seed: BTreeMap<u64, Vec<(u64, f64)>>,
    /// (step, mean loss) at the steps every seed logged.
    pub points: Vec<(u64, f64)>,
}

impl Curve {
    /// The curve of the seeds' runs `logged` (by seed): `loss_mean` when all have it.
    pub fn of(
        group: Group,
        (method, rank, matched): (Method, usize, Option<usize>),
        logged: BTreeMap<u64, Logged>,
    ) -> Self {
        let every_step = logged.values().all(|l| l.interval_mean.is_some());
        let column = if every_step {
            LossColumn::IntervalMean
        } else {
            LossColumn::LoggedStep
        };
        let by_seed: BTreeMap<u64, Vec<(u64, f64)>> = logged
            .into_iter()
            .map(|(seed, l)| match l.interval_mean {
                Some(mean) if every_step => (seed, mean),
                _ => (seed, l.step_loss),
            })
            .collect();
        Self {
            points: mean_over_seeds(&by_seed),
            group,
            method,
            rank,
            matched,
            column,
            by_seed,
        }
    }

    /// Seeds averaged.
    pub fn seeds(&self) -> usize {
        self.by_seed.len()
    }
}

/// A finished run's identity and its logged losses.
type RunLoss = (Group, Method, usize, u64, Logged);

/// The curves of every model in the task folder `dir` (finished runs: `config.json`,
/// `summary.json` and `metrics.csv`), by model; models without adapter runs are left out, and so
/// are `pretrain` runs (they make a base model, e.g. generation's, rather than adapt one).
/// `select_rank` is the learning-rate selection's rank, used where a model has runs at it;
/// `pairs` (the report's paired differences) name the parameter-matched Serial ranks.
pub fn curves(
    dir: &Path,
    select_rank: Option<usize>,
    pairs: &[Pair],
) -> Result<BTreeMap<String, Vec<Curve>>> {
    type Key = (Group, Method, usize);
    let mut by_key: BTreeMap<Key, BTreeMap<u64, Logged>> = BTreeMap::new();
    for run in finished_runs(dir)? {
        let (group, method, rank, seed, points) = read_run(&run)?;
        if method == Method::Pretrain {
            continue;
        }
        by_key
            .entry((group, method, rank))
            .or_default()
            .insert(seed, points);
    }
    let mut ranks: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (group, method, rank) in by_key.keys() {
        if method.has_adapter() {
            ranks
                .entry(group.backbone.clone())
                .or_default()
                .insert(*rank);
        }
    }
    let mut out: BTreeMap<String, Vec<Curve>> = BTreeMap::new();
    for ((group, method, rank), seeds) in by_key {
        let Some(adapter_ranks) = ranks.get(&group.backbone) else {
            continue;
        };
        let r = select_rank
            .filter(|r| adapter_ranks.contains(r))
            .or_else(|| adapter_ranks.first().copied())
            .unwrap_or_default();
        let matched = pairs
            .iter()
            .find(|p| {
                p.comparison == Comparison::ParameterMatched
                    && p.group == group
                    && (p.a, p.a_rank, p.b_rank) == (method, rank, r)
            })
            .map(|p| p.b_rank);
        if !(matched.is_some() || rank == r || !method.has_adapter()) {
            continue;
        }
        out.entry(group.backbone.clone())
            .or_default()
            .push(Curve::of(group, (method, rank, matched), seeds));
    }
    Ok(out)
}

/// The mean loss at each step that every seed logged.
fn mean_over_seeds(seeds: &BTreeMap<u64, Vec<(u64, f64)>>) -> Vec<(u64, f64)> {
    let mut at: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for points in seeds.values() {
        for &(step, loss) in points {
            at.entry(step).or_default().push(loss);
        }
    }
    at.into_iter()
        .filter(|(_, losses)| losses.len() == seeds.len())
        .map(|(step, losses)| (step, losses.iter().sum::<f64>() / losses.len() as f64))
        .collect()
}

/// The sub-folders of `dir` holding a finished run with its metrics, sorted.
fn finished_runs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut runs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if [CONFIG_FILE, SUMMARY_FILE, METRICS_FILE]
            .iter()
            .all(|f| path.join(f).is_file())
        {
            runs.push(path);
        }
    }
    runs.sort();
    Ok(runs)
}

/// The identity (from `config.json`) and the losses (from `metrics.csv`) of the run in `dir`.
fn read_run(dir: &Path) -> Result<RunLoss> {
    let config = dir.join(CONFIG_FILE);
    let header: Header = read_json(&config)?;
    let method = parse_method(&header.method, &config)?;
    let group = Group {
        backbone: header.backbone,
        dataset: header.dataset,
        shots: header.shots,
    };
    let points = read_losses(&dir.join(METRICS_FILE))?;
    Ok((group, method, header.rank, header.seed, points))
}

/// The `loss` (and, where the file has the column, `loss_mean`) rows of the `metrics.csv` at
/// `path`; a missing `step` or `loss` column or a malformed value is an error naming the file,
/// line and column. Non-finite or non-positive losses are left out (the figure's loss axis is
/// logarithmic).
pub fn read_losses(path: &Path) -> Result<Logged> {
    let csv_error = |e: csv::Error| Error::csv(path, e.to_string());
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let header = reader.headers().map_err(csv_error)?.clone();
    let index = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| Error::csv(path, format!("has no `{name}` column")))
    };
    let (step, loss) = (index("step")?, index("loss")?);
    let mean = index("loss_mean").ok();
    let mut logged = Logged {
        step_loss: Vec::new(),
        interval_mean: mean.map(|_| Vec::new()),
    };
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, |p| p.line());
        let at = |i: usize| record.get(i).unwrap_or("").trim();
        let bad = |i: usize, what: &str| {
            Error::csv(
                path,
                format!(
                    "line {line}, column `{}`: `{}` is not {what}",
                    &header[i],
                    at(i)
                ),
            )
        };
        let s: u64 = at(step).parse().map_err(|_| bad(step, "an integer"))?;
        let number = |i: usize| -> Result<Option<f64>> {
            let v: f64 = at(i).parse().map_err(|_| bad(i, "a number"))?;
            Ok((v.is_finite() && v > 0.0).then_some(v))
        };
        if let Some(l) = number(loss)? {
            logged.step_loss.push((s, l));
        }
        if let (Some(i), Some(points)) = (mean, logged.interval_mean.as_mut()) {
            if let Some(m) = number(i)? {
                points.push((s, m));
            }
        }
    }
    Ok(logged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn both_columns_are_read_and_an_old_file_has_no_interval_mean() {
        let dir = tempfile::tempdir().unwrap();
        let new = write(
            dir.path(),
            "new.csv",
            "step,loss,loss_mean,lr\n10,0.5,0.75,1e-3\n20,nan,0.25,1e-3\n",
        );
        let logged = read_losses(&new).unwrap();
        assert_eq!(logged.step_loss, vec![(10, 0.5)]);
        assert_eq!(logged.interval_mean, Some(vec![(10, 0.75), (20, 0.25)]));
        let old = write(dir.path(), "old.csv", "step,loss,lr\n10,0.5,1e-3\n");
        assert_eq!(read_losses(&old).unwrap().interval_mean, None);
        let bad = write(dir.path(), "bad.csv", "step,loss,loss_mean\n10,0.5,x\n");
        let e = read_losses(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.csv") && e.contains("`loss_mean`"), "{e}");
    }

    #[test]
    fn a_curve_follows_loss_mean_only_when_every_seed_logged_it() {
        let group = Group {
            backbone: "m".into(),
            dataset: "d".into(),
            shots: None,
        };
        let logged = |mean: Option<f64>| Logged {
            step_loss: vec![(10, 1.0)],
            interval_mean: mean.map(|m| vec![(10, m)]),
        };
        let key = (Method::Lora, 8, None);
        let both = BTreeMap::from([(1, logged(Some(3.0))), (2, logged(Some(5.0)))]);
        let curve = Curve::of(group.clone(), key, both);
        assert_eq!(curve.column, LossColumn::IntervalMean);
        assert_eq!((curve.seeds(), curve.points.clone()), (2, vec![(10, 4.0)]));
        let mixed = BTreeMap::from([(1, logged(Some(3.0))), (2, logged(None))]);
        let curve = Curve::of(group, key, mixed);
        assert_eq!(curve.column, LossColumn::LoggedStep);
        assert_eq!(curve.points, vec![(10, 1.0)]);
    }
}
