//! Reading `results/classification/summary.csv` (one row per finished run).

use std::path::Path;

use serde::Deserialize;

use formats::Method;

use crate::error::{parse_method, Error, Result};

/// The columns of a summary row that the rank sweep reads (others, such as `steps`,
/// `train_seconds` and `peak_rss_mb`, are ignored; `zero_shot_accuracy` may be absent or empty).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct RawRecord {
    backbone: String,
    dataset: String,
    shots: usize,
    seed: u64,
    method: String,
    rank: usize,
    trainable_params: u64,
    accuracy: f64,
    #[serde(default)]
    zero_shot_accuracy: Option<f64>,
}

/// One run's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `backbone`.
    pub backbone: String,
    /// `dataset`.
    pub dataset: String,
    /// `shots` per class.
    pub shots: usize,
    /// `seed`.
    pub seed: u64,
    /// `method`.
    pub method: Method,
    /// `rank`.
    pub rank: usize,
    /// `trainable_params`.
    pub trainable_params: u64,
    /// `accuracy` (top-1, in the summary's unit).
    pub accuracy: f64,
    /// `zero_shot_accuracy` (the untrained model's accuracy on the same split), when recorded.
    pub zero_shot_accuracy: Option<f64>,
}

/// Reads every adapter row of the summary at `path`: rows of the baselines (`zero_shot`, `probe`,
/// `full`), which have no rank, are read and left out. An empty file, a missing column, a malformed
/// value or an unknown method is an error naming the file (and the line).
pub fn read_summary(path: &Path) -> Result<Vec<Record>> {
    let records: Vec<Record> = read_all(path)?
        .into_iter()
        .filter(|r| r.method.has_adapter())
        .collect();
    if records.is_empty() {
        return Err(Error::csv(
            path,
            "holds no adapter rows (only baselines: zero_shot, probe, full)",
        ));
    }
    Ok(records)
}

/// Reads every row of the summary at `path`, baselines included; errors as [`read_summary`].
pub fn read_all(path: &Path) -> Result<Vec<Record>> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| match e.into_kind() {
        csv::ErrorKind::Io(io) => Error::io(path, io),
        other => Error::csv(path, format!("{other:?}")),
    })?;
    let (mut records, mut rows) = (Vec::new(), 0);
    for row in reader.deserialize::<RawRecord>() {
        let raw = row.map_err(|e| Error::csv(path, e.to_string()))?;
        rows += 1;
        if !raw.accuracy.is_finite() {
            return Err(Error::csv(
                path,
                format!("row {rows}: accuracy is not a finite number"),
            ));
        }
        let method = parse_method(&raw.method, path)?;
        records.push(Record {
            method,
            backbone: raw.backbone,
            dataset: raw.dataset,
            shots: raw.shots,
            seed: raw.seed,
            rank: raw.rank,
            trainable_params: raw.trainable_params,
            accuracy: raw.accuracy,
            zero_shot_accuracy: raw.zero_shot_accuracy.filter(|a| a.is_finite()),
        });
    }
    if rows == 0 {
        return Err(Error::csv(path, "holds no data rows"));
    }
    Ok(records)
}
