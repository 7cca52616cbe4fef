//! Instance segmentation data: images with instance label maps, box prompts from the instances, and
//! a region split so that no instance is in both train and test.
//!
//! * [`stardist_nuclei`]: stardist 0.9.2's `img2d.tif` (512×512 uint16 fluorescence) with its 125
//!   nuclei (`mask2d.tif`, one label per nucleus), from the packaged assets.
//! * [`load_instance_folder`]: a user's own data, `root/images/<name>.<ext>` with
//!   `root/masks/<name>.<ext>` (same stem, one file per stem; an instance label map, 0 =
//!   background, or a binary mask taken as one instance). TIFF (8/16/32-bit grey) is read with the
//!   `tiff` crate, other formats with `image`, each chosen by the file's content. Masks must be
//!   lossless single-channel label maps (PNG or TIFF): JPEG or lossy WebP masks, and colour masks
//!   whose channels differ, are refused by name.
//! * [`check_box`]: the validity of a box prompt (finite, not inverted, inside its image).
//! * [`InstanceImage::split_halves`]: left half → train, right half → test by each instance's
//!   centroid; instances whose box straddles the middle column are dropped.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{DataError, Result};
use crate::layouts::fs::files_by_stem;

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
        self.split_at(self.width / 2)
    }

    /// The split of [`InstanceImage::split_halves`] at column `middle` instead of the centre.
    pub fn split_at(&self, middle: usize) -> RegionSplit {
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

    /// The image cut to its first `width` columns (e.g. a validation split inside the training
    /// half: cut to the left half, then split that); instances cut by the edge keep their
    /// remaining pixels.
    pub fn left_columns(&self, width: usize) -> InstanceImage {
        let width = width.min(self.width);
        InstanceImage {
            name: self.name.clone(),
            width,
            height: self.height,
            pixels: first_columns(&self.pixels, self.width, width),
            labels: first_columns(&self.labels, self.width, width),
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

/// The first `width` of every row of `stride` values.
fn first_columns<T: Copy>(values: &[T], stride: usize, width: usize) -> Vec<T> {
    values
        .chunks(stride)
        .flat_map(|row| row[..width].iter().copied())
        .collect()
}

/// A decoded single-channel raster.
pub(crate) struct Grey {
    /// Width in pixels.
    pub(crate) width: usize,
    /// Height in pixels.
    pub(crate) height: usize,
    /// The values, row-major.
    pub(crate) values: Vec<f64>,
}

/// What a raster is read as: an image (grey values, colour converted to luma), an instance mask
/// or a semantic class map (one integer label per pixel, both checked strictly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Image,
    Mask,
    ClassMap,
}

impl Role {
    /// Whether the raster holds labels (strict decoding: lossless, single-channel, integers).
    fn is_labels(self) -> bool {
        self != Role::Image
    }

    /// What the raster is called in errors.
    fn noun(self) -> &'static str {
        match self {
            Role::ClassMap => "label map",
            _ => "mask",
        }
    }

    /// What lossy compression or mixed channels would corrupt.
    fn harm(self) -> &'static str {
        match self {
            Role::ClassMap => "wrong class labels",
            _ => "extra instances",
        }
    }

    /// The advice a rejected label raster ends with.
    fn advice(self) -> &'static str {
        match self {
            Role::ClassMap => SAVE_CLASS_MAP,
            _ => SAVE_LOSSLESS,
        }
    }
}

/// The advice every rejected mask ends with.
const SAVE_LOSSLESS: &str = "save label masks losslessly as single-channel (grey) PNG or TIFF, one integer label per pixel (0 = background)";

/// The advice every rejected class map ends with.
const SAVE_CLASS_MAP: &str =
    "save class label maps losslessly as single-channel (grey) PNG, one class index per pixel";

/// TIFF compression schemes that lose information: a label map stored with them gains noise labels.
fn lossy_tiff_compression(code: u16) -> Option<&'static str> {
    match code {
        6 => Some("old-style JPEG"),
        7 => Some("JPEG"),
        34712 => Some("JPEG 2000"),
        34892 => Some("lossy JPEG"),
        50001 => Some("WebP"),
        50002 => Some("JPEG XL"),
        _ => None,
    }
}

