//! Reading an experiment file, shared by the runners.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;

/// Reads the TOML experiment at `path` and checks it with `validate`; every error names the file
/// (unknown keys are the type's `deny_unknown_fields` errors, naming the key).
pub fn read_experiment<T: DeserializeOwned>(
    path: &Path,
    validate: impl FnOnce(&T) -> Result<()>,
) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let experiment: T =
        toml::from_str(&text).with_context(|| format!("{}: invalid experiment", path.display()))?;
    validate(&experiment).with_context(|| format!("{}: invalid experiment", path.display()))?;
    Ok(experiment)
}

/// Fails naming the first `(field, list is empty)` pair that is empty.
pub fn require_non_empty(lists: &[(&str, bool)]) -> Result<()> {
    if let Some((field, _)) = lists.iter().find(|(_, empty)| *empty) {
        bail!("field `{field}` is empty");
    }
    Ok(())
}
