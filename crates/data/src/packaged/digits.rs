//! scikit-learn's 8×8 handwritten digits (UCI optical digits, BSD-3): 1,797 images, 10 classes,
//! from `sklearn/datasets/data/digits.csv.gz` (64 pixel values 0–16, then the label, per row).
//! It has no official split: a stratified half of each class is the test set
//! ([`crate::stratified_split`] with [`super::SPLIT_SEED`] and [`super::TEST_FRACTION`]), giving
//! 901 train and 896 test images.

use std::path::Path;
use std::sync::Arc;

use flate2::read::GzDecoder;
use image::{DynamicImage, Rgb, Rgb32FImage};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::packaged::{checked_asset, split_dataset};

/// The class names, by label (spelled out, for text prompts).
pub const CLASSNAMES: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// The data file (relative to the assets folder) and its sha256.
const FILE: (&str, &str) = (
    "scikit-learn/sklearn/datasets/data/digits.csv.gz",
    "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
);

/// Side of the square images.
const SIDE: u32 = 8;

/// Loads the digits with the fixed stratified split; pixels are scaled from 0–16 to `[0, 1]`
/// exactly (kept as f32, gray replicated to RGB).
pub fn load(assets: &Path) -> Result<Dataset> {
    let path = checked_asset(assets, FILE.0, FILE.1)?;
    let file = std::fs::File::open(&path).map_err(|e| DataError::io(&path, e))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(GzDecoder::new(file));
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record =
            record.map_err(|e| DataError::malformed(&path, format!("row {}: {e}", row + 1)))?;
        let values = record
            .iter()
            .map(str::parse::<f32>)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| DataError::malformed(&path, format!("row {}: {e}", row + 1)))?;
        let pixels = (SIDE * SIDE) as usize;
        let label = match values.as_slice() {
            [.., l]
                if values.len() == pixels + 1 && l.fract() == 0.0 && (0.0..10.0).contains(l) =>
            {
                *l as usize
            }
            _ => {
                return Err(DataError::malformed(
                    &path,
                    format!("row {}: expected 64 pixels and a label in 0..10", row + 1),
                ))
            }
        };
        let image = Rgb32FImage::from_fn(SIDE, SIDE, |x, y| {
            let v = values[(y * SIDE + x) as usize] / 16.0;
            Rgb([v, v, v])
        });
        images.push(Arc::new(DynamicImage::ImageRgb32F(image)));
        labels.push(label);
    }
    Ok(split_dataset("digits", &CLASSNAMES, &images, &labels))
}
