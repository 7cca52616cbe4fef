//! Which results a command reads by default: the user's own runs (`<results>/<task>/<run>/`,
//! `<results>/<task>/summary.csv`) or, when there are none, the committed reference
//! (`<results>/reference/<task>/<run>/`, `<results>/reference/<task>/summary.csv`).
//!
//! * `svd`: the latest adapter runs under `<results>/<task>/`; if there is not one, those under
//!   `<results>/reference/<task>/` (said on stderr).
//! * `rank-sweep`: `<results>/classification/summary.csv` if it exists and holds a data row, else
//!   `<results>/reference/classification/summary.csv` (said on stderr).
//! * `report`: `<results>/<task>/` if its summary holds a data row, else
//!   `<results>/reference/<task>/` (said on stderr).
//! * `compare`: ours is always `<results>/<task>/summary.csv`, the reference
//!   `<results>/reference/<task>/summary.csv`.

use std::path::{Path, PathBuf};

use formats::run::SUMMARY_TABLE;

use crate::error::{Error, Result};
use crate::run::{latest_runs, Run, TASKS};

/// The folder under the results folder that holds the committed reference results.
pub const REFERENCE_DIR: &str = "reference";

/// `<results>/reference`: the committed reference, laid out like `<results>` itself.
pub fn reference_root(results: &Path) -> PathBuf {
    results.join(REFERENCE_DIR)
}

/// `<results>/<task>/summary.csv`: the summary of the user's own runs.
pub fn own_summary(results: &Path, task: &str) -> PathBuf {
    results.join(task).join(SUMMARY_TABLE)
}

/// `<results>/reference/<task>/summary.csv`: the committed reference summary.
pub fn reference_summary(results: &Path, task: &str) -> PathBuf {
    own_summary(&reference_root(results), task)
}

/// The runs `svd` analyses when none are named: the latest of each (backbone, method) among the
/// user's runs, else among the committed reference runs; `root` resolves their `model_dir`.
pub fn svd_runs(results: &Path, root: &Path) -> Result<Vec<Run>> {
    let runs = latest_runs(results, root)?;
    if !runs.is_empty() {
        return Ok(runs);
    }
    let reference = reference_root(results);
    let runs = latest_runs(&reference, root)?;
    if runs.is_empty() {
        return Err(Error::Usage(format!(
            "no run folder with config.json and adapter_model.safetensors under {} or {} ({}); pass --runs",
            results.display(),
            reference.display(),
            TASKS.join(", ")
        )));
    }
    eprintln!(
        "svd: no runs of your own under {}/: rendering the committed reference ({}/)",
        results.display(),
        reference.display()
    );
    Ok(runs)
}

/// The summary `rank-sweep` reads when none is named: the user's classification summary if it
/// exists and holds a data row, else the committed reference's.
pub fn sweep_summary(results: &Path) -> Result<PathBuf> {
    let own = own_summary(results, "classification");
    if has_data_row(&own) {
        return Ok(own);
    }
    let reference = reference_summary(results, "classification");
    if !reference.is_file() {
        return Err(Error::Usage(format!(
            "no classification summary: neither {} nor {} exists; run `make reproduce-clip` or pass --summary",
            own.display(),
            reference.display()
        )));
    }
    eprintln!(
        "rank-sweep: no runs of your own in {}: rendering the committed reference ({})",
        own.display(),
        reference.display()
    );
    Ok(reference)
}

/// The task folder `report` reads when none is named: `<results>/<task>` if its summary holds a
/// data row, else the committed `<results>/reference/<task>`.
pub fn report_dir(results: &Path, task: &str) -> Result<PathBuf> {
    let own = own_summary(results, task);
    if has_data_row(&own) {
        return Ok(results.join(task));
    }
    let reference = reference_summary(results, task);
    if !reference.is_file() {
        return Err(Error::Usage(format!(
            "no {task} summary: neither {} nor {} exists; run the experiments first or pass --from",
            own.display(),
            reference.display()
        )));
    }
    eprintln!(
        "report: no runs of your own in {}: reporting the committed reference ({})",
        own.display(),
        reference.display()
    );
    Ok(reference_root(results).join(task))
}

/// Whether the CSV file at `path` exists and has a line after its header.
fn has_data_row(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .map(|text| text.lines().skip(1).any(|l| !l.trim().is_empty()))
        .unwrap_or(false)
}
