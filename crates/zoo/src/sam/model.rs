//! [`SamModel`] (transformers' `SamModel`) and what every SAM-style segmenter shares: the
//! [`Prompts`], the [`PromptHead`] (positional embedding, prompt encoder, mask decoder) and the
//! [`Segmenter`] interface with its checked, named-tensor forward.

use serial_lora::SitePath;
use tch::{Kind, Tensor};

use super::config::{Config, MaskDecoderConfig, PromptEncoderConfig};
use super::decoder::MaskDecoder;
use super::prompt::{PositionalEmbedding, PromptEncoder};
use super::vision::VisionEncoder;
use crate::error::{Error, Result};
use crate::model::Tensors;

/// Prompts of a batch of `B` images, in input-image pixels, as transformers takes them.
#[derive(Debug, Default, Clone, Copy)]
pub struct Prompts<'a> {
    /// `input_points` `[B, P, N, 2]` and `input_labels` `[B, P, N]`.
    pub points: Option<(&'a Tensor, &'a Tensor)>,
    /// `input_boxes` `[B, P, 4]` (x0, y0, x1, y1).
    pub boxes: Option<&'a Tensor>,
    /// `input_masks` `[B, 1, 4e, 4e]` (low-resolution mask logits).
    pub masks: Option<&'a Tensor>,
}

/// Output of a segmenter.
#[derive(Debug)]
pub struct SegmentationOutput {
    /// Mask logits `[B, P, M, 4e, 4e]` at the decoder's resolution.
    pub pred_masks: Tensor,
    /// Predicted IoU of each mask `[B, P, M]`.
    pub iou_scores: Tensor,
}

/// `shared_image_embedding`, `prompt_encoder` and `mask_decoder` (checkpoint roots).
#[derive(Debug)]
pub struct PromptHead {
    shared_image_embedding: PositionalEmbedding,
    prompt_encoder: PromptEncoder,
    mask_decoder: MaskDecoder,
}

impl PromptHead {
    /// The head under the checkpoint root `p`.
    pub fn new(p: &SitePath, prompt: &PromptEncoderConfig, decoder: &MaskDecoderConfig) -> Self {
        let base = p.base();
        Self {
            shared_image_embedding: PositionalEmbedding::new(
                &(base / "shared_image_embedding"),
                prompt.hidden_size / 2,
            ),
            prompt_encoder: PromptEncoder::new(&(base / "prompt_encoder"), prompt),
            mask_decoder: MaskDecoder::new(&(base / "mask_decoder"), decoder),
        }
    }

    /// Decodes `image_embeddings` `[B, d, e, e]` with `prompts`.
    pub fn forward(
        &self,
        image_embeddings: &Tensor,
        prompts: &Prompts,
        multimask: bool,
    ) -> SegmentationOutput {
        let b = image_embeddings.size()[0];
        let pe = &self.shared_image_embedding;
        let (sparse, dense) = self.prompt_encoder.forward(pe, prompts, b);
        let image_pe = pe.grid(self.prompt_encoder.config().embedding_size());
        let (pred_masks, iou_scores) = self.mask_decoder.forward(
            image_embeddings,
            &image_pe,
            sparse.as_ref(),
            &dense,
            multimask,
        );
        SegmentationOutput {
            pred_masks,
            iou_scores,
        }
    }

    /// Checks prompts against a batch of `batch` images.
    pub fn check_prompts(&self, prompts: &Prompts, batch: i64) -> Result<()> {
        let c = self.prompt_encoder.config();
        let bad = |name: &str, want: String, t: &Tensor| {
            Error::input(
                name,
                format!("expected {want}, got {:?} {:?}", t.kind(), t.size()),
            )
        };
        let mut groups = None;
        if let Some(boxes) = prompts.boxes {
            let s = boxes.size();
            if s.len() != 3 || s[0] != batch || s[2] != 4 || !boxes.is_floating_point() {
                return Err(bad(
                    "input_boxes",
                    format!("float [{batch}, boxes, 4]"),
                    boxes,
                ));
            }
            groups = Some(s[1]);
        }
        if let Some((points, labels)) = prompts.points {
            let s = points.size();
            if s.len() != 4 || s[0] != batch || s[3] != 2 || !points.is_floating_point() {
                return Err(bad(
                    "input_points",
                    format!("float [{batch}, groups, points, 2]"),
                    points,
                ));
            }
            if labels.size() != s[..3] || labels.is_floating_point() {
                return Err(bad(
                    "input_labels",
                    format!("integer {:?}", &s[..3]),
                    labels,
                ));
            }
            if groups.is_some_and(|g| g != s[1]) {
                return Err(Error::input(
                    "input_points",
                    "needs as many groups as input_boxes has boxes",
                ));
            }
        }
        if let Some(masks) = prompts.masks {
            let side = 4 * c.embedding_size();
            if masks.size() != [batch, 1, side, side] || !masks.is_floating_point() {
                return Err(bad(
                    "input_masks",
                    format!("float [{batch}, 1, {side}, {side}]"),
                    masks,
                ));
            }
        }
        Ok(())
    }
}

