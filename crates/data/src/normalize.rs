//! Per-backbone channel statistics and the conversion of an RGB image to a normalised CHW array.

use image::Rgb32FImage;
use ndarray::Array3;
use serde::{Deserialize, Serialize};

/// Per-channel mean and standard deviation applied after scaling pixels to `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Channel means (R, G, B).
    pub mean: [f32; 3],
    /// Channel standard deviations (R, G, B).
    pub std: [f32; 3],
}

impl Normalization {
    /// OpenAI CLIP's statistics.
    pub const CLIP: Self = Self {
        mean: [0.481_454_66, 0.457_827_5, 0.408_210_73],
        std: [0.268_629_54, 0.261_302_6, 0.275_777_1],
    };
    /// ImageNet statistics (DINOv2, and SAM's pixel mean/std divided by 255).
    pub const IMAGENET: Self = Self {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };

    /// Converts an RGB image with values in `[0, 1]` to a `[3, H, W]` array, clamping the
    /// overshoot of bicubic resampling to `[0, 1]` (as 8-bit pipelines do) before normalising.
    pub fn to_chw(&self, image: &Rgb32FImage) -> Array3<f32> {
        let (w, h) = image.dimensions();
        Array3::from_shape_fn((3, h as usize, w as usize), |(c, y, x)| {
            let v = image.get_pixel(x as u32, y as u32).0[c].clamp(0.0, 1.0);
            (v - self.mean[c]) / self.std[c]
        })
    }
}

/// The image backbones whose preprocessing this crate reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backbone {
    /// OpenAI CLIP image towers.
    Clip,
    /// DINOv2 (and other ImageNet-normalised ViTs).
    Dinov2,
}

impl Backbone {
    /// The normalisation this backbone was trained with.
    pub fn normalization(self) -> Normalization {
        match self {
            Self::Clip => Normalization::CLIP,
            Self::Dinov2 => Normalization::IMAGENET,
        }
    }
}
