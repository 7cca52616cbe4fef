//! scikit-image's faces vs non-faces (`skimage/data/lfw_subset.npy`, BSD-3): 200 × 25×25 float64
//! images in `[0, 1]`, the first 100 faces (from LFW) and the last 100 non-faces. It has no
//! official split: a stratified half of each class is the test set ([`crate::stratified_split`]
//! with [`super::SPLIT_SEED`] and [`super::TEST_FRACTION`]), giving 100 train and 100 test images.

use std::path::Path;
use std::sync::Arc;

use image::{DynamicImage, Rgb, Rgb32FImage};
use ndarray::Array3;

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::packaged::{checked_asset, split_dataset};

/// The class names, by label.
pub const CLASSNAMES: [&str; 2] = ["face", "non-face"];

/// The data file (relative to the assets folder) and its sha256.
const FILE: (&str, &str) = (
    "scikit-image/skimage/data/lfw_subset.npy",
    "9560ec2f5edfac01973f63a8a99d00053fecd11e21877e18038fbe500f8e872c",
);

/// Loads the faces with the fixed stratified split (pixels kept at full precision as f32).
pub fn load(assets: &Path) -> Result<Dataset> {
    let path = checked_asset(assets, FILE.0, FILE.1)?;
    let array: Array3<f64> = ndarray_npy::read_npy(&path).map_err(|e| {
        DataError::malformed(&path, format!("cannot read as a 3-D float64 .npy: {e}"))
    })?;
    let (n, h, w) = array.dim();
    if n != 200 {
        return Err(DataError::malformed(
            &path,
            format!("expected 200 images, found {n}"),
        ));
    }
    let labels: Vec<usize> = (0..n).map(|i| usize::from(i >= n / 2)).collect();
    let images: Vec<Arc<DynamicImage>> = array
        .outer_iter()
        .map(|face| {
            let image = Rgb32FImage::from_fn(w as u32, h as u32, |x, y| {
                let v = face[[y as usize, x as usize]] as f32;
                Rgb([v, v, v])
            });
            Arc::new(DynamicImage::ImageRgb32F(image))
        })
        .collect();
    Ok(split_dataset("faces", &CLASSNAMES, &images, &labels))
}