/// Whether a WebP file (RIFF container) holds lossy (`VP8 `) image data, at the top level or in
/// an animation frame; `None` when the container cannot be walked.
fn webp_is_lossy(bytes: &[u8]) -> Option<bool> {
    fn walk(mut chunks: &[u8]) -> Option<bool> {
        while chunks.len() >= 8 {
            let fourcc = &chunks[..4];
            let size = u32::from_le_bytes(chunks[4..8].try_into().ok()?) as usize;
            let body = chunks.get(8..8 + size.min(chunks.len() - 8))?;
            let lossy = match fourcc {
                b"VP8 " => true,
                // An animation frame: 16 bytes of frame header, then the frame's own chunks.
                b"ANMF" if body.len() > 16 => walk(&body[16..])?,
                _ => false,
            };
            if lossy {
                return Some(true);
            }
            let next = size.saturating_add(8 + (size & 1));
            chunks = chunks.get(next..).unwrap_or_default();
        }
        Some(false)
    }
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WEBP" {
        return None;
    }
    walk(&bytes[12..])
}

fn decode_tiff(path: &Path, bytes: &[u8], role: Role) -> Result<Grey> {
    use tiff::decoder::{Decoder, DecodingResult};
    use tiff::tags::Tag;
    let bad = |reason: String| DataError::malformed(path, reason);
    let mut decoder =
        Decoder::new(std::io::Cursor::new(bytes)).map_err(|e| bad(format!("TIFF: {e}")))?;
    if role.is_labels() {
        let compression = decoder
            .find_tag_unsigned::<u16>(Tag::Compression)
            .map_err(|e| bad(format!("TIFF: {e}")))?;
        if let Some(name) = compression.and_then(lossy_tiff_compression) {
            return Err(bad(format!(
                "{} is a TIFF with lossy {name} compression, whose artefacts turn into {}; {} \
                 (TIFF uncompressed, LZW or deflate)",
                role.noun(),
                role.harm(),
                role.advice()
            )));
        }
    }
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

/// The label of each pixel of a decoded mask with `channels` interleaved samples per pixel (the
/// last one alpha when `alpha`): colour channels must agree and alpha must be opaque (`opaque`),
/// else the label map would be a lossy mix of channels.
fn single_channel<T: Copy + Into<f64>>(
    role: Role,
    raw: &[T],
    width: usize,
    channels: usize,
    alpha: bool,
    opaque: f64,
) -> std::result::Result<Vec<f64>, String> {
    let (noun, merged) = match role {
        Role::ClassMap => ("label map", "mix up classes"),
        _ => ("mask", "merge or split instances"),
    };
    let colour = channels - usize::from(alpha);
    raw.chunks_exact(channels)
        .enumerate()
        .map(|(i, px)| {
            let first: f64 = px[0].into();
            let (x, y) = (i % width, i / width);
            if alpha && px[colour].into() != opaque {
                return Err(format!(
                    "{noun} has a transparency (alpha) channel that is not opaque (pixel ({x}, \
                     {y}) has alpha {}); a label map must be a single channel",
                    px[colour].into()
                ));
            }
            if px[1..colour].iter().any(|&v| v.into() != first) {
                let values: Vec<f64> = px[..colour].iter().map(|&v| v.into()).collect();
                return Err(format!(
                    "{noun} is a colour image whose channels differ (pixel ({x}, {y}) is \
                     {values:?}); an RGB or indexed (palette) {noun} is not a label map, and \
                     reading it as grey would {merged}"
                ));
            }
            Ok(first)
        })
        .collect()
}

/// The labels of a mask decoded by `image` (no luma conversion: the stored values themselves).
fn mask_values(role: Role, img: &image::DynamicImage) -> std::result::Result<Vec<f64>, String> {
    use image::DynamicImage as D;
    let w = img.width() as usize;
    match img {
        D::ImageLuma8(b) => single_channel(role, b.as_raw(), w, 1, false, 255.0),
        D::ImageLumaA8(b) => single_channel(role, b.as_raw(), w, 2, true, 255.0),
        D::ImageRgb8(b) => single_channel(role, b.as_raw(), w, 3, false, 255.0),
        D::ImageRgba8(b) => single_channel(role, b.as_raw(), w, 4, true, 255.0),
        D::ImageLuma16(b) => single_channel(role, b.as_raw(), w, 1, false, 65535.0),
        D::ImageLumaA16(b) => single_channel(role, b.as_raw(), w, 2, true, 65535.0),
        D::ImageRgb16(b) => single_channel(role, b.as_raw(), w, 3, false, 65535.0),
        D::ImageRgba16(b) => single_channel(role, b.as_raw(), w, 4, true, 65535.0),
        D::ImageRgb32F(b) => single_channel(role, b.as_raw(), w, 3, false, 1.0),
        D::ImageRgba32F(b) => single_channel(role, b.as_raw(), w, 4, true, 1.0),
        other => Err(format!(
            "{} has an unsupported pixel layout {:?}",
            role.noun(),
            other.color()
        )),
    }
}

/// Checks that every value of a mask is an integer label in `0..=u32::MAX`.
fn check_labels(path: &Path, grey: &Grey, role: Role) -> Result<()> {
    let bad = grey
        .values
        .iter()
        .position(|&v| !(v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v)));
    match bad {
        None => Ok(()),
        Some(i) => Err(DataError::malformed(
            path,
            format!(
                "{} value {} at pixel ({}, {}) is not an integer label in 0..={}; {}",
                role.noun(),
                grey.values[i],
                i % grey.width,
                i / grey.width,
                u32::MAX,
                role.advice()
            ),
        )),
    }
}

