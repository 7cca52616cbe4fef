//! `<results>/<task>/summary.csv`, collected from the finished run folders (their
//! `summary.json`) rather than appended to, so shards, cluster jobs and reruns never lose or
//! duplicate a row and no shared-file lock is needed (safe on NFS).

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::run::{read_json, run_dirs, SUMMARY_FILE, SUMMARY_TABLE};

/// A finished run's summary as one row of its task's `summary.csv`.
pub trait SummaryRow: DeserializeOwned {
    /// The table's columns.
    const COLUMNS: &'static [&'static str];
    /// This run's values, one per column.
    fn row(&self) -> Vec<String>;
    /// The column a learning-rate selection optimises (e.g. `accuracy`, `dice`, `validation_loss`).
    const SCORE: &'static str;
    /// Whether the selection minimises [`SummaryRow::SCORE`] (a loss) rather than maximising it.
    const MINIMISE: bool = false;
    /// This run's value of [`SummaryRow::SCORE`].
    fn score(&self) -> f64;
}

/// Rebuilds `<results>/<task>/summary.csv` from every run folder's `summary.json` (sorted by
/// folder name) and returns its path and the number of rows.
pub fn collect<S: SummaryRow>(results: &Path, task: &str) -> Result<(PathBuf, usize)> {
    let path = results.join(task).join(SUMMARY_TABLE);
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| Error::parse(&path, e.to_string());
    out.write_record(S::COLUMNS).map_err(csv_error)?;
    let mut rows = 0;
    for dir in run_dirs(results, task)? {
        let file = dir.join(SUMMARY_FILE);
        if !file.is_file() {
            continue;
        }
        let summary: S = read_json(&file)?;
        let row = summary.row();
        if row.len() != S::COLUMNS.len() {
            return Err(Error::parse(
                &file,
                format!("{} values for {} columns", row.len(), S::COLUMNS.len()),
            ));
        }
        out.write_record(&row).map_err(csv_error)?;
        rows += 1;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| Error::parse(&path, e.to_string()))?;
    write_atomic(&path, &bytes)?;
    Ok((path, rows))
}
