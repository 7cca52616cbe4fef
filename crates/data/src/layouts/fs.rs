//! Folder listing shared by the folder-based layouts: sorted, hidden entries skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// Fails with [`DataError::MissingRoot`] unless `dir` is a folder.
pub(crate) fn require_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(DataError::MissingRoot {
            path: dir.to_path_buf(),
        })
    }
}

/// Sorted entries of `dir` (names not starting with `.`) that satisfy `keep`.
fn sorted_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in read {
        let path = entry.map_err(|e| DataError::io(dir, e))?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden && keep(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Names of the sub-folders of `dir`, sorted (hidden ones skipped).
pub fn subfolders(dir: &Path) -> Result<Vec<String>> {
    Ok(sorted_entries(dir, Path::is_dir)?
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect())
}

/// Image files (by extension, formats this build decodes) of `dir`, sorted, hidden ones skipped.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    sorted_entries(dir, |p| {
        p.is_file() && image::ImageFormat::from_path(p).is_ok_and(|f| f.reading_enabled())
    })
}

/// [`image_files`] of a class folder; an empty class is an error naming the folder.
pub(crate) fn class_images(dir: &Path) -> Result<Vec<PathBuf>> {
    let files = image_files(dir)?;
    if files.is_empty() {
        return Err(DataError::EmptyClass {
            path: dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// The files of the folder `dir` (hidden ones skipped) by stem, for layouts that pair two folders
/// by file stem (`images/` with `masks/` or `labels/`); two files with one stem (`a.png` and
/// `a.tif`) are an error naming both, since which one is meant is ambiguous.
pub(crate) fn files_by_stem(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    require_dir(dir)?;
    let mut files: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in sorted_entries(dir, Path::is_file)? {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(other) = files.get(&stem) {
            return Err(DataError::malformed(
                dir,
                format!(
                    "{} and {} have the same stem `{stem}`, so which one is meant is ambiguous; \
                     keep one (or rename the other)",
                    other.display(),
                    path.display()
                ),
            ));
        }
        files.insert(stem, path);
    }
    Ok(files)
}
