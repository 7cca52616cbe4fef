//! A user's own data: `root/train/<class>/*` and `root/test/<class>/*`, classes sorted by name.

use std::path::Path;

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::layouts::fs::{class_images, require_dir, subfolders};
use crate::source::{ImageSource, Item};

/// Loads a class-per-folder data set. Class names are the sorted folder names of `root/train`;
/// `root/test` may hold a subset of them. Empty class folders and test classes unknown to train
/// are errors naming the folder.
pub fn load_image_folder(root: &Path) -> Result<Dataset> {
    require_dir(root)?;
    let train_dir = root.join("train");
    let test_dir = root.join("test");
    require_dir(&train_dir)?;
    require_dir(&test_dir)?;
    let classnames = subfolders(&train_dir)?;
    if classnames.is_empty() {
        return Err(DataError::EmptyClass { path: train_dir });
    }
    let train = scan_split(&train_dir, &classnames, &classnames)?;
    let test_classes = subfolders(&test_dir)?;
    if let Some(unknown) = test_classes.iter().find(|c| !classnames.contains(c)) {
        return Err(DataError::malformed(
            test_dir.join(unknown),
            "test class folder has no counterpart in train/",
        ));
    }
    let test = scan_split(&test_dir, &test_classes, &classnames)?;
    let name = root
        .file_name()
        .map_or_else(|| "images".to_owned(), |n| n.to_string_lossy().into_owned());
    Ok(Dataset {
        name,
        classnames,
        train,
        test,
    })
}

/// Items of `dir/<folder>/*` for each folder in `folders`, labelled by its position in `classes`.
pub(crate) fn scan_split(dir: &Path, folders: &[String], classes: &[String]) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for folder in folders {
        let label = classes
            .iter()
            .position(|c| c == folder)
            .ok_or_else(|| DataError::malformed(dir.join(folder), "unknown class folder"))?;
        for path in class_images(&dir.join(folder))? {
            items.push(Item {
                source: ImageSource::File(path),
                label,
            });
        }
    }
    Ok(items)
}
