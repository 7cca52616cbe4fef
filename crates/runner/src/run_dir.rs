//! One folder per run, and its files, each written atomically.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use formats::atomic::write_atomic;
use formats::run::{CONFIG_FILE, METRICS_FILE, SUMMARY_FILE};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// `results/<task>/<run>/`.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates (or reopens, for a resumed run) `results/<task>/<name>`.
    pub fn create(results: &Path, task: &str, name: &str) -> Result<Self> {
        let path = results.join(task).join(name);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("creating run folder {}", path.display()))?;
        Ok(Self { path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `value` as pretty JSON to `file` in the run folder, atomically.
    pub fn write_json(&self, file: &str, value: &impl Serialize) -> Result<()> {
        let text = serde_json::to_string_pretty(value).context("serialising JSON")?;
        write_atomic(&self.path.join(file), format!("{text}\n").as_bytes())?;
        Ok(())
    }

    /// Reads `file` from the run folder, `None` when absent.
    pub fn read_json<T: DeserializeOwned>(&self, file: &str) -> Result<Option<T>> {
        let path = self.path.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                Ok(Some(serde_json::from_str(&text).with_context(|| {
                    format!("{}: invalid JSON", path.display())
                })?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Whether the folder holds results or training progress (a summary, metrics or a checkpoint),
    /// rather than only the configuration of a run that failed before its first step.
    fn has_progress(&self) -> bool {
        [SUMMARY_FILE, METRICS_FILE, "checkpoint", "checkpoint.old"]
            .iter()
            .any(|f| self.path.join(f).exists())
    }

    /// Checks that the folder holds no run of another configuration (a run is its full resolved
    /// configuration: a rerun with any setting changed must not pass for the earlier run), then
    /// writes `config`. The error names every differing field with both values. A folder whose run
    /// failed before making any progress is taken over.
    pub fn claim(&self, config: &Value) -> Result<()> {
        let previous = match self.has_progress() {
            true => self.read_json::<Value>(CONFIG_FILE)?,
            false => None,
        };
        if let Some(previous) = previous {
            let mut differences = Vec::new();
            diff("", &previous, config, &mut differences);
            if !differences.is_empty() {
                bail!(
                    "{} was made with another configuration ({}); use another --results folder, \
                     or delete {} to replace that run",
                    self.path.join(CONFIG_FILE).display(),
                    differences.join("; "),
                    self.path.display()
                );
            }
        }
        self.write_json(CONFIG_FILE, config)
    }
}

/// Appends `field: earlier → now` for every leaf where `before` and `after` differ.
fn diff(field: &str, before: &Value, after: &Value, out: &mut Vec<String>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let name = if field.is_empty() {
                    key.clone()
                } else {
                    format!("{field}.{key}")
                };
                let missing = Value::String("(absent)".into());
                diff(
                    &name,
                    a.get(key).unwrap_or(&missing),
                    b.get(key).unwrap_or(&missing),
                    out,
                );
            }
        }
        _ if before != after => out.push(format!("`{field}`: {before} there, {after} now")),
        _ => {}
    }
}

/// `metrics.csv`: one row per logged step, rewritten atomically on every flush. On resume, rows
/// after the checkpoint's step are dropped so the file matches an uninterrupted run.
#[derive(Debug)]
pub struct MetricsLog {
    path: PathBuf,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl MetricsLog {
    /// Opens `path` with columns `header` (the first must be `step`), keeping existing rows whose
    /// step is at most `keep_until`.
    pub fn open(path: &Path, header: &[&str], keep_until: usize) -> Result<Self> {
        let header: Vec<String> = header.iter().map(|s| s.to_string()).collect();
        let mut rows = Vec::new();
        if path.exists() {
            let mut reader = csv::Reader::from_path(path)
                .with_context(|| format!("reading {}", path.display()))?;
            let found: Vec<String> = reader.headers()?.iter().map(str::to_string).collect();
            if found != header {
                bail!("{}: columns {found:?}, expected {header:?}", path.display());
            }
            for record in reader.records() {
                let record = record.with_context(|| format!("reading {}", path.display()))?;
                let step: usize = record[0]
                    .parse()
                    .with_context(|| format!("{}: bad step `{}`", path.display(), &record[0]))?;
                if step <= keep_until {
                    rows.push(record.iter().map(str::to_string).collect());
                }
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    /// Adds a row (not yet written).
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Writes the file atomically.
    pub fn flush(&self) -> Result<()> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&self.header)?;
        for row in &self.rows {
            writer.write_record(row)?;
        }
        write_atomic(&self.path, &writer.into_inner()?)?;
        Ok(())
    }
}
