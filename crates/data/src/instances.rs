//! Instance segmentation data: images with instance label maps, box prompts from the instances, and
//! a region split so that no instance is in both train and test.
//!
//! * [`stardist_nuclei`]: stardist 0.9.2's `img2d.tif` (512×512 uint16 fluorescence) with its 125
//!   nuclei (`mask2d.tif`, one label per nucleus), from the packaged assets.
//! * [`load_instance_folder`]: a user's own data, `root/images/<name>.<ext>` with
//!   `root/masks/<name>.<ext>` (same stem; an instance label map, 0 = background, or a binary mask
//!   taken as one instance). TIFF (8/16/32-bit grey) is read with the `tiff` crate, other formats
//!   with `image`.
//! * [`InstanceImage::split_halves`]: left half → train, right half → test by each instance's
//!   centroid; instances whose box straddles the middle column are dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// A grey image (raw values) and its instance label map, both `height × width`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceImage {
    /// Name (file stem).
    pub name: String,
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Pixel values as stored (e.g. 0–235 for img2d.tif).
    pub pixels: Vec<f32>,
    /// Instance label of each pixel (0 = background).
    pub labels: Vec<u32>,
}

/// One instance: its label and tight box `[x0, y0, x1, y1]` (inclusive pixel coordinates, as SAM's
/// box prompts), centroid and area.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Label in the label map.
    pub label: u32,
    /// `[x0, y0, x1, y1]`, inclusive.
    pub bbox: [usize; 4],
    /// `(x, y)` mean of the instance's pixels.
    pub centroid: (f64, f64),
    /// Pixels.
    pub area: usize,
}

/// The train/test split of one image: instances of each side (straddling ones are dropped).
#[derive(Debug, Clone, PartialEq)]
pub struct RegionSplit {
    /// Instances whose centroid lies left of the middle and whose box does not cross it.
    pub train: Vec<Instance>,
    /// Instances whose centroid lies right of the middle and whose box does not cross it.
    pub test: Vec<Instance>,
    /// Labels dropped because their box straddles the middle column.
    pub dropped: Vec<u32>,
    /// The middle column: train boxes end before it, test boxes start at or after it.
    pub middle: usize,
}

impl InstanceImage {
    /// Every instance (label > 0), by label.
    pub fn instances(&self) -> Vec<Instance> {
        let mut acc: BTreeMap<u32, ([usize; 4], f64, f64, usize)> = BTreeMap::new();
        for (i, &label) in self.labels.iter().enumerate().filter(|(_, &l)| l > 0) {
            let (x, y) = (i % self.width, i / self.width);
            let e = acc
                .entry(label)
                .or_insert(([usize::MAX, usize::MAX, 0, 0], 0.0, 0.0, 0));
            e.0 = [e.0[0].min(x), e.0[1].min(y), e.0[2].max(x), e.0[3].max(y)];
            e.1 += x as f64;
            e.2 += y as f64;
            e.3 += 1;
        }
        acc.into_iter()
            .map(|(label, (bbox, sx, sy, n))| Instance {
                label,
                bbox,
                centroid: (sx / n as f64, sy / n as f64),
                area: n,
            })
            .collect()
    }

