//! Atomic writes: a file is written beside its destination under a temporary name, then renamed,
//! so a crash never leaves a half-written file.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The hidden temporary sibling of `path` (same directory, same extension, so encoders that pick
/// the format from the extension still work).
pub fn temp_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    path.with_file_name(format!(".{stem}.tmp-{}{ext}", std::process::id()))
}

/// Creates `path`'s parent folder, then calls `write` on a temporary sibling and renames it onto
/// `path`; the temporary file is removed if anything fails.
pub fn write_atomic_with<E: From<Error>>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = temp_path(path);
    let result = write(&tmp)
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| E::from(Error::io(path, e))));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        std::fs::write(tmp, bytes).map_err(|e| Error::io(tmp, e))
    })
}

/// Writes `rows` as a CSV file (a header of their field names, then one line per row),
/// atomically.
pub fn write_csv<T: serde::Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let csv_error = |e: csv::Error| Error::parse(path, e.to_string());
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row).map_err(csv_error)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| Error::parse(path, e.to_string()))?;
    write_atomic(path, &bytes)
}
