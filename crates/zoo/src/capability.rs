//! What a model can do, so that runners ask for a capability instead of matching on model kinds:
//! [`ImageEncoder`] (images → one feature vector each, with the model's own pixel statistics and
//! input-size rule), the CLIP text tower ([`Model::clip`]), and [`Segmenter`].

use tch::{Device, Kind, Tensor};

use crate::clip::ClipModel;
use crate::error::Result;
use crate::model::Model;
use crate::sam::Segmenter;

/// OpenAI CLIP's per-channel pixel statistics (mean, std) on `[0, 1]` pixels.
pub const CLIP_STATS: ([f32; 3], [f32; 3]) = (
    [0.481_454_66, 0.457_827_5, 0.408_210_73],
    [0.268_629_54, 0.261_302_6, 0.275_777_1],
);
/// ImageNet's per-channel pixel statistics (mean, std) on `[0, 1]` pixels (DINOv2).
pub const IMAGENET_STATS: ([f32; 3], [f32; 3]) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);

/// A backbone that maps images to one feature vector per image.
pub trait ImageEncoder {
    /// The per-channel (mean, std) the backbone was trained with, on `[0, 1]` pixels.
    fn pixel_stats(&self) -> ([f32; 3], [f32; 3]);
    /// Checks that square images of `size` pixels are a valid input (before any work starts).
    fn check_size(&self, size: i64) -> Result<()>;
    /// The features `[B, d]` of `pixel_values` `[B, 3, size, size]`, not normalised (CLIP: the
    /// projected image embedding; a bare tower: its pooled output).
    fn features(&self, pixel_values: &Tensor, train: bool) -> Tensor;
}

/// A one-image probe of `size` pixels, for the models' own input checks.
fn probe(size: i64, channels: i64) -> Tensor {
    Tensor::zeros(
        [1, channels, size.max(0), size.max(0)],
        (Kind::Float, Device::Cpu),
    )
}

impl ImageEncoder for ClipModel {
    fn pixel_stats(&self) -> ([f32; 3], [f32; 3]) {
        CLIP_STATS
    }

    fn check_size(&self, size: i64) -> Result<()> {
        let vision = &self.vision_model;
        vision.check_input(&probe(size, vision.config.num_channels))
    }

    fn features(&self, pixel_values: &Tensor, train: bool) -> Tensor {
        self.image_embeds_t(pixel_values, train)
    }
}

impl ImageEncoder for crate::clip::VisionTransformer {
    fn pixel_stats(&self) -> ([f32; 3], [f32; 3]) {
        CLIP_STATS
    }

    fn check_size(&self, size: i64) -> Result<()> {
        self.check_input(&probe(size, self.config.num_channels))
    }

    fn features(&self, pixel_values: &Tensor, train: bool) -> Tensor {
        self.pooled_t(pixel_values, train)
    }
}

impl ImageEncoder for crate::dinov2::Dinov2Model {
    fn pixel_stats(&self) -> ([f32; 3], [f32; 3]) {
        IMAGENET_STATS
    }

    fn check_size(&self, size: i64) -> Result<()> {
        self.check_input(&probe(size, self.config.num_channels), None)
    }

    fn features(&self, pixel_values: &Tensor, train: bool) -> Tensor {
        // The full forward, not a class-token-only last block: the committed DINOv2 reference was
        // made with it, and at the embedded default's 5 tokens the saving would be nil.
        self.forward_t(pixel_values, None, train).pooler_output
    }
}

impl Model {
    /// The model's `config.json` `model_type` (diffusers: its `_class_name`).
    pub fn model_type(&self) -> &'static str {
        match self {
            Model::Clip(_) => "clip",
            Model::ClipVision(_) => "clip_vision_model",
            Model::ClipText(_) => "clip_text_model",
            Model::Dinov2(_) => "dinov2",
            Model::Bert(_) => "bert",
            Model::Sam(_) => "sam",
            Model::LiteMedSam(_) => "lite_medsam",
            Model::Sd3Transformer(_) => crate::mmdit::CLASS_NAME,
            Model::AutoencoderKl(_) => crate::vae::CLASS_NAME,
        }
    }

    /// The model as an image encoder (CLIP, a CLIP vision tower, DINOv2).
    pub fn image_encoder(&self) -> Option<&dyn ImageEncoder> {
        match self {
            Model::Clip(m) => Some(m.as_ref()),
            Model::ClipVision(m) => Some(m),
            Model::Dinov2(m) => Some(m),
            _ => None,
        }
    }

    /// The model with both CLIP towers, for zero-shot text classifiers.
    pub fn clip(&self) -> Option<&ClipModel> {
        match self {
            Model::Clip(m) => Some(m),
            _ => None,
        }
    }

    /// The model as a promptable segmenter (SAM, LiteMedSAM).
    pub fn segmenter(&self) -> Option<&dyn Segmenter> {
        match self {
            Model::Sam(m) => Some(m.as_ref()),
            Model::LiteMedSam(m) => Some(m.as_ref()),
            _ => None,
        }
    }
}