/// Decodes `path` by its content (the extension only when the content is not recognised). A mask
/// must be losslessly stored (no JPEG, lossy WebP or JPEG-compressed TIFF) and single-channel.
fn decode(path: &Path, role: Role) -> Result<Grey> {
    use image::ImageFormat;
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    let format = image::guess_format(&bytes)
        .ok()
        .or_else(|| ImageFormat::from_path(path).ok());
    if role.is_labels() {
        let lossy = match format {
            Some(ImageFormat::Jpeg) => Some("JPEG"),
            Some(ImageFormat::WebP) if webp_is_lossy(&bytes) == Some(true) => Some("lossy WebP"),
            _ => None,
        };
        if let Some(kind) = lossy {
            return Err(DataError::malformed(
                path,
                format!(
                    "{} is stored as {kind}, whose compression noise turns into {}; {}",
                    role.noun(),
                    role.harm(),
                    role.advice()
                ),
            ));
        }
    }
    let grey = if format == Some(ImageFormat::Tiff) {
        decode_tiff(path, &bytes, role)?
    } else {
        let mut reader = image::ImageReader::new(std::io::Cursor::new(&bytes[..]));
        if let Some(format) = format {
            reader.set_format(format);
        }
        let img = reader.decode().map_err(|source| DataError::Image {
            path: path.to_path_buf(),
            source,
        })?;
        let (width, height) = (img.width() as usize, img.height() as usize);
        let values = match role {
            Role::Image => img
                .to_luma16()
                .into_raw()
                .into_iter()
                .map(f64::from)
                .collect(),
            Role::Mask | Role::ClassMap => mask_values(role, &img).map_err(|reason| {
                DataError::malformed(path, format!("{reason}; {}", role.advice()))
            })?,
        };
        Grey {
            width,
            height,
            values,
        }
    };
    if role.is_labels() {
        check_labels(path, &grey, role)?;
    }
    Ok(grey)
}

/// Reads a semantic-segmentation class map (one class index per pixel) as strictly as an instance
/// mask: by content, lossless (no JPEG, lossy WebP or lossy TIFF), single-channel (colour channels
/// equal, alpha opaque), integer values. Errors name the file and call it a label map; the range
/// of the class indices is the caller's to check.
pub(crate) fn decode_class_map(path: &Path) -> Result<Grey> {
    decode(path, Role::ClassMap)
}

