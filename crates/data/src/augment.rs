//! Training augmentation: torchvision's RandomResizedCrop box sampling and a horizontal flip.

use rand::Rng;
use serde::{Deserialize, Serialize};

/// RandomResizedCrop and flip parameters; the default is CLIP-LoRA's (scale 0.08–1, ratio 3/4–4/3,
/// flip with probability 0.5).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    /// Range of the crop area as a fraction of the image area.
    pub scale: (f64, f64),
    /// Range of the crop aspect ratio (width / height).
    pub ratio: (f64, f64),
    /// Probability of a horizontal flip.
    pub flip_prob: f64,
}

impl Default for Augment {
    fn default() -> Self {
        Self {
            scale: (0.08, 1.0),
            ratio: (3.0 / 4.0, 4.0 / 3.0),
            flip_prob: 0.5,
        }
    }
}

/// A crop rectangle in pixels: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Augment {
    /// Samples a crop of a `width`×`height` image exactly as torchvision's
    /// `RandomResizedCrop.get_params` does: ten tries at a random area and log-uniform aspect ratio,
    /// then a centre crop clamped to the ratio range.
    pub fn sample_crop(&self, width: u32, height: u32, rng: &mut impl Rng) -> CropBox {
        let (w_img, h_img) = (f64::from(width), f64::from(height));
        let area = w_img * h_img;
        let (log_lo, log_hi) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let target = area * rng.gen_range(self.scale.0..=self.scale.1);
            let aspect = rng.gen_range(log_lo..=log_hi).exp();
            let w = (target * aspect).sqrt().round();
            let h = (target / aspect).sqrt().round();
            if w > 0.0 && h > 0.0 && w <= w_img && h <= h_img {
                let (w, h) = (w as u32, h as u32);
                return CropBox {
                    x: rng.gen_range(0..=width - w),
                    y: rng.gen_range(0..=height - h),
                    width: w,
                    height: h,
                };
            }
        }
        let in_ratio = w_img / h_img;
        let (w, h) = if in_ratio < self.ratio.0 {
            (width, (w_img / self.ratio.0).round() as u32)
        } else if in_ratio > self.ratio.1 {
            ((h_img * self.ratio.1).round() as u32, height)
        } else {
            (width, height)
        };
        CropBox {
            x: (width - w) / 2,
            y: (height - h) / 2,
            width: w,
            height: h,
        }
    }

    /// Draws whether to flip horizontally.
    pub fn sample_flip(&self, rng: &mut impl Rng) -> bool {
        rng.gen_bool(self.flip_prob)
    }
}
