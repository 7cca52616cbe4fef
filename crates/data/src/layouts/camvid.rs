//! CamVid semantic segmentation (the SegNet distribution) under a data root the user gives:
//! `camvid/<split>/images/<stem>.jpg` (RGB) with `camvid/<split>/labels/<stem>.png` (8-bit
//! single-channel class map: 0–10 the [`CAMVID_CLASSES`], [`CAMVID_VOID`] = 11 void), for the
//! [`CAMVID_SPLITS`] `train`, `val` and `test`.
//!
//! [`load_camvid`] pairs the files of a split by stem and checks every pair before it returns
//! (both files decode, same size, the label map lossless, single-channel and in 0–11); the pixels
//! themselves are decoded again, one pair at a time, by [`LabelledImage::load`].

use std::path::{Path, PathBuf};

use ndarray::{Array2, Array3};
use rayon::prelude::*;

use crate::error::{DataError, Result};
use crate::layouts::fs::{files_by_stem, require_dir};
use crate::source::ImageSource;

/// The data set's name in run names, configurations and tables (never its path).
pub const CAMVID: &str = "camvid";

/// The eleven CamVid classes, in label order (label map value = index).
pub const CAMVID_CLASSES: [&str; 11] = [
    "Sky",
    "Building",
    "Pole",
    "Road",
    "Pavement",
    "Tree",
    "SignSymbol",
    "Fence",
    "Car",
    "Pedestrian",
    "Bicyclist",
];

/// The label map value of void pixels (unlabelled): ignored in losses and scores.
pub const CAMVID_VOID: u8 = 11;

/// The CamVid splits, in the SegNet distribution's order (367, 101 and 233 pairs).
pub const CAMVID_SPLITS: [&str; 3] = ["train", "val", "test"];

/// The CamVid folder under `data_root`: `data_root/camvid`, or `data_root` itself when it holds
/// `train/` directly.
pub fn camvid_dir(data_root: &Path) -> PathBuf {
    let nested = data_root.join(CAMVID);
    if nested.is_dir() || !data_root.join("train").is_dir() {
        nested
    } else {
        data_root.to_path_buf()
    }
}

/// One image of a segmentation split with its label map, checked by [`load_camvid`]; the pixels
/// are decoded by [`LabelledImage::load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledImage {
    /// The file stem shared by the image and its label map.
    pub name: String,
    /// The image file (`…/images/<stem>.jpg`).
    pub image: PathBuf,
    /// The label map file (`…/labels/<stem>.png`).
    pub labels: PathBuf,
    /// Width in pixels (of both files, as checked).
    pub width: usize,
    /// Height in pixels (of both files, as checked).
    pub height: usize,
}

/// The decoded pixels of one [`LabelledImage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentationSample {
    /// RGB pixels, `height × width × 3` (grey and CMYK images converted to RGB).
    pub image: Array3<u8>,
    /// The class index of each pixel, `height × width` (0–10, or [`CAMVID_VOID`]).
    pub labels: Array2<u8>,
}

/// One split of a semantic segmentation data set: its image/label-map pairs, sorted by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentationSplit {
    /// The data set's name ([`CAMVID`]).
    pub name: String,
    /// The split (`train`, `val` or `test`).
    pub split: String,
    /// Class names in label order ([`CAMVID_CLASSES`]).
    pub classnames: Vec<String>,
    /// The label value ignored in losses and scores ([`CAMVID_VOID`]).
    pub void: u8,
    /// The pairs, sorted by name.
    pub pairs: Vec<LabelledImage>,
}

impl LabelledImage {
    /// Decodes the image (as RGB) and its label map, with the checks of [`load_camvid`]; every
    /// error names the file at fault.
    pub fn load(&self) -> Result<SegmentationSample> {
        let (width, height, rgb, labels) = decode_pair(&self.image, &self.labels)?;
        let shape_err = |path: &Path| DataError::malformed(path, "pixel buffer of the wrong size");
        Ok(SegmentationSample {
            image: Array3::from_shape_vec((height, width, 3), rgb)
                .map_err(|_| shape_err(&self.image))?,
            labels: Array2::from_shape_vec((height, width), labels)
                .map_err(|_| shape_err(&self.labels))?,
        })
    }
}

