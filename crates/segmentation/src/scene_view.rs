//! What a multi-class (CamVid) run shows and gives back: each pixel's class at the image's own
//! resolution ([`class_map`]), drawn in CamVid's palette; Figure 4 for scenes (test images, their
//! ground truth and each run's prediction, mIoU in each run's title, a class legend); and
//! `predict`'s label maps and overlays for new images.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use data::{load_camvid, CAMVID_CLASSES, CAMVID_VOID};
use image::{imageops, DynamicImage, GrayImage, Luma, Rgb, RgbImage};
use tch::{Device, Kind, Tensor};
use zoo::sam::Segmenter;

use crate::config::RunSpec;
use crate::drawing::{save_png, titled_grid, Legend};
use crate::predict::{class_logits, segmenter};
use crate::samples::scaled;
use crate::scenes::resized_rgb;
use crate::summary::Summary;
use crate::trained::{load_run, read_spec};

/// CamVid's colours (the SegNet distribution's), in label order; void is black.
pub const PALETTE: [[u8; 3]; 11] = [
    [128, 128, 128],
    [128, 0, 0],
    [192, 192, 128],
    [128, 64, 128],
    [60, 40, 222],
    [128, 128, 0],
    [192, 128, 128],
    [64, 64, 128],
    [64, 0, 128],
    [64, 64, 0],
    [0, 128, 192],
];

/// Test images Figure 4 shows (evenly spread over the sorted test split).
const FIGURE_IMAGES: usize = 3;

/// The encoder input `[1, 3, S, S]` of an RGB image: the whole frame resized to `size` (bilinear
/// with antialiasing), scaled as the run scales pixels ([`crate::scenes`] does the same).
pub fn frame(rgb: &RgbImage, size: i64, spec: &RunSpec) -> Tensor {
    let (w, h) = (i64::from(rgb.width()), i64::from(rgb.height()));
    scaled(resized_rgb(rgb.as_raw(), h, w, size), spec.normalize)
}

/// The class of every pixel of an `height × width` image from its encoder input: the class logits
/// brought to the image's resolution (bilinear), their argmax; `[H, W]` int64.
pub fn class_map(seg: &dyn Segmenter, pixels: &Tensor, height: i64, width: i64) -> Tensor {
    tch::no_grad(|| {
        let logits = class_logits(seg, &seg.embed_t(pixels, false));
        logits
            .upsample_bilinear2d([height, width], false, None, None)
            .select(0, 0)
            .argmax(0, false)
            .to_device(Device::Cpu)
    })
}

/// A class map `[H, W]` (0–10, void 11) in CamVid's colours.
pub fn coloured(classes: &Tensor) -> RgbImage {
    let (h, w) = (classes.size()[0] as u32, classes.size()[1] as u32);
    let v = Vec::<i64>::try_from(classes.flatten(0, -1).to_kind(Kind::Int64)).unwrap_or_default();
    RgbImage::from_fn(w, h, |x, y| {
        let k = v[(y * w + x) as usize] as usize;
        Rgb(PALETTE.get(k).copied().unwrap_or([0, 0, 0]))
    })
}

/// `rgb` with the class colours of `classes` blended in (half and half; void left as it is).
pub fn overlay(rgb: &RgbImage, classes: &Tensor) -> RgbImage {
    let colours = coloured(classes);
    let v = Vec::<i64>::try_from(classes.flatten(0, -1).to_kind(Kind::Int64)).unwrap_or_default();
    RgbImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        let p = rgb.get_pixel(x, y).0;
        if v[(y * rgb.width() + x) as usize] >= i64::from(CAMVID_VOID) {
            return Rgb(p);
        }
        let c = colours.get_pixel(x, y).0;
        Rgb([0, 1, 2].map(|i| ((u16::from(p[i]) + u16::from(c[i])) / 2) as u8))
    })
}

/// The panel title of a multi-class run: `<method label> r<rank> (mIoU 0.4123)`.
fn title(spec: &RunSpec, run: &Path) -> Result<String> {
    let path = run.join("summary.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let summary: Summary = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a segmentation summary", path.display()))?;
    let rank = if spec.rank > 0 {
        format!(" r{}", spec.rank)
    } else {
        String::new()
    };
    Ok(format!(
        "{}{rank} (mIoU {:.4})",
        spec.method.label(),
        summary.test.iou
    ))
}

