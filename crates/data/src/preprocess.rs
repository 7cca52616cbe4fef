//! Per-image pipelines: evaluation (resize shorter side + centre crop) and training
//! (RandomResizedCrop + flip), both bicubic, both ending in a normalised `[3, S, S]` array.

use image::imageops::{self, FilterType};
use image::{DynamicImage, Rgb32FImage};
use ndarray::Array3;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::augment::Augment;
use crate::error::{DataError, Result};
use crate::normalize::{Backbone, Normalization};

/// Bicubic resampling (Catmull-Rom, as PIL's and torchvision's "bicubic").
const BICUBIC: FilterType = FilterType::CatmullRom;

/// The preprocessing of one backbone at one resolution. Grayscale inputs become 3 equal channels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Output side S: every image becomes `[3, S, S]`.
    pub size: u32,
    /// Channel statistics.
    pub normalization: Normalization,
    /// Training augmentation.
    pub augment: Augment,
}

impl Preprocess {
    /// The preprocessing of `backbone` at `size`×`size`, with CLIP-LoRA's default augmentation.
    pub fn new(backbone: Backbone, size: u32) -> Result<Self> {
        Self::custom(size, backbone.normalization(), Augment::default())
    }

    /// A preprocessing with explicit statistics and augmentation; rejects a zero size, empty or
    /// reversed ranges, and a flip probability outside `[0, 1]`.
    pub fn custom(size: u32, normalization: Normalization, augment: Augment) -> Result<Self> {
        let bad = |what: String| Err(DataError::InvalidParam(what));
        if size == 0 {
            return bad("image size must be positive".into());
        }
        let (s, r) = (augment.scale, augment.ratio);
        if !(s.0 > 0.0 && s.0 <= s.1 && s.1 <= 1.0) {
            return bad(format!(
                "augment.scale must satisfy 0 < lo <= hi <= 1, got {s:?}"
            ));
        }
        if !(r.0 > 0.0 && r.0 <= r.1) {
            return bad(format!(
                "augment.ratio must satisfy 0 < lo <= hi, got {r:?}"
            ));
        }
        if !(0.0..=1.0).contains(&augment.flip_prob) {
            return bad(format!(
                "augment.flip_prob must be in [0, 1], got {}",
                augment.flip_prob
            ));
        }
        if normalization.std.iter().any(|&v| v <= 0.0) {
            return bad(format!(
                "normalization.std must be positive, got {:?}",
                normalization.std
            ));
        }
        Ok(Self {
            size,
            normalization,
            augment,
        })
    }

    /// Evaluation view: bicubic resize of the shorter side to S (the longer side scaled and
    /// truncated as torchvision's `Resize(S)` does), centre crop S×S, normalise.
    pub fn eval(&self, image: &DynamicImage) -> Array3<f32> {
        let rgb = image.to_rgb32f();
        let (w, h) = rgb.dimensions();
        let s = self.size;
        let (nw, nh) = if w <= h {
            (s, (u64::from(s) * u64::from(h) / u64::from(w)) as u32)
        } else {
            ((u64::from(s) * u64::from(w) / u64::from(h)) as u32, s)
        };
        let resized = imageops::resize(&rgb, nw, nh, BICUBIC);
        let left = centre_offset(nw, s);
        let top = centre_offset(nh, s);
        let crop = imageops::crop_imm(&resized, left, top, s, s).to_image();
        self.normalization.to_chw(&crop)
    }

    /// Training view: RandomResizedCrop to S×S (bicubic), random horizontal flip, normalise.
    pub fn train(&self, image: &DynamicImage, rng: &mut impl Rng) -> Array3<f32> {
        let rgb: Rgb32FImage = image.to_rgb32f();
        let (w, h) = rgb.dimensions();
        let b = self.augment.sample_crop(w, h, rng);
        let crop = imageops::crop_imm(&rgb, b.x, b.y, b.width, b.height).to_image();
        let mut out = imageops::resize(&crop, self.size, self.size, BICUBIC);
        if self.augment.sample_flip(rng) {
            imageops::flip_horizontal_in_place(&mut out);
        }
        self.normalization.to_chw(&out)
    }
}

/// torchvision's centre-crop offset: `round((len - crop) / 2)` with ties to even.
fn centre_offset(len: u32, crop: u32) -> u32 {
    (f64::from(len - crop) / 2.0).round_ties_even() as u32
}
