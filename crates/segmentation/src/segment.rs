//! `segmentation predict`: a finished run segments new images as it was evaluated — its model,
//! adapter (and trained mask decoder), pixel scaling and native-resolution square tiles of the
//! model's input size, all from the run folder.
//!
//! * Prompt-free runs: tiles at half-tile stride cover the image; the foreground probability of
//!   each pixel is averaged over the tiles that hold it; the label map is 1 where it exceeds ½.
//! * Multi-class runs (CamVid): the whole image at the encoder's input size; the label map holds
//!   each pixel's class (0–10) at the image's own size, the overlay CamVid's colours.
//! * Box-prompted runs: every box of the `--boxes` file is decoded in the tile centred on it;
//!   the label map holds instance `i` (1-based, in the file's order) where its mask logit is
//!   positive and highest.
//!
//! Per image `<stem>_labels.png` (the label map: 8-bit, 16-bit beyond 255 instances) and
//! `<stem>_overlay.png` (the image with each label in its colour) are written to the output
//! folder; files already there are never overwritten.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use formats::paths::{repo_root, resolve};
use formats::run::{read_json, CONFIG_FILE, SUMMARY_FILE};
use image::{DynamicImage, ImageBuffer, Luma};
use indicatif::{ProgressBar, ProgressStyle};
use tch::{Device, Tensor};
use zoo::sam::Segmenter;

use crate::config::{Prompt, RunSpec};
use crate::drawing::{overlay, save_png};
use crate::predict::{decode, segmenter};
use crate::samples::{grey_scale, pixels, tile_starts};
use crate::scene_view::predict_scenes;
use crate::trained::load_run;

/// Boxes per image: `{"<image file name>": [[x0, y0, x1, y1], …]}` (inclusive pixel corners).
type BoxFile = BTreeMap<String, Vec<[f64; 4]>>;

