//! Run folders: `<results>/<task>/<run>/` with the run's full resolved `config.json`, its
//! `metrics.csv`, the adapter files and, once it has finished, `summary.json`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::method::Method;

/// The run's full resolved configuration.
pub const CONFIG_FILE: &str = "config.json";
/// Written last, when the run has finished; its presence marks a finished run.
pub const SUMMARY_FILE: &str = "summary.json";
/// One row per logged training step.
pub const METRICS_FILE: &str = "metrics.csv";
/// The table collected from the finished runs of a task: `<results>/<task>/summary.csv`.
pub const SUMMARY_TABLE: &str = "summary.csv";

/// The fields of a run's `config.json` that every task writes and `analysis` reads; the rest of
/// the file is the task's own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    /// Backbone name in reports, e.g. `dinov2-s14`.
    pub backbone: String,
    /// The model folder, relative to the repository root when inside it (see [`crate::paths`]).
    pub model_dir: PathBuf,
    /// The method.
    pub method: Method,
    /// Adapter rank (0 without adapters).
    pub rank: i64,
    /// Seed.
    pub seed: u64,
}

impl RunHeader {
    /// Reads the header fields of `<dir>/config.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        read_json(&dir.join(CONFIG_FILE))
    }
}

/// Reads and parses the JSON file `path` into `T`, naming the file and field on failure.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::parse(path, format!("invalid JSON: {e}")))
}

/// The run folders (sub-folders holding `config.json`) of `<results>/<task>/`, sorted by name;
/// empty when the folder does not exist.
pub fn run_dirs(results: &Path, task: &str) -> Result<Vec<PathBuf>> {
    let task_dir = results.join(task);
    let entries = match std::fs::read_dir(&task_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&task_dir, e)),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(&task_dir, e))?.path();
        if path.join(CONFIG_FILE).is_file() {
            dirs.push(path);
        }
    }
    dirs.sort();
    Ok(dirs)
}
