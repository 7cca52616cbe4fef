//! Writing the report's CSV files: a header, text lines, an atomic write.

use std::path::Path;

use formats::atomic::write_atomic;

use crate::error::{Error, Result};

/// `value` as text, empty for `None`.
pub fn optional<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// Writes `header` and `lines` as CSV to `path` atomically.
pub fn write_csv(
    path: &Path,
    header: &[String],
    lines: impl IntoIterator<Item = Vec<String>>,
) -> Result<()> {
    let csv_error = |e: csv::Error| Error::csv(path, e.to_string());
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(header).map_err(csv_error)?;
    for line in lines {
        out.write_record(&line).map_err(csv_error)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| Error::csv(path, e.to_string()))?;
    Ok(write_atomic(path, &bytes)?)
}
