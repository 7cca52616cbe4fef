//! Data set names of the experiment files, resolved to the `data` crate's loaders.

use std::path::Path;

use anyhow::{bail, Context, Result};
use data::{
    default_assets_dir, digits, faces, fashion_mnist, load_cifar10, load_image_folder,
    stratified_split, ClipDataset, Dataset, CIFAR10,
};

/// Loads `name`: a packaged set (`fashion-mnist`, `digits`, `faces`), `cifar10` or a CLIP data
/// set under `data_root` (class-per-folder / CoOp layout), or `folder:<path>` (class-per-folder `train/` and `test/`; a
/// relative path is taken from `root`, the repository root).
pub fn load(name: &str, data_root: Option<&Path>, root: &Path) -> Result<Dataset> {
    let assets = default_assets_dir();
    let dataset = match name {
        "fashion-mnist" => fashion_mnist::load(&assets)?,
        "digits" => digits::load(&assets)?,
        "faces" => faces::load(&assets)?,
        CIFAR10 => load_cifar10(data_root.with_context(|| {
            format!("data set `{CIFAR10}` needs `--data-root DIR` (make: CIFAR10=DIR)")
        })?)?,
        _ => {
            if let Some(path) = name.strip_prefix("folder:") {
                load_image_folder(&formats::paths::resolve(Path::new(path), root))?
            } else if let Some(set) = ClipDataset::from_name(name) {
                let root = data_root.with_context(|| {
                    format!("data set `{name}` needs `data_root` (DATA_ROOT=…)")
                })?;
                set.load(root)?
            } else {
                bail!("unknown data set `{name}`: use fashion-mnist, digits, faces, cifar10, a CLIP data set name or folder:<path>")
            }
        }
    };
    Ok(dataset)
}

/// A fixed (seed 0), class-stratified subset of at most `limit` test items, so every run of an
/// experiment is measured on the same images.
pub fn test_subset(dataset: &Dataset, limit: Option<usize>) -> Vec<data::Item> {
    let test = &dataset.test;
    match limit {
        Some(limit) if limit < test.len() => {
            let labels: Vec<usize> = test.iter().map(|i| i.label).collect();
            let fraction = limit as f64 / test.len() as f64;
            let (_, chosen) = stratified_split(&labels, dataset.num_classes(), fraction, 0);
            chosen.into_iter().map(|i| test[i].clone()).collect()
        }
        _ => test.clone(),
    }
}
