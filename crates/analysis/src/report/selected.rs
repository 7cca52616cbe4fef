//! `report/selected.csv`: the learning rate (and λ) chosen for each (backbone, data set, method)
//! on the validation split, from the task's `lr_selection.csv` (formats::selection).
//!
//! Columns: `backbone`, `dataset`, `method`, `rank`, `seed`, `lr`, `plus_ratio`, the table's
//! `validation_<metric>` column, and `candidates` (how many (lr, λ) pairs were tried).

use std::collections::BTreeMap;
use std::path::Path;

use formats::selection::{Candidate, Table};
use formats::Method;

use crate::error::Result;
use crate::report::write::write_csv;

/// The chosen row of one (backbone, data set, method).
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Backbone.
    pub backbone: String,
    /// Data set.
    pub dataset: String,
    /// Method.
    pub method: Method,
    /// Rank of the selection runs.
    pub rank: i64,
    /// Seed of the selection runs.
    pub seed: u64,
    /// The chosen learning rate.
    pub lr: f64,
    /// The chosen λ.
    pub plus_ratio: f64,
    /// Its validation score.
    pub score: f64,
    /// How many candidates of this (backbone, data set, method) were tried.
    pub candidates: usize,
}

/// The chosen rows of the selection table at `path` (read by [`formats::selection::Table`]) and
/// the name of its score column (`validation_accuracy`, `validation_dice`).
pub fn read(path: &Path) -> Result<(String, Vec<Choice>)> {
    let table = Table::read(path)?;
    let key = |c: &Candidate| (c.backbone.clone(), c.dataset.clone(), c.method);
    let mut tried: BTreeMap<(String, String, Method), usize> = BTreeMap::new();
    for (c, _) in &table.rows {
        *tried.entry(key(c)).or_default() += 1;
    }
    let mut picked: Vec<Choice> = table
        .rows
        .iter()
        .filter(|(_, chosen)| *chosen)
        .map(|(c, _)| Choice {
            backbone: c.backbone.clone(),
            dataset: c.dataset.clone(),
            method: c.method,
            rank: c.rank,
            seed: c.seed,
            lr: c.lr,
            plus_ratio: c.plus_ratio,
            score: c.score,
            candidates: tried[&key(c)],
        })
        .collect();
    picked.sort_by(|a, b| key_of(a).cmp(&key_of(b)));
    Ok((table.score_column, picked))
}

fn key_of(c: &Choice) -> (&str, &str, Method) {
    (&c.backbone, &c.dataset, c.method)
}

/// Writes the `choices` (score column `score_column`) to `path` atomically.
pub fn write(path: &Path, score_column: &str, choices: &[Choice]) -> Result<()> {
    let header: Vec<String> = [
        "backbone",
        "dataset",
        "method",
        "rank",
        "seed",
        "lr",
        "plus_ratio",
        score_column,
        "candidates",
    ]
    .map(String::from)
    .to_vec();
    let lines = choices.iter().map(|c| {
        vec![
            c.backbone.clone(),
            c.dataset.clone(),
            c.method.name().to_string(),
            c.rank.to_string(),
            c.seed.to_string(),
            c.lr.to_string(),
            c.plus_ratio.to_string(),
            c.score.to_string(),
            c.candidates.to_string(),
        ]
    });
    write_csv(path, &header, lines)
}
