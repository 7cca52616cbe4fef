//! CIFAR-10 as a class-per-folder set under a data root the user gives: `cifar10/train/<class>/*`
//! and `cifar10/test/<class>/*` with the ten CIFAR-10 classes in both splits.

use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::layouts::folder::load_image_folder;

/// The data set's name in run names, configurations and tables (never its path).
pub const CIFAR10: &str = "cifar10";

/// The ten CIFAR-10 classes, in label order (the folder names, sorted).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The CIFAR-10 folder under `data_root`: `data_root/cifar10`, or `data_root` itself when it
/// holds `train/` and `test/` directly.
pub fn cifar10_dir(data_root: &Path) -> PathBuf {
    let nested = data_root.join(CIFAR10);
    if nested.is_dir() || !data_root.join("train").is_dir() {
        nested
    } else {
        data_root.to_path_buf()
    }
}

/// Loads CIFAR-10 from [`cifar10_dir`]`(data_root)`. Both splits must hold exactly the ten
/// CIFAR-10 class folders, each non-empty; any other layout is an error naming the folder.
pub fn load_cifar10(data_root: &Path) -> Result<Dataset> {
    let root = cifar10_dir(data_root);
    let mut dataset = load_image_folder(&root)?;
    for split in ["train", "test"] {
        let present = crate::layouts::fs::subfolders(&root.join(split))?;
        if let Some(missing) = CIFAR10_CLASSES
            .iter()
            .find(|c| !present.iter().any(|p| p == *c))
        {
            return Err(DataError::malformed(
                root.join(split).join(missing),
                "CIFAR-10 class folder is missing",
            ));
        }
        if let Some(extra) = present
            .iter()
            .find(|p| !CIFAR10_CLASSES.contains(&p.as_str()))
        {
            return Err(DataError::malformed(
                root.join(split).join(extra),
                "not a CIFAR-10 class folder",
            ));
        }
    }
    dataset.name = CIFAR10.to_owned();
    Ok(dataset)
}
