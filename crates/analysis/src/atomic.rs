//! Atomic output: every file is written beside its destination under a temporary name, then renamed.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The temporary sibling of `path`: same directory, hidden, same extension (image encoders pick the
/// format from it).
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

/// Creates the parent directory of `path` if it is missing.
pub fn ensure_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
        }
        _ => Ok(()),
    }
}

/// Moves the finished temporary file `tmp` onto `path`; removes `tmp` if that fails.
pub fn commit(tmp: &Path, path: &Path) -> Result<()> {
    fs::rename(tmp, path).map_err(|e| {
        let _ = fs::remove_file(tmp);
        Error::io(path, e)
    })
}

/// Writes `bytes` to `path` atomically, creating its directory.
pub fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    ensure_parent(path)?;
    let tmp = temp_path(path);
    fs::write(&tmp, bytes).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(&tmp, e)
    })?;
    commit(&tmp, path)
}
