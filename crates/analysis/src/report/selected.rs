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

/// The chosen candidate of one (backbone, data set, method) and how many were tried.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// The candidate with the best validation score.
    pub chosen: Candidate,
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
            chosen: c.clone(),
            candidates: tried[&key(c)],
        })
        .collect();
    picked.sort_by(|a, b| key_of(a).cmp(&key_of(b)));
    Ok((table.score_column, picked))
}

fn key_of(c: &Choice) -> (&str, &str, Method) {
    (&c.chosen.backbone, &c.chosen.dataset, c.chosen.method)
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
            c.chosen.backbone.clone(),
            c.chosen.dataset.clone(),
            c.chosen.method.name().to_string(),
            c.chosen.rank.to_string(),
            c.chosen.seed.to_string(),
            c.chosen.lr.to_string(),
            c.chosen.plus_ratio.to_string(),
            c.chosen.score.to_string(),
            c.candidates.to_string(),
        ]
    });
    write_csv(path, &header, lines)
}
