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

/// The fields of a diffusers `config.json` object as one JSON object, without diffusers' metadata
/// (keys starting with `_`); any other key not in `fields` is refused, naming it and `class_name`,
/// since it may change the math.
pub(crate) fn diffusers_fields(
    config: &serde_json::Map<String, Value>,
    path: &Path,
    fields: &[&str],
    class_name: &str,
) -> Result<Value> {
    if let Some(key) = config
        .keys()
        .find(|k| !k.starts_with('_') && !fields.contains(&k.as_str()))
    {
        return Err(Error::config(
            path,
            format!("field `{key}`: not a field of {class_name} as implemented here"),
        ));
    }
    Ok(Value::Object(
        config
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    ))
}