/// Segments `paths` (image files or folders of images) with the finished run in `run_dir`,
/// writing label maps and overlays to `out`; `boxes` is required by, and only accepted for, a
/// box-prompted run. Returns the files written.
pub fn segment_images(
    run_dir: &Path,
    paths: &[PathBuf],
    boxes: Option<&Path>,
    out: &Path,
    device: Device,
) -> Result<Vec<PathBuf>> {
    if !run_dir.join(SUMMARY_FILE).is_file() {
        bail!(
            "{} is not a finished segmentation run (no {SUMMARY_FILE})",
            run_dir.display()
        );
    }
    let spec: RunSpec = read_json(&run_dir.join(CONFIG_FILE))?;
    let boxes: Option<BoxFile> = match (spec.prompt, boxes) {
        (Prompt::Box, None) => bail!(
            "{}: the run segments box prompts; give them with --boxes FILE",
            run_dir.display()
        ),
        (Prompt::Free, Some(file)) => bail!(
            "{}: the run is prompt-free; it takes no --boxes",
            file.display()
        ),
        (Prompt::Box, Some(file)) => Some(read_json(file)?),
        (Prompt::Free, None) => None,
    };
    let images = list_images(paths)?;
    let outputs: Vec<[PathBuf; 2]> = images
        .iter()
        .map(|image| {
            let stem = image
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            [
                out.join(format!("{stem}_labels.png")),
                out.join(format!("{stem}_overlay.png")),
            ]
        })
        .collect();
    for (i, pair) in outputs.iter().enumerate() {
        if let Some(j) = outputs[..i].iter().position(|p| p == pair) {
            bail!(
                "{} and {} would write the same files; give images with different names",
                images[j].display(),
                images[i].display()
            );
        }
        if let Some(taken) = pair.iter().find(|f| f.exists()) {
            bail!("{} exists; choose another --out folder", taken.display());
        }
    }
    if let Some(file) = &boxes {
        for image in &images {
            let name = file_name(image);
            if !file.contains_key(&name) {
                bail!("the boxes file has no entry for {name}");
            }
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let bar = ProgressBar::new(images.len() as u64).with_style(
        ProgressStyle::with_template("segmenting [{bar:30}] {pos}/{len} images, eta {eta}")
            .expect("valid template"),
    );
    if spec.multiclass() {
        let written = predict_scenes(run_dir, &spec, &images, &outputs, device, || bar.inc(1))?;
        bar.finish_and_clear();
        return Ok(written);
    }
    let loaded = load_run(run_dir, &spec, device)?;
    let model_dir = resolve(&spec.model_dir, &repo_root());
    let seg = segmenter(&loaded.model, &model_dir)?;
    let mut written = Vec::new();
    for (image, [labels_file, overlay_file]) in images.iter().zip(outputs) {
        let grey = read_grey(image)?;
        let labels = match &boxes {
            None => prompt_free(seg, &grey, &spec, device),
            Some(file) => boxed(seg, &grey, &file[&file_name(image)], &spec, device)
                .with_context(|| format!("{}", image.display()))?,
        };
        save_png(&labels_file, &label_map(&labels, grey.width, grey.height))?;
        let shown = overlay(&grey.pixels, &labels, grey.width, grey.height);
        save_png(&overlay_file, &DynamicImage::ImageRgb8(shown))?;
        written.extend([labels_file, overlay_file]);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(written)
}

/// An image's grey values scaled as the data sets scale theirs ([`grey_scale`]).
struct Grey {
    width: usize,
    height: usize,
    pixels: Vec<f32>,
}

fn read_grey(path: &Path) -> Result<Grey> {
    let img = data::load_grey_image(path)?;
    let scale = grey_scale(&img.pixels);
    Ok(Grey {
        width: img.width,
        height: img.height,
        pixels: img.pixels.iter().map(|v| v / scale).collect(),
    })
}

/// The square crop of `size` at `(x0, y0)`, zero outside the image.
fn crop(grey: &Grey, x0: usize, y0: usize, size: usize) -> Vec<f32> {
    let mut out = vec![0f32; size * size];
    for v in 0..size.min(grey.height.saturating_sub(y0)) {
        for u in 0..size.min(grey.width.saturating_sub(x0)) {
            out[v * size + u] = grey.pixels[(y0 + v) * grey.width + x0 + u];
        }
    }
    out
}

/// The image embedding of the crop at `(x0, y0)`.
fn embed(
    seg: &dyn Segmenter,
    grey: &Grey,
    (x0, y0): (usize, usize),
    spec: &RunSpec,
    device: Device,
) -> Tensor {
    let size = seg.image_size() as usize;
    let x = pixels(&crop(grey, x0, y0, size), spec.normalize).to_device(device);
    tch::no_grad(|| seg.embed_t(&x, false))
}

/// The prompt-free label map (1 = foreground).
fn prompt_free(seg: &dyn Segmenter, grey: &Grey, spec: &RunSpec, device: Device) -> Vec<u32> {
    let size = seg.image_size() as usize;
    let (w, h) = (grey.width, grey.height);
    let mut sum = vec![0f32; w * h];
    let mut count = vec![0f32; w * h];
    for y0 in tile_starts(0, h, size) {
        for x0 in tile_starts(0, w, size) {
            let embedding = embed(seg, grey, (x0, y0), spec, device);
            let probability = tch::no_grad(|| {
                decode(seg, &embedding, None, size as i64)
                    .sigmoid()
                    .to_device(Device::Cpu)
                    .flatten(0, -1)
            });
            let probability = Vec::<f32>::try_from(probability).expect("fp32 logits");
            for v in 0..size.min(h - y0) {
                for u in 0..size.min(w - x0) {
                    let at = (y0 + v) * w + x0 + u;
                    sum[at] += probability[v * size + u];
                    count[at] += 1.0;
                }
            }
        }
    }
    sum.iter()
        .zip(&count)
        .map(|(s, c)| u32::from(*s > 0.5 * c))
        .collect()
}

/// The instance label map of `boxes`.
fn boxed(
    seg: &dyn Segmenter,
    grey: &Grey,
    boxes: &[[f64; 4]],
    spec: &RunSpec,
    device: Device,
) -> Result<Vec<u32>> {
    let size = seg.image_size() as usize;
    let (w, h) = (grey.width, grey.height);
    let mut labels = vec![0u32; w * h];
    let mut best = vec![f32::NEG_INFINITY; w * h];
    let mut embeddings: HashMap<(usize, usize), Tensor> = HashMap::new();
    for (i, b) in boxes.iter().enumerate() {
        let what = format!("box {} {b:?}", i + 1);
        data::check_box(&what, *b, w, h)?;
        let (x0, y0) = (
            window_start(b[0], b[2], w, size),
            window_start(b[1], b[3], h, size),
        );
        let in_crop = [
            b[0] - x0 as f64,
            b[1] - y0 as f64,
            b[2] - x0 as f64,
            b[3] - y0 as f64,
        ];
        data::check_box(
            &format!("{what} (wider than the model's {size}-px input)"),
            in_crop,
            size,
            size,
        )?;
        let embedding = embeddings
            .entry((x0, y0))
            .or_insert_with(|| embed(seg, grey, (x0, y0), spec, device));
        let prompt = Tensor::from_slice(&in_crop.map(|v| v as f32))
            .view([1, 1, 4])
            .to_device(device);
        let logits = tch::no_grad(|| {
            decode(seg, embedding, Some(&prompt), size as i64)
                .to_device(Device::Cpu)
                .flatten(0, -1)
        });
        let logits = Vec::<f32>::try_from(logits).expect("fp32 logits");
        for v in 0..size.min(h - y0) {
            for u in 0..size.min(w - x0) {
                let (at, l) = ((y0 + v) * w + x0 + u, logits[v * size + u]);
                if l > 0.0 && l > best[at] {
                    best[at] = l;
                    labels[at] = i as u32 + 1;
                }
            }
        }
    }
    Ok(labels)
}

/// The start of the window of `size` (along an axis of `extent` pixels) that segments a box
/// spanning `[lo, hi]`: the tile of the prompt-free grid (half-tile stride) that holds it with its
/// centre nearest the box's — so boxes share image embeddings — else the window centred on it.
fn window_start(lo: f64, hi: f64, extent: usize, size: usize) -> usize {
    let centre = (lo + hi) / 2.0;
    tile_starts(0, extent, size)
        .into_iter()
        .filter(|&s| s as f64 <= lo && hi < (s + size) as f64)
        .min_by(|a, b| {
            let off = |s: usize| (s as f64 + size as f64 / 2.0 - centre).abs();
            off(*a).total_cmp(&off(*b))
        })
        .unwrap_or_else(|| {
            (centre.floor() as usize)
                .saturating_sub(size / 2)
                .min(extent.saturating_sub(size))
        })
}

/// The label map as a grey PNG image: 8-bit when every label fits, else 16-bit.
fn label_map(labels: &[u32], width: usize, height: usize) -> DynamicImage {
    let (w, h) = (width as u32, height as u32);
    if labels.iter().all(|&l| l <= u32::from(u8::MAX)) {
        let raw = labels.iter().map(|&l| l as u8).collect();
        DynamicImage::ImageLuma8(ImageBuffer::<Luma<u8>, _>::from_raw(w, h, raw).expect("sized"))
    } else {
        let raw = labels
            .iter()
            .map(|&l| l.min(u32::from(u16::MAX)) as u16)
            .collect();
        DynamicImage::ImageLuma16(ImageBuffer::<Luma<u16>, _>::from_raw(w, h, raw).expect("sized"))
    }
}

/// The file name of `path`, as the boxes file keys it.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The images of `paths`: files as given, folders' image files (sorted).
fn list_images(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let files = data::image_files(path)?;
            if files.is_empty() {
                bail!("{}: no image files", path.display());
            }
            out.extend(files);
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            bail!("{}: no such file or folder", path.display());
        }
    }
    if out.is_empty() {
        bail!("no images given");
    }
    Ok(out)
}