/// Checks a box prompt `[x0, y0, x1, y1]` in inclusive pixel corners (as [`Instance::bbox`] and
/// SAM's box prompts) against a `width × height` image: every coordinate finite, `x0 ≤ x1` and
/// `y0 ≤ y1` (inclusive corners: a one-pixel-wide instance has `x0 = x1`, so the box's pixel span
/// `[x0, x1 + 1)` is never empty), and `0 ≤ x0`, `x1 ≤ width − 1` (`y` likewise). `what` names the
/// box's owner in the error ([`DataError::InvalidBox`]), e.g. `instance 7 of a.png`.
pub fn check_box(what: &str, bbox: [f64; 4], width: usize, height: usize) -> Result<()> {
    let [x0, y0, x1, y1] = bbox;
    let fail = |reason: String| {
        Err(DataError::InvalidBox {
            what: what.to_owned(),
            bbox,
            reason,
        })
    };
    if let Some(i) = bbox.iter().position(|v| !v.is_finite()) {
        let name = ["x0", "y0", "x1", "y1"][i];
        return fail(format!("{name} is not finite"));
    }
    if x0 > x1 {
        return fail(format!("inverted: x0 {x0} > x1 {x1}"));
    }
    if y0 > y1 {
        return fail(format!("inverted: y0 {y0} > y1 {y1}"));
    }
    let (w, h) = (width as f64, height as f64);
    if x0 < 0.0 || y0 < 0.0 || x1 > w - 1.0 || y1 > h - 1.0 {
        return fail(format!(
            "outside the {width}x{height} image (corners must lie in [0, {}] x [0, {}])",
            w - 1.0,
            h - 1.0
        ));
    }
    Ok(())
}

impl Instance {
    /// [`check_box`] of this instance's box in an image of `width × height`, naming the instance
    /// and `image` (its name or file).
    pub fn check_box(&self, image: &str, width: usize, height: usize) -> Result<()> {
        check_box(
            &format!("instance {} of {image}", self.label),
            self.bbox.map(|v| v as f64),
            width,
            height,
        )
    }
}

/// Reads an image and its label map, checking that their sizes agree. Both are decoded by their
/// content (the extension is only a fallback). The image may be any supported format (colour is
/// converted to grey); the mask must be a lossless, single-channel label map of integers: JPEG,
/// lossy WebP and lossy-compressed TIFF masks are refused (compression noise would become extra
/// instances), as are masks whose colour channels differ, whose alpha is not opaque, or whose
/// values are negative or fractional. Every error names the file.
pub fn load_instance_image(image: &Path, mask: &Path) -> Result<InstanceImage> {
    let img = decode(image, Role::Image)?;
    let lab = decode(mask, Role::Mask)?;
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
        labels: lab.values.into_iter().map(|v| v as u32).collect(),
    })
}

/// An image read as the segmentation data sets read theirs: grey values as stored (colour
/// converted to luma), row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct GreyImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Pixel values as stored.
    pub pixels: Vec<f32>,
}

/// Reads `path` as [`load_instance_image`] reads an image (any supported format; an unreadable
/// file is named).
pub fn load_grey_image(path: &Path) -> Result<GreyImage> {
    let grey = decode(path, Role::Image)?;
    Ok(GreyImage {
        width: grey.width,
        height: grey.height,
        pixels: grey.values.into_iter().map(|v| v as f32).collect(),
    })
}

/// stardist 0.9.2's `img2d.tif` and `mask2d.tif` (relative to the assets folder) and their sha256.
const STARDIST: [(&str, &str); 2] = [
    (
        "stardist/stardist/data/images/img2d.tif",
        "f9ccc1571b92c861ff87e28463068b43f61bd47357ed0503f711e5cd1eb97750",
    ),
    (
        "stardist/stardist/data/images/mask2d.tif",
        "59ad5e820b7982ca9d13e946fa6e7f64e2714899e00a2ae6c69aa79aad53d46f",
    ),
];

/// stardist 0.9.2's `img2d.tif` + `mask2d.tif` from the packaged assets (`make setup`), each
/// checked against its sha256 first (a missing, unreadable or corrupt file is reported as such).
pub fn stardist_nuclei(assets: &Path) -> Result<InstanceImage> {
    let [image, mask] = STARDIST;
    let image = crate::packaged::checked_asset(assets, image.0, image.1)?;
    let mask = crate::packaged::checked_asset(assets, mask.0, mask.1)?;
    load_instance_image(&image, &mask)
}

/// Every `root/images/<stem>.*` with its `root/masks/<stem>.*`, sorted by name. Errors name the
/// folder without images, two files of one folder with the same stem (e.g. `a.png` and `a.tif`:
/// which one is meant is ambiguous), the image without a mask, an unreadable file, a lossy or
/// multi-channel mask (see [`load_instance_image`]), a size mismatch, or a data set whose masks
/// hold no instance at all.
pub fn load_instance_folder(root: &Path) -> Result<Vec<InstanceImage>> {
    let images = files_by_stem(&root.join("images"))?;
    let masks = files_by_stem(&root.join("masks"))?;
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