    /// Splits the instances by the middle column: left → train, right → test.
    pub fn split_halves(&self) -> RegionSplit {
        let middle = self.width / 2;
        let (mut train, mut test, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
        for inst in self.instances() {
            if inst.bbox[2] < middle {
                train.push(inst);
            } else if inst.bbox[0] >= middle {
                test.push(inst);
            } else {
                dropped.push(inst.label);
            }
        }
        RegionSplit {
            train,
            test,
            dropped,
            middle,
        }
    }

    /// The binary mask (0/1) of instance `label`.
    pub fn mask_of(&self, label: u32) -> Vec<f32> {
        self.labels
            .iter()
            .map(|&l| if l == label { 1.0 } else { 0.0 })
            .collect()
    }
}

/// A decoded single-channel raster.
struct Grey {
    width: usize,
    height: usize,
    values: Vec<f64>,
}

fn decode_tiff(path: &Path) -> Result<Grey> {
    use tiff::decoder::{Decoder, DecodingResult};
    let bad = |reason: String| DataError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut decoder =
        Decoder::new(std::io::BufReader::new(file)).map_err(|e| bad(format!("TIFF: {e}")))?;
    let (w, h) = decoder
        .dimensions()
        .map_err(|e| bad(format!("TIFF: {e}")))?;
    let values: Vec<f64> = match decoder
        .read_image()
        .map_err(|e| bad(format!("TIFF: {e}")))?
    {
        DecodingResult::U8(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::U16(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::U32(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::I16(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::I32(v) => v.into_iter().map(f64::from).collect(),
        DecodingResult::F32(v) => v.into_iter().map(f64::from).collect(),
        _ => return Err(bad("TIFF: unsupported sample type".into())),
    };
    let (width, height) = (w as usize, h as usize);
    if values.len() != width * height {
        return Err(bad(format!(
            "TIFF: {} samples for {width}x{height}; only single-channel (grey) images are supported",
            values.len()
        )));
    }
    Ok(Grey {
        width,
        height,
        values,
    })
}

fn decode(path: &Path) -> Result<Grey> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if ext == "tif" || ext == "tiff" {
        return decode_tiff(path);
    }
    let img = image::open(path).map_err(|source| DataError::Image {
        path: path.to_path_buf(),
        source,
    })?;
    let grey = img.to_luma16();
    Ok(Grey {
        width: grey.width() as usize,
        height: grey.height() as usize,
        values: grey.into_raw().into_iter().map(f64::from).collect(),
    })
}

/// Reads an image and its label map, checking that their sizes agree.
pub fn load_instance_image(image: &Path, mask: &Path) -> Result<InstanceImage> {
    let img = decode(image)?;
    let lab = decode(mask)?;
    if (img.width, img.height) != (lab.width, lab.height) {
        return Err(DataError::Malformed {
            path: mask.to_path_buf(),
            reason: format!(
                "mask is {}x{} but its image {} is {}x{}",
                lab.width,
                lab.height,
                image.display(),
                img.width,
                img.height
            ),
        });
    }
    let name = image
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(InstanceImage {
        name,
        width: img.width,
        height: img.height,
        pixels: img.values.into_iter().map(|v| v as f32).collect(),
        labels: lab.values.into_iter().map(|v| v.max(0.0) as u32).collect(),
    })
}

/// stardist 0.9.2's `img2d.tif` + `mask2d.tif` from the packaged assets (`make setup`).
pub fn stardist_nuclei(assets: &Path) -> Result<InstanceImage> {
    let dir = assets.join("stardist/stardist/data/images");
    let [image, mask] = ["img2d.tif", "mask2d.tif"].map(|f| dir.join(f));
    for path in [&image, &mask] {
        if !path.exists() {
            return Err(DataError::AssetsMissing { path: path.clone() });
        }
    }
    load_instance_image(&image, &mask)
}

/// Every `root/images/<stem>.*` with its `root/masks/<stem>.*`, sorted by name. Errors name the
/// folder without images, the image without a mask, an unreadable file, a size mismatch, or a
/// data set whose masks hold no instance at all.
pub fn load_instance_folder(root: &Path) -> Result<Vec<InstanceImage>> {
    let list = |dir: PathBuf| -> Result<BTreeMap<String, PathBuf>> {
        if !dir.is_dir() {
            return Err(DataError::MissingRoot { path: dir });
        }
        let entries = std::fs::read_dir(&dir).map_err(|source| DataError::Io {
            path: dir.clone(),
            source,
        })?;
        let mut files = BTreeMap::new();
        for entry in entries {
            let path = entry
                .map_err(|source| DataError::Io {
                    path: dir.clone(),
                    source,
                })?
                .path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if path.is_file() && !hidden {
                let stem = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                files.insert(stem, path);
            }
        }
        Ok(files)
    };
    let images = list(root.join("images"))?;
    let masks = list(root.join("masks"))?;
    if images.is_empty() {
        return Err(DataError::Malformed {
            path: root.join("images"),
            reason: "holds no images".into(),
        });
    }
    let mut out = Vec::with_capacity(images.len());
    for (stem, image) in &images {
        let mask = masks.get(stem).ok_or_else(|| DataError::Malformed {
            path: root.join("masks"),
            reason: format!("no mask named {stem}.* for {}", image.display()),
        })?;
        out.push(load_instance_image(image, mask)?);
    }
    if out.iter().all(|img| img.labels.iter().all(|&l| l == 0)) {
        return Err(DataError::Malformed {
            path: root.join("masks"),
            reason: "every mask is empty (no instance label > 0)".into(),
        });
    }
    Ok(out)
}