/// Decodes `image` to RGB and `labels` strictly, checking that their sizes agree and that every
/// label is a CamVid class or void: `(width, height, rgb, labels)`.
fn decode_pair(image: &Path, labels: &Path) -> Result<(usize, usize, Vec<u8>, Vec<u8>)> {
    let rgb = ImageSource::File(image.to_path_buf()).load()?.into_rgb8();
    let map = crate::instances::decode_class_map(labels)?;
    let (width, height) = (rgb.width() as usize, rgb.height() as usize);
    if (map.width, map.height) != (width, height) {
        return Err(DataError::malformed(
            labels,
            format!(
                "label map is {}x{} but its image {} is {width}x{height}",
                map.width,
                map.height,
                image.display()
            ),
        ));
    }
    if let Some(i) = map.values.iter().position(|&v| v > f64::from(CAMVID_VOID)) {
        return Err(DataError::malformed(
            labels,
            format!(
                "label value {} at pixel ({}, {}) is outside 0..={CAMVID_VOID} (0-{} the CamVid \
                 classes, {CAMVID_VOID} void)",
                map.values[i],
                i % width,
                i / width,
                CAMVID_CLASSES.len() - 1
            ),
        ));
    }
    // Integers in 0..=11, as `decode_class_map` and the range check above guarantee.
    let labels = map.values.into_iter().map(|v| v as u8).collect();
    Ok((width, height, rgb.into_raw(), labels))
}

/// Loads split `split` (`train`, `val` or `test`) of CamVid from [`camvid_dir`]`(data_root)`,
/// `<split>/images/<stem>.jpg` paired with `<split>/labels/<stem>.png` by stem (any image format
/// is accepted for either, recognised by content). Before it returns it decodes and checks every
/// pair, in parallel; the first failing pair in name order is reported, with a one-line error
/// naming the file: an image without its label map or a label map without its image, two files
/// with one stem, a split without images, an undecodable image or label map, a label map of
/// another size than its image, a label value outside 0–11 (with its pixel), and a colour
/// (channels differ), transparent or lossy (JPEG, lossy WebP or TIFF) label map.
pub fn load_camvid(data_root: &Path, split: &str) -> Result<SegmentationSplit> {
    if !CAMVID_SPLITS.contains(&split) {
        return Err(DataError::InvalidParam(format!(
            "CamVid split `{split}` is not one of {}",
            CAMVID_SPLITS.join(", ")
        )));
    }
    let dir = camvid_dir(data_root).join(split);
    require_dir(&dir)?;
    let (images_dir, labels_dir) = (dir.join("images"), dir.join("labels"));
    let images = files_by_stem(&images_dir)?;
    let labels = files_by_stem(&labels_dir)?;
    if images.is_empty() {
        return Err(DataError::malformed(&images_dir, "holds no images"));
    }
    let mut stems: Vec<&String> = images.keys().chain(labels.keys()).collect();
    stems.sort();
    stems.dedup();
    let mut pairs = Vec::with_capacity(images.len());
    for stem in stems {
        match (images.get(stem), labels.get(stem)) {
            (Some(image), Some(label)) => pairs.push((stem.clone(), image, label)),
            (Some(image), None) => {
                return Err(DataError::malformed(
                    image,
                    format!(
                        "image has no label map (expected {})",
                        labels_dir.join(format!("{stem}.png")).display()
                    ),
                ))
            }
            (None, Some(label)) => {
                return Err(DataError::malformed(
                    label,
                    format!(
                        "label map has no image (expected {})",
                        images_dir.join(format!("{stem}.jpg")).display()
                    ),
                ))
            }
            (None, None) => unreachable!("every stem comes from one of the folders"),
        }
    }
    let checked: Vec<Result<(usize, usize)>> = pairs
        .par_iter()
        .map(|(_, image, label)| decode_pair(image, label).map(|(w, h, _, _)| (w, h)))
        .collect();
    let pairs = pairs
        .into_iter()
        .zip(checked)
        .map(|((name, image, labels), size)| {
            let (width, height) = size?;
            Ok(LabelledImage {
                name,
                image: image.clone(),
                labels: labels.clone(),
                width,
                height,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(SegmentationSplit {
        name: CAMVID.to_owned(),
        split: split.to_owned(),
        classnames: CAMVID_CLASSES.iter().map(|c| (*c).to_owned()).collect(),
        void: CAMVID_VOID,
        pairs,
    })
}