/// Figure 4 for multi-class runs (sharing a data set): `FIGURE_IMAGES` test images of the data
/// under `data_root`, each with its ground truth and every run's prediction, at half resolution.
pub fn draw_scenes(runs: &[PathBuf], data_root: &Path, out: &Path) -> Result<()> {
    let specs: Vec<RunSpec> = runs.iter().map(|r| read_spec(r)).collect::<Result<_>>()?;
    if let Some((run, _)) = runs.iter().zip(&specs).find(|(_, s)| !s.multiclass()) {
        bail!(
            "{}: not a multi-class run; draw it without --data-root",
            run.display()
        );
    }
    let test = load_camvid(data_root, "test")?;
    let n = test.pairs.len();
    let picks: Vec<usize> = (0..FIGURE_IMAGES)
        .map(|i| (2 * i + 1) * n / (2 * FIGURE_IMAGES))
        .collect();
    let samples = picks
        .iter()
        .map(|&i| {
            let pair = &test.pairs[i];
            let s = pair.load()?;
            let rgb = RgbImage::from_raw(
                pair.width as u32,
                pair.height as u32,
                s.image.into_raw_vec_and_offset().0,
            )
            .context("image buffer")?;
            let labels = Tensor::from_slice(s.labels.as_slice().context("label layout")?)
                .view([pair.height as i64, pair.width as i64]);
            Ok((rgb, labels))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut rows: Vec<Vec<RgbImage>> = samples
        .iter()
        .map(|(rgb, labels)| vec![rgb.clone(), coloured(labels)])
        .collect();
    let mut titles = vec!["image".to_string(), "ground truth".to_string()];
    for (run, spec) in runs.iter().zip(&specs) {
        let loaded = load_run(run, spec, Device::Cpu)?;
        let seg = segmenter(
            &loaded.model,
            &formats::paths::resolve(&spec.model_dir, &formats::paths::repo_root()),
        )?;
        for (row, (rgb, _)) in rows.iter_mut().zip(&samples) {
            let pixels = frame(rgb, seg.image_size(), spec);
            let (h, w) = (i64::from(rgb.height()), i64::from(rgb.width()));
            row.push(coloured(&class_map(seg, &pixels, h, w)));
        }
        titles.push(title(spec, run)?);
    }
    let half = |img: &RgbImage| {
        imageops::resize(
            img,
            img.width() / 2,
            img.height() / 2,
            imageops::FilterType::Nearest,
        )
    };
    let rows: Vec<Vec<RgbImage>> = rows.iter().map(|r| r.iter().map(half).collect()).collect();
    let legend: Vec<Legend> = CAMVID_CLASSES
        .iter()
        .zip(PALETTE)
        .map(|(name, colour)| Legend {
            name: (*name).to_string(),
            colour,
        })
        .collect();
    let canvas = titled_grid(&rows, &titles, &legend)?;
    save_png(out, &DynamicImage::ImageRgb8(canvas))
}

/// `predict` for a multi-class run: per image its class map (`<stem>_labels.png`, 8-bit class
/// indices 0–10) and overlay (`<stem>_overlay.png`) at the image's own size.
pub fn predict_scenes(
    run: &Path,
    spec: &RunSpec,
    images: &[PathBuf],
    outputs: &[[PathBuf; 2]],
    device: Device,
    mut done: impl FnMut(),
) -> Result<Vec<PathBuf>> {
    let loaded = load_run(run, spec, device)?;
    let seg = segmenter(
        &loaded.model,
        &formats::paths::resolve(&spec.model_dir, &formats::paths::repo_root()),
    )?;
    let mut written = Vec::new();
    for (image, [labels_file, overlay_file]) in images.iter().zip(outputs) {
        let rgb = data::ImageSource::File(image.clone()).load()?.into_rgb8();
        let (h, w) = (i64::from(rgb.height()), i64::from(rgb.width()));
        let pixels = frame(&rgb, seg.image_size(), spec).to_device(device);
        let classes = class_map(seg, &pixels, h, w);
        let v = Vec::<i64>::try_from(classes.flatten(0, -1)).unwrap_or_default();
        let map = GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
            Luma([v[(y * rgb.width() + x) as usize] as u8])
        });
        save_png(labels_file, &DynamicImage::ImageLuma8(map))?;
        save_png(
            overlay_file,
            &DynamicImage::ImageRgb8(overlay(&rgb, &classes)),
        )?;
        written.extend([labels_file.clone(), overlay_file.clone()]);
        done();
    }
    Ok(written)
}
