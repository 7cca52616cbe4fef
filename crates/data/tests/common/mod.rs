//! Helpers shared by the integration tests: synthetic images and tiny data sets on disk.

#![allow(dead_code)] // each test binary uses a different subset of these helpers

use std::path::Path;
use std::sync::Arc;

use data::{Dataset, ImageSource, Item};
use image::{DynamicImage, Rgb, RgbImage};

/// Writes a `w`×`h` PNG whose pixels depend on `seed`, creating parent folders.
pub fn write_png(path: &Path, w: u32, h: u32, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x * 7 + u32::from(seed)) as u8,
            (y * 5) as u8,
            seed.wrapping_mul(31),
        ])
    });
    img.save(path).unwrap();
}

/// An in-memory data set with `counts[c]` distinct 12×10 training images of class `c` and two
/// test images per class.
pub fn memory_dataset(counts: &[usize]) -> Dataset {
    let item = |label: usize, k: usize| Item {
        source: ImageSource::Memory(Arc::new(DynamicImage::ImageRgb8(RgbImage::from_fn(
            12,
            10,
            |x, y| Rgb([(x * 20) as u8, (y * 25) as u8, (label * 50 + k) as u8]),
        )))),
        label,
    };
    let train = counts
        .iter()
        .enumerate()
        .flat_map(|(c, &n)| (0..n).map(move |k| item(c, k)))
        .collect();
    let test = (0..counts.len())
        .flat_map(|c| (0..2).map(move |k| item(c, k)))
        .collect();
    Dataset {
        name: "memory".into(),
        classnames: (0..counts.len()).map(|c| format!("class{c}")).collect(),
        train,
        test,
    }
}

/// The error message of a result that must be an error.
pub fn err_msg<T: std::fmt::Debug>(r: data::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}
