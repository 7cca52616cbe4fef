//! `<results>/comparison/<task>.csv`: one row per cell of either summary.
//!
//! Columns: the task's key columns present in both summaries (classification: `backbone, dataset,
//! shots, method, rank`; segmentation and generation: `model, dataset, method, rank`), then
//! `seeds_ours, mean_ours, std_ours, seeds_reference, mean_reference, std_reference, difference,
//! within_spread, same_numerics, band, verdict`. The metric is `accuracy` (classification), `dice` (segmentation) or
//! `fd_dinov2` (generation, lower is better; its `zero_shot` row is the base model), in the
//! summaries' unit; `std` is the sample standard deviation over the cell's seeds (0 for one
//! seed); `difference` is `mean_ours − mean_reference`. A side without the cell has 0 seeds and
//! empty mean and std; its `difference` and `within_spread` are empty.
//!
//! The rule: a cell is `within_spread` when `|difference| ≤ 2·max(std_ours, std_reference)` if
//! either side has two seeds or more (the spread the seeds themselves show), and when
//! `|difference| ≤ 1e-6` if both sides have one seed (then the runs are the same computation: same seed, same machine → same numbers, so
//! anything more is a real difference). No tolerance is tighter than 1e-6.
//!
//! `same_numerics`: both sides computed under the same complete numerics signature; `band`: the
//! measured band of numerical noise for the cell's backbone and data set (empty if none).
//!
//! `verdict`: `exact` / `not_exact` (one seed each, same numerics or nothing known of them),
//! `reproduced` / `outside_noise` (one seed each, other numerics, within or beyond the band),
//! `within_spread` / `outside_spread` (two seeds or more on a side), `missing_in_ours` (only the
//! reference has the cell), `missing_in_reference` (only the user's summary has it).

use std::path::Path;

use formats::atomic::write_atomic;

use crate::compare::cells::Cell;
use crate::compare::verdict::Side;
use crate::error::{Error, Result};

/// The columns after the key columns.
pub const VALUE_COLUMNS: [&str; 11] = [
    "seeds_ours",
    "mean_ours",
    "std_ours",
    "seeds_reference",
    "mean_reference",
    "std_reference",
    "difference",
    "within_spread",
    "same_numerics",
    "band",
    "verdict",
];

/// Writes the `cells` (keyed by `key_columns`) to `path` atomically.
pub fn write(path: &Path, key_columns: &[&str], cells: &[Cell]) -> Result<()> {
    let csv_error = |e: csv::Error| Error::csv(path, e.to_string());
    let mut out = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = key_columns.iter().copied().chain(VALUE_COLUMNS).collect();
    out.write_record(&header).map_err(csv_error)?;
    for cell in cells {
        let verdict = cell.verdict();
        let mut row = cell.key.clone();
        row.extend(side(cell.ours.as_ref()));
        row.extend(side(cell.reference.as_ref()));
        row.push(cell.difference().map(|d| d.to_string()).unwrap_or_default());
        row.push(
            verdict
                .within_spread()
                .map(|w| w.to_string())
                .unwrap_or_default(),
        );
        row.push(cell.numerics.same_numerics.to_string());
        row.push(
            cell.numerics
                .band
                .map(|b| b.to_string())
                .unwrap_or_default(),
        );
        row.push(verdict.name().to_string());
        out.write_record(&row).map_err(csv_error)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| Error::csv(path, e.to_string()))?;
    Ok(write_atomic(path, &bytes)?)
}

/// `seeds, mean, std` of one side (`0`, empty, empty without the cell).
fn side(side: Option<&Side>) -> [String; 3] {
    match side {
        Some(s) => [s.seeds.to_string(), s.mean.to_string(), s.std.to_string()],
        None => ["0".into(), String::new(), String::new()],
    }
}
