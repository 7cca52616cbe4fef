//! Fashion-MNIST (Zalando, MIT): 60,000 train + 10,000 test 28×28 grayscale images, 10 classes,
//! from Debian's `dataset-fashion-mnist` (`.cache/assets/fashion-mnist/*.gz`).

use std::path::Path;
use std::sync::Arc;

use image::{DynamicImage, GrayImage};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::packaged::checked_asset;
use crate::packaged::idx::read_idx_gz;
use crate::source::{ImageSource, Item};

/// The class names, by label, as Zalando publishes them.
pub const CLASSNAMES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Files (relative to the assets folder) and their sha256: train images, train labels, test
/// images, test labels.
const FILES: [(&str, &str); 4] = [
    (
        "fashion-mnist/train-images-idx3-ubyte.gz",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    ),
    (
        "fashion-mnist/train-labels-idx1-ubyte.gz",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    ),
    (
        "fashion-mnist/t10k-images-idx3-ubyte.gz",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    ),
    (
        "fashion-mnist/t10k-labels-idx1-ubyte.gz",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    ),
];

/// Loads Fashion-MNIST from the assets folder (see [`crate::default_assets_dir`]), with its
/// official train/test split.
pub fn load(assets: &Path) -> Result<Dataset> {
    let [train_x, train_y, test_x, test_y] = FILES;
    Ok(Dataset {
        name: "fashion-mnist".to_owned(),
        classnames: CLASSNAMES.iter().map(|&c| c.to_owned()).collect(),
        train: read_pair(assets, train_x, train_y)?,
        test: read_pair(assets, test_x, test_y)?,
    })
}

/// Items of one image file and its label file.
fn read_pair(assets: &Path, images: (&str, &str), labels: (&str, &str)) -> Result<Vec<Item>> {
    let image_path = checked_asset(assets, images.0, images.1)?;
    let label_path = checked_asset(assets, labels.0, labels.1)?;
    let x = read_idx_gz(&image_path, 3)?;
    let y = read_idx_gz(&label_path, 1)?;
    if x.dims[0] != y.dims[0] {
        return Err(DataError::malformed(
            &label_path,
            format!(
                "{} labels for {} images in {}",
                y.dims[0],
                x.dims[0],
                image_path.display()
            ),
        ));
    }
    let (rows, cols) = (x.dims[1], x.dims[2]);
    x.data
        .chunks_exact(rows * cols)
        .zip(&y.data)
        .enumerate()
        .map(|(i, (pixels, &label))| {
            if usize::from(label) >= CLASSNAMES.len() {
                return Err(DataError::malformed(
                    &label_path,
                    format!("label {label} of item {i} is outside 0..10"),
                ));
            }
            let gray = GrayImage::from_raw(cols as u32, rows as u32, pixels.to_vec()).ok_or_else(
                || DataError::malformed(&image_path, format!("item {i} has the wrong size")),
            )?;
            Ok(Item {
                source: ImageSource::Memory(Arc::new(DynamicImage::ImageLuma8(gray))),
                label: usize::from(label),
            })
        })
        .collect()
}
