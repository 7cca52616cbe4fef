//! Typed reading of `config.json` sections, with errors naming the file and the full field path.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// Deserializes `value` (the section `section` of `path`, `""` for the top level) into `T`; a bad
/// field is reported as ``path: field `section.name`: problem``.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    value: Value,
    path: &Path,
    section: &str,
) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = match (section, e.path().to_string()) {
            (s, f) if f == "." => s.to_string(),
            ("", f) => f,
            (s, f) => format!("{s}.{f}"),
        };
        Error::config(path, format!("field `{field}`: {}", e.inner()))
    })
}
