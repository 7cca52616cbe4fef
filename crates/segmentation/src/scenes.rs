//! Multi-class scenes (CamVid) for SAMed's prompt-free protocol: every image of a split resized
//! once to the encoder's `S × S` input (the whole frame, bilinear with antialiasing; labels by
//! nearest neighbour for the loss at the decoder's resolution), and each evaluation image's label
//! map kept at its own resolution, where the predictions are scored.
//! Selection runs train on `train/` and score `val/`; the grid's runs train on `train/` and score
//! `test/`.

use std::path::Path;

use anyhow::{Context, Result};
use data::{load_camvid, LabelledImage, SegmentationSplit};
use rand::Rng;
use rayon::prelude::*;
use tch::{Kind, Tensor};

use crate::config::Normalize;
use crate::samples::{scaled, step_rng};

/// One split, decoded and resized.
#[derive(Debug)]
pub struct SceneSet {
    /// Image names (file stems), in name order.
    pub names: Vec<String>,
    /// Encoder inputs `[N, 3, S, S]`, scaled.
    pub pixels: Tensor,
    /// Labels at the encoder's size `[N, S, S]` (int64, void included).
    pub labels: Tensor,
    /// Each image's labels at its own size `[H, W]` (uint8), for scoring.
    pub full_labels: Vec<Tensor>,
    /// Each image's RGB pixels at the encoder's size in `[0, 1]` `[3, S, S]`, for figures.
    pub rgb: Tensor,
}

/// A training split and the split a run is scored on.
#[derive(Debug)]
pub struct Scenes {
    /// Class names, in label order.
    pub classes: Vec<String>,
    /// The label of unlabelled pixels.
    pub void: i64,
    /// `train/`.
    pub train: SceneSet,
    /// `val/` (selection runs) or `test/`.
    pub eval: SceneSet,
}

/// One training sample: the encoder input `[1, 3, S, S]` and labels `[1, S, S]`.
#[derive(Debug)]
pub struct SceneSample {
    /// Encoder input.
    pub pixels: Tensor,
    /// Class labels (int64).
    pub labels: Tensor,
}

impl Scenes {
    /// CamVid under `data_root` at encoder size `size`: `train/` and `val/` when `validation`,
    /// else `train/` and `test/`.
    pub fn load(data_root: &Path, size: i64, norm: Normalize, validation: bool) -> Result<Self> {
        let train = load_camvid(data_root, "train")?;
        let eval = load_camvid(data_root, if validation { "val" } else { "test" })?;
        Ok(Self {
            classes: train.classnames.clone(),
            void: i64::from(train.void),
            train: SceneSet::load(&train, size, norm, false)?,
            eval: SceneSet::load(&eval, size, norm, true)?,
        })
    }

    /// The training sample of step `step` (drawn from `(seed, step)`, so a resumed run draws the
    /// same): a random training image, mirrored left-right with probability ½.
    pub fn train_sample(&self, seed: u64, step: usize) -> SceneSample {
        let mut rng = step_rng(seed, step);
        let index = rng.gen_range(0..self.train.names.len()) as i64;
        let (mut pixels, mut labels) = (
            self.train.pixels.narrow(0, index, 1),
            self.train.labels.narrow(0, index, 1),
        );
        if rng.gen::<bool>() {
            pixels = pixels.flip([3]);
            labels = labels.flip([2]);
        }
        SceneSample { pixels, labels }
    }
}

impl SceneSet {
    /// Decodes and resizes every pair of `split` (in parallel); `full` keeps the labels at their
    /// own size too.
    fn load(split: &SegmentationSplit, size: i64, norm: Normalize, full: bool) -> Result<Self> {
        let resized: Vec<(Tensor, Tensor, Option<Tensor>)> = split
            .pairs
            .par_iter()
            .map(|pair| resize(pair, size, full))
            .collect::<Result<_>>()?;
        let rgb = Tensor::cat(&resized.iter().map(|r| &r.0).collect::<Vec<_>>(), 0);
        Ok(Self {
            names: split.pairs.iter().map(|p| p.name.clone()).collect(),
            pixels: scaled(rgb.shallow_clone(), norm),
            labels: Tensor::cat(&resized.iter().map(|r| &r.1).collect::<Vec<_>>(), 0),
            full_labels: resized.into_iter().filter_map(|r| r.2).collect(),
            rgb,
        })
    }
}

/// One pair at `size × size`: RGB `[1, 3, S, S]` in `[0, 1]`, labels `[1, S, S]` (int64) and, when
/// `full`, the labels at their own size `[H, W]`.
fn resize(pair: &LabelledImage, size: i64, full: bool) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let sample = pair
        .load()
        .with_context(|| format!("reading {}", pair.image.display()))?;
    let (h, w) = (pair.height as i64, pair.width as i64);
    let rgb = resized_rgb(
        sample.image.as_slice().expect("standard layout"),
        h,
        w,
        size,
    );
    let labels =
        Tensor::from_slice(sample.labels.as_slice().expect("standard layout")).view([h, w]);
    let small = labels
        .view([1, 1, h, w])
        .to_kind(Kind::Float)
        .upsample_nearest2d([size, size], None, None)
        .to_kind(Kind::Int64)
        .view([1, size, size]);
    Ok((rgb, small, full.then_some(labels)))
}

/// RGB pixels (`height × width × 3`, row-major) as `[1, 3, S, S]` in `[0, 1]`: the whole frame
/// resized to `size` (bilinear with antialiasing).
pub(crate) fn resized_rgb(raw: &[u8], height: i64, width: i64, size: i64) -> Tensor {
    let rgb = Tensor::from_slice(raw)
        .view([1, height, width, 3])
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float)
        / 255.0;
    rgb.internal_upsample_bilinear2d_aa([size, size], false, None, None)
        .clamp(0.0, 1.0)
}
