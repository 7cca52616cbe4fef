//! Mean and standard deviation over seeds per (backbone, dataset, method, rank).

use std::collections::BTreeMap;
use std::path::Path;

use formats::Method;

use crate::error::{Error, Result};
use crate::plot::fig5::RankPoint;
use crate::stats::mean_std;
use crate::sweep::summary::Record;

/// One aggregated point of Figure 5.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Backbone.
    pub backbone: String,
    /// Data set.
    pub dataset: String,
    /// Method.
    pub method: Method,
    /// Rank.
    pub rank: usize,
    /// Trainable parameters (the same for every seed).
    pub trainable_params: u64,
    /// Shots per class of the aggregated runs.
    pub shots: usize,
    /// How many seeds were averaged.
    pub seeds: usize,
    /// Mean accuracy over seeds.
    pub accuracy_mean: f64,
    /// Sample standard deviation (n − 1) over seeds; 0 for a single seed.
    pub accuracy_std: f64,
}

impl RankPoint for Point {
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
        self.accuracy_mean
    }

    fn std(&self) -> f64 {
        self.accuracy_std
    }
}

/// Aggregates the `records` with `shots` shots over seeds, sorted by backbone, dataset, method and
/// rank. When a seed appears twice in a group the later row (a re-run) wins. `path` names the summary
/// in errors.
pub fn aggregate(records: &[Record], shots: usize, path: &Path) -> Result<Vec<Point>> {
    type Key = (String, String, Method, usize);
    let mut groups: BTreeMap<Key, BTreeMap<u64, &Record>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.shots == shots) {
        groups
            .entry((r.backbone.clone(), r.dataset.clone(), r.method, r.rank))
            .or_default()
            .insert(r.seed, r);
    }
    if groups.is_empty() {
        return Err(Error::csv(
            path,
            format!("holds no rows with shots = {shots}"),
        ));
    }
    groups
        .into_iter()
        .map(|((backbone, dataset, method, rank), by_seed)| {
            let rows: Vec<&Record> = by_seed.into_values().collect();
            let params = rows[0].trainable_params;
            if let Some(odd) = rows.iter().find(|r| r.trainable_params != params) {
                return Err(Error::csv(
                    path,
                    format!(
                        "{backbone}/{dataset}/{}/r={rank}: trainable_params differs between seeds ({params} vs {} for seed {})",
                        method.name(),
                        odd.trainable_params,
                        odd.seed
                    ),
                ));
            }
            let acc: Vec<f64> = rows.iter().map(|r| r.accuracy).collect();
            let (accuracy_mean, accuracy_std) = mean_std(&acc);
            Ok(Point { backbone, dataset, method, rank, trainable_params: params, shots, seeds: acc.len(), accuracy_mean, accuracy_std })
        })
        .collect()
}
