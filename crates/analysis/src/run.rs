//! Run folders (`results/<task>/<run>/`): the fields of `config.json` the analysis reads, and
//! discovery of the latest run of each (backbone, method).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::adapter::ADAPTER_WEIGHTS;
use crate::error::{Error, Result};
use crate::json;
use crate::method::Method;

/// File name of a run's resolved configuration.
pub const RUN_CONFIG: &str = "config.json";

/// The tasks whose runs carry adapters worth a spectrum.
pub const TASKS: [&str; 2] = ["classification", "segmentation"];

/// What the analysis needs from a run's `config.json`; other fields are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The run folder.
    pub dir: PathBuf,
    /// `backbone`, e.g. `clip-vit-b16`.
    pub backbone: String,
    /// `model_dir`: the transformers-style folder holding `model.safetensors` (a relative path is
    /// taken from the current directory, as the runners write it).
    pub model_dir: PathBuf,
    /// `method`.
    pub method: Method,
    /// `rank`.
    pub rank: usize,
}

impl Run {
    /// Reads `dir/config.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(RUN_CONFIG);
        let root = json::read(&path)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            backbone: json::string(&root, &path, "backbone")?,
            model_dir: PathBuf::from(json::string(&root, &path, "model_dir")?),
            method: Method::parse(&json::string(&root, &path, "method")?, &path)?,
            rank: json::positive(&root, &path, "rank")?,
        })
    }

    /// The run folder's name.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// The latest run (by folder modification time, then name) of each (backbone, method) among the
/// folders of `results/<task>/` that hold `config.json` and an adapter, for every task in [`TASKS`].
pub fn latest_runs(results: &Path) -> Result<Vec<Run>> {
    let mut latest: BTreeMap<(String, Method), (SystemTime, String, Run)> = BTreeMap::new();
    for task in TASKS {
        let task_dir = results.join(task);
        if !task_dir.is_dir() {
            continue;
        }
        for entry in fs::read_dir(&task_dir).map_err(|e| Error::io(&task_dir, e))? {
            let dir = entry.map_err(|e| Error::io(&task_dir, e))?.path();
            if !dir.join(RUN_CONFIG).is_file() || !dir.join(ADAPTER_WEIGHTS).is_file() {
                continue;
            }
            let run = Run::read(&dir)?;
            let modified = fs::metadata(&dir)
                .and_then(|m| m.modified())
                .map_err(|e| Error::io(&dir, e))?;
            let key = (run.backbone.clone(), run.method);
            let candidate = (modified, run.name(), run);
            if latest
                .get(&key)
                .is_none_or(|best| (best.0, &best.1) < (candidate.0, &candidate.1))
            {
                latest.insert(key, candidate);
            }
        }
    }
    Ok(latest.into_values().map(|(_, _, run)| run).collect())
}
