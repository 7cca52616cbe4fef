//! `report/table.csv`: per (model, data set, shots, method, rank) the seeds, the trainable
//! parameters, the mean and sample standard deviation (n − 1) of the metric, the mean of the
//! untrained model's metric, the mean and std of the task's further measures and the mean training
//! time.
//!
//! Columns: `backbone` (`model` for segmentation and generation), `dataset`, `shots`
//! (classification), `method`, `rank`, `n`, `trainable_params`, `<metric>_mean`, `<metric>_std`
//! (0 for one seed), `zero_shot_<metric>_mean` (classification, segmentation; generation's base
//! model is its `zero_shot` row), `<measure>_mean` and `<measure>_std` for each further measure
//! (generation: `kid`, `instance_accuracy`, `preservation_accuracy`; over the seeds that record
//! it) and `train_seconds_mean`; a cell is empty where the summary has no value.

use std::path::Path;

use formats::Method;

use crate::compare::Task;
use crate::error::Result;
use crate::plot::fig5::RankPoint;
use crate::report::cells::{params, Cells};
use crate::report::rows::{Group, Row};
use crate::report::write::{optional, write_csv};
use crate::stats::mean_std;

/// One line of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    /// Model, data set and shots.
    pub group: Group,
    /// Method.
    pub method: Method,
    /// Rank (0 for the baselines).
    pub rank: usize,
    /// Seeds averaged.
    pub n: usize,
    /// Trainable parameters.
    pub trainable_params: u64,
    /// Mean of the metric over seeds.
    pub mean: f64,
    /// Sample standard deviation (n − 1) of the metric; 0 for one seed.
    pub std: f64,
    /// Mean of the untrained model's metric over the seeds that record it.
    pub before: Option<f64>,
    /// Mean and sample std of each further measure ([`Task::extra_metrics`]) over the seeds that
    /// record it.
    pub extras: Vec<Option<(f64, f64)>>,
    /// Mean training time over the seeds that record it, seconds.
    pub train_seconds: Option<f64>,
}

impl RankPoint for TableRow {
    fn method(&self) -> Method {
        self.method
    }

    fn rank(&self) -> usize {
        self.rank
    }

    fn trainable_params(&self) -> u64 {
        self.trainable_params
    }

    fn mean(&self) -> f64 {
        self.mean
    }

    fn std(&self) -> f64 {
        self.std
    }
}

/// The table of `cells`, in cell order (model, data set, shots, method, rank).
pub fn table(cells: &Cells) -> Vec<TableRow> {
    cells
        .iter()
        .map(|((group, method, rank), by_seed)| {
            let scores: Vec<f64> = by_seed.values().map(|r| r.score).collect();
            let (mean, std) = mean_std(&scores);
            TableRow {
                group: group.clone(),
                method: *method,
                rank: *rank,
                n: scores.len(),
                trainable_params: params(by_seed),
                mean,
                std,
                before: mean_of(by_seed.values().filter_map(|r| r.before)),
                extras: extras(&by_seed.values().collect::<Vec<_>>()),
                train_seconds: mean_of(by_seed.values().filter_map(|r| r.train_seconds)),
            }
        })
        .collect()
}

/// Mean and sample std of each further measure over the `rows` that record it.
fn extras(rows: &[&Row]) -> Vec<Option<(f64, f64)>> {
    let count = rows.first().map_or(0, |r| r.extras.len());
    (0..count)
        .map(|i| {
            let values: Vec<f64> = rows.iter().filter_map(|r| r.extras[i]).collect();
            (!values.is_empty()).then(|| mean_std(&values))
        })
        .collect()
}

/// The mean of `values`, `None` when there is none.
pub fn mean_of(values: impl Iterator<Item = f64>) -> Option<f64> {
    let values: Vec<f64> = values.collect();
    (!values.is_empty()).then(|| mean_std(&values).0)
}

/// Writes the `task`'s table to `path` atomically.
pub fn write(path: &Path, task: Task, rows: &[TableRow]) -> Result<()> {
    let metric = task.metric();
    let mut header = vec![task.model_column().to_string(), "dataset".into()];
    if task == Task::Classification {
        header.push("shots".into());
    }
    header.extend(["method", "rank", "n", "trainable_params"].map(String::from));
    header.extend([format!("{metric}_mean"), format!("{metric}_std")]);
    header.extend(task.zero_shot_column().map(|c| format!("{c}_mean")));
    for m in task.extra_metrics() {
        header.extend([format!("{m}_mean"), format!("{m}_std")]);
    }
    header.push("train_seconds_mean".into());
    let lines = rows.iter().map(|r| {
        let mut line = vec![r.group.backbone.clone(), r.group.dataset.clone()];
        if task == Task::Classification {
            line.push(optional(r.group.shots));
        }
        line.extend([
            r.method.name().to_string(),
            r.rank.to_string(),
            r.n.to_string(),
            r.trainable_params.to_string(),
            r.mean.to_string(),
            r.std.to_string(),
        ]);
        if task.zero_shot_column().is_some() {
            line.push(optional(r.before));
        }
        for extra in &r.extras {
            line.extend([optional(extra.map(|e| e.0)), optional(extra.map(|e| e.1))]);
        }
        line.push(optional(r.train_seconds));
        line
    });
    write_csv(path, &header, lines)
}
