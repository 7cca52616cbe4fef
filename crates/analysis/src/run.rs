//! Run folders (`results/<task>/<run>/`): the header of `config.json` ([`formats::RunHeader`])
//! with `model_dir` resolved on this machine, and discovery of the latest run of each
//! (backbone, method).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use formats::paths::resolve;
use formats::run::{read_json, run_dirs, CONFIG_FILE};
use formats::{Method, RunHeader};
use serde_json::Value;

use crate::adapter::ADAPTER_WEIGHTS;
use crate::error::{parse_method, Error, Result};

/// The tasks whose runs carry adapters worth a spectrum.
pub const TASKS: [&str; 3] = ["classification", "segmentation", "generation"];

/// What the analysis needs from an adapter run's `config.json`; other fields are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// The run folder.
    pub dir: PathBuf,
    /// `backbone`, e.g. `clip-vit-b16`.
    pub backbone: String,
    /// `model_dir`, the transformers-style folder holding `model.safetensors` (or a diffusers
    /// folder holding `diffusion_pytorch_model.safetensors`), as a path on this
    /// machine: a stored relative path is taken from the repository root (see [`formats::paths`]),
    /// an absolute one is kept.
    pub model_dir: PathBuf,
    /// `method`: one of the four adapter methods.
    pub method: Method,
    /// `rank` (at least 1).
    pub rank: usize,
}

impl Run {
    /// Reads `dir/config.json`, resolving a relative `model_dir` against the repository root
    /// `root`. A run without an adapter (`probe`, `zero_shot`, `full`) is an error.
    pub fn read(dir: &Path, root: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let value: Value = read_json(&path)?;
        // Name an unknown method plainly rather than as a serde variant error.
        if let Some(name) = value.get("method").and_then(Value::as_str) {
            parse_method(name, &path)?;
        }
        let header: RunHeader = serde_json::from_value(value)
            .map_err(|e| formats::Error::parse(&path, format!("not a run configuration: {e}")))?;
        if !header.method.has_adapter() {
            return Err(Error::field(
                &path,
                "method",
                format!(
                    "is `{}`, which trains no adapter: no spectrum to compute",
                    header.method
                ),
            ));
        }
        let rank = usize::try_from(header.rank)
            .ok()
            .filter(|&r| r > 0)
            .ok_or_else(|| {
                Error::field(
                    &path,
                    "rank",
                    format!("must be a positive integer, got {}", header.rank),
                )
            })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            backbone: header.backbone,
            model_dir: resolve(&header.model_dir, root),
            method: header.method,
            rank,
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
/// folders of `results/<task>/` that hold `config.json` and an adapter, for every task in
/// [`TASKS`]; `root` resolves their `model_dir` (see [`Run::read`]).
pub fn latest_runs(results: &Path, root: &Path) -> Result<Vec<Run>> {
    let mut latest: BTreeMap<(String, Method), (SystemTime, String, Run)> = BTreeMap::new();
    for task in TASKS {
        for dir in run_dirs(results, task)? {
            if !dir.join(ADAPTER_WEIGHTS).is_file() {
                continue;
            }
            let run = Run::read(&dir, root)?;
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