/// A promptable segmenter: image encoder + [`PromptHead`].
pub trait Segmenter {
    /// Side of the square input image in pixels.
    fn image_size(&self) -> i64;
    /// Whether transformers' default (or the package's) returns the multimask output.
    fn default_multimask(&self) -> bool;
    /// The image embedding `[B, d, e, e]` of `pixel_values` `[B, 3, S, S]`.
    fn embed_t(&self, pixel_values: &Tensor, train: bool) -> Tensor;
    /// The prompt encoder and mask decoder.
    fn head(&self) -> &PromptHead;

    /// Embeds the image and decodes the prompts.
    fn forward_t(
        &self,
        pixel_values: &Tensor,
        prompts: &Prompts,
        multimask: bool,
        train: bool,
    ) -> SegmentationOutput {
        let embeddings = self.embed_t(pixel_values, train);
        self.head().forward(&embeddings, prompts, multimask)
    }

    /// Checks `pixel_values` (float `[B, 3, S, S]`) and the prompts.
    fn check_input(&self, pixel_values: &Tensor, prompts: &Prompts) -> Result<()> {
        let s = self.image_size();
        let size = pixel_values.size();
        if size.len() != 4
            || size[0] < 1
            || size[1..] != [3, s, s]
            || !pixel_values.is_floating_point()
        {
            return Err(Error::input(
                "pixel_values",
                format!(
                    "expected float [batch, 3, {s}, {s}], got {:?} {size:?}",
                    pixel_values.kind()
                ),
            ));
        }
        self.head().check_prompts(prompts, size[0])
    }
}

fn float(t: &Tensor) -> Tensor {
    if t.is_floating_point() {
        t.to_kind(Kind::Float)
    } else {
        t.shallow_clone()
    }
}

/// Runs `model` on inputs named as transformers names them (`pixel_values`, `input_boxes`,
/// `input_points` + `input_labels`, `input_masks`, optional scalar `multimask_output`), returning
/// `pred_masks` and `iou_scores`.
pub fn forward_named(model: &dyn Segmenter, inputs: &Tensors) -> Result<Tensors> {
    let get = |n: &str| inputs.get(n).map(float);
    let pixels = get("pixel_values").ok_or_else(|| Error::input("pixel_values", "missing"))?;
    let (boxes, points, masks) = (get("input_boxes"), get("input_points"), get("input_masks"));
    let labels = inputs.get("input_labels").map(|t| t.to_kind(Kind::Int64));
    let points = match (&points, &labels) {
        (Some(p), Some(l)) => Some((p, l)),
        (Some(_), None) => {
            return Err(Error::input(
                "input_labels",
                "missing (input_points needs labels)",
            ))
        }
        (None, Some(_)) => {
            return Err(Error::input(
                "input_points",
                "missing (input_labels came alone)",
            ))
        }
        (None, None) => None,
    };
    let prompts = Prompts {
        points,
        boxes: boxes.as_ref(),
        masks: masks.as_ref(),
    };
    model.check_input(&pixels, &prompts)?;
    let multimask = match inputs.get("multimask_output") {
        Some(t) if t.numel() == 1 => t.double_value(&[]) != 0.0,
        Some(t) => {
            return Err(Error::input(
                "multimask_output",
                format!("expected a scalar, got {:?}", t.size()),
            ))
        }
        None => model.default_multimask(),
    };
    let out = tch::no_grad(|| model.forward_t(&pixels, &prompts, multimask, false));
    Ok(Tensors::from([
        ("pred_masks".into(), out.pred_masks),
        ("iou_scores".into(), out.iou_scores),
    ]))
}

/// transformers' `SamModel` (checkpoint roots `vision_encoder`, `shared_image_embedding`,
/// `prompt_encoder`, `mask_decoder`).
#[derive(Debug)]
pub struct SamModel {
    vision_encoder: VisionEncoder,
    head: PromptHead,
    image_size: i64,
}

impl SamModel {
    /// Builds the model at the checkpoint root `p`; the vision blocks' attention are adapter sites.
    pub fn new(p: &SitePath, c: &Config) -> Result<Self> {
        Ok(Self {
            vision_encoder: VisionEncoder::new(&(p / "vision_encoder"), &c.vision_config)?,
            head: PromptHead::new(p, &c.prompt_encoder_config, &c.mask_decoder_config),
            image_size: c.vision_config.image_size,
        })
    }
}

impl Segmenter for SamModel {
    fn image_size(&self) -> i64 {
        self.image_size
    }

    fn default_multimask(&self) -> bool {
        true
    }

    fn embed_t(&self, pixel_values: &Tensor, train: bool) -> Tensor {
        self.vision_encoder.forward_t(pixel_values, train)
    }

    fn head(&self) -> &PromptHead {
        &self.head
    }
}
