//! Real data shipped inside registry packages, unpacked by `tools/fetch_assets.sh` into
//! `.cache/assets/`: Fashion-MNIST (Debian), scikit-learn's digits and scikit-image's faces (PyPI).
//! Every file is checked against its sha256 before it is parsed.

pub mod digits;
pub mod faces;
pub mod fashion_mnist;
mod idx;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use image::DynamicImage;

use crate::checksum::sha256_file;
use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::source::{ImageSource, Item};
use crate::split::stratified_split;

/// Environment variable that overrides [`default_assets_dir`].
pub const ASSETS_ENV: &str = "SERIAL_LORA_ASSETS";

/// The seed of the fixed train/test splits of the packaged sets that ship without one (digits,
/// faces). It is not a run seed: every run sees the same test set.
pub const SPLIT_SEED: u64 = 0;

/// The fraction of each class that goes to test in those splits (scikit-learn's digits example
/// uses the same half).
pub const TEST_FRACTION: f64 = 0.5;

/// `$SERIAL_LORA_ASSETS` if set, else the workspace's `.cache/assets` (where `make setup` puts
/// the packaged assets).
pub fn default_assets_dir() -> PathBuf {
    std::env::var_os(ASSETS_ENV).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/assets"),
        PathBuf::from,
    )
}

/// `assets/relative`, after checking that it can be read and that its sha256 is `sha256`. The
/// three failures differ: [`DataError::AssetsMissing`] (no such file: run `make setup`),
/// [`DataError::AssetUnreadable`] (present but unreadable, with the operating system's reason, e.g.
/// permissions or a folder in its place) and [`DataError::AssetChecksum`] (present but corrupt or
/// truncated); each names the file and the folder `make setup` unpacks it into.
pub(crate) fn checked_asset(assets: &Path, relative: &str, sha256: &str) -> Result<PathBuf> {
    let path = assets.join(relative);
    let folder = assets.join(
        Path::new(relative)
            .components()
            .next()
            .map_or_else(PathBuf::new, |c| PathBuf::from(c.as_os_str())),
    );
    match sha256_file(&path) {
        Ok(found) if found == sha256 => Ok(path),
        Ok(found) => Err(DataError::AssetChecksum {
            path,
            folder,
            expected: sha256.to_owned(),
            found,
        }),
        Err(DataError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Err(DataError::AssetsMissing { path, folder })
        }
        Err(DataError::Io { source, .. }) => Err(DataError::AssetUnreadable {
            path,
            folder,
            source,
        }),
        Err(other) => Err(other),
    }
}

/// A data set from in-memory images and labels, split with [`stratified_split`] at
/// [`TEST_FRACTION`] and [`SPLIT_SEED`].
fn split_dataset(
    name: &str,
    classnames: &[&str],
    images: &[Arc<DynamicImage>],
    labels: &[usize],
) -> Dataset {
    let (train, test) = stratified_split(labels, classnames.len(), TEST_FRACTION, SPLIT_SEED);
    let items = |positions: Vec<usize>| -> Vec<Item> {
        positions
            .into_iter()
            .map(|i| Item {
                source: ImageSource::Memory(images[i].clone()),
                label: labels[i],
            })
            .collect()
    };
    Dataset {
        name: name.to_owned(),
        classnames: classnames.iter().map(|&c| c.to_owned()).collect(),
        train: items(train),
        test: items(test),
    }
}
