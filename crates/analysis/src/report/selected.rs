//! `report/selected.csv`: the learning rate (and λ) chosen for each (data set, method) on the
//! validation split, from the task's `lr_selection.csv` (formats::selection).
//!
//! Columns: `dataset`, `method`, `rank`, `seed`, `lr`, `plus_ratio`, the table's
//! `validation_<metric>` column, and `candidates` (how many (lr, λ) pairs were tried).

use std::collections::BTreeMap;
use std::path::Path;

use formats::Method;

use crate::error::{parse_method, Error, Result};
use crate::report::write::write_csv;

/// The chosen row of one (data set, method).
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Data set.
    pub dataset: String,
    /// Method.
    pub method: Method,
    /// Rank of the selection runs.
    pub rank: String,
    /// Seed of the selection runs.
    pub seed: String,
    /// The chosen learning rate, as written.
    pub lr: String,
    /// The chosen λ, as written.
    pub plus_ratio: String,
    /// Its validation score.
    pub score: f64,
    /// How many candidates of this (data set, method) were tried.
    pub candidates: usize,
}

/// The chosen rows of the selection table at `path` and the name of its score column
/// (`validation_accuracy`, `validation_dice`), by (data set, method). Missing columns, a
/// malformed `chosen` or score, or an unknown method are errors naming the file, line and column.
pub fn read(path: &Path) -> Result<(String, Vec<Choice>)> {
    let csv_error = |e: csv::Error| Error::csv(path, e.to_string());
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let index = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::csv(path, format!("has no `{name}` column")))
    };
    let score = header
        .iter()
        .position(|h| h.starts_with("validation_"))
        .ok_or_else(|| Error::csv(path, "has no `validation_<metric>` column"))?;
    let [dataset, method, rank, seed, lr, ratio, chosen] = [
        "dataset",
        "method",
        "rank",
        "seed",
        "lr",
        "plus_ratio",
        "chosen",
    ]
    .map(index);
    let (dataset, method, rank, seed, lr, ratio, chosen) =
        (dataset?, method?, rank?, seed?, lr?, ratio?, chosen?);
    let mut tried: BTreeMap<(String, Method), usize> = BTreeMap::new();
    let mut picked = Vec::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, |p| p.line());
        let at = |i: usize| record.get(i).unwrap_or("").trim().to_string();
        let bad = |i: usize, what: &str| {
            Error::csv(
                path,
                format!(
                    "line {line}, column `{}`: `{}` is not {what}",
                    header[i],
                    at(i)
                ),
            )
        };
        let m = parse_method(&at(method), path)?;
        *tried.entry((at(dataset), m)).or_default() += 1;
        let is_chosen: bool = at(chosen)
            .parse()
            .map_err(|_| bad(chosen, "true or false"))?;
        if is_chosen {
            picked.push(Choice {
                dataset: at(dataset),
                method: m,
                rank: at(rank),
                seed: at(seed),
                lr: at(lr),
                plus_ratio: at(ratio),
                score: at(score).parse().map_err(|_| bad(score, "a number"))?,
                candidates: 0,
            });
        }
    }
    for c in &mut picked {
        c.candidates = tried[&(c.dataset.clone(), c.method)];
    }
    picked.sort_by(|a, b| (&a.dataset, a.method).cmp(&(&b.dataset, b.method)));
    Ok((header[score].clone(), picked))
}

/// Writes the `choices` (score column `score_column`) to `path` atomically.
pub fn write(path: &Path, score_column: &str, choices: &[Choice]) -> Result<()> {
    let header: Vec<String> = [
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
            c.dataset.clone(),
            c.method.name().to_string(),
            c.rank.clone(),
            c.seed.clone(),
            c.lr.clone(),
            c.plus_ratio.clone(),
            c.score.to_string(),
            c.candidates.to_string(),
        ]
    });
    write_csv(path, &header, lines)
}
