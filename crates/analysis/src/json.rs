//! Small helpers for reading fields out of JSON files with errors that name file and field.

use std::fs;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// Reads and parses the JSON file `path`.
pub fn read(path: &Path) -> Result<Value> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// The value at the dotted `field` of `root`, if present and not null.
pub fn get<'a>(root: &'a Value, field: &str) -> Option<&'a Value> {
    field
        .split('.')
        .try_fold(root, |v, key| v.get(key))
        .filter(|v| !v.is_null())
}

/// The string at `field`, required.
pub fn string(root: &Value, path: &Path, field: &str) -> Result<String> {
    match get(root, field) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(Error::field(
            path,
            field,
            format!("must be a string, got {other}"),
        )),
        None => Err(Error::field(path, field, "is missing")),
    }
}

/// The positive integer at `field`, required.
pub fn positive(root: &Value, path: &Path, field: &str) -> Result<usize> {
    match get(root, field) {
        Some(v) => v
            .as_u64()
            .filter(|&n| n > 0)
            .map(|n| n as usize)
            .ok_or_else(|| {
                Error::field(path, field, format!("must be a positive integer, got {v}"))
            }),
        None => Err(Error::field(path, field, "is missing")),
    }
}
