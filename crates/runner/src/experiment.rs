//! Reading an experiment file.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;

/// Reads the TOML experiment at `path`; errors name the file (unknown keys are the type's
/// `deny_unknown_fields` errors, naming the key).
pub fn read_toml<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{}: invalid experiment", path.display()))
}

/// Fails naming the first `(field, list is empty)` pair that is empty.
pub fn require_non_empty(lists: &[(&str, bool)]) -> Result<()> {
    if let Some((field, _)) = lists.iter().find(|(_, empty)| *empty) {
        bail!("field `{field}` is empty");
    }
    Ok(())
}
