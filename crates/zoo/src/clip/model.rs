//! transformers' `CLIPModel`: both towers, their projections into the joint space and the learned
//! temperature `logit_scale`.

use serial_lora::SitePath;
use tch::{nn, nn::Module, Tensor};

use super::config::Config;
use super::text::{TextOutput, TextTransformer};
use super::vision::{VisionOutput, VisionTransformer};
use crate::error::Result;

/// One tower's output inside the joint model.
#[derive(Debug)]
pub struct Tower<O> {
    /// The tower's own output.
    pub output: O,
    /// The projected pooled state `W·pooled`, as transformers 5 reports it as the tower's `pooler_output`.
    pub projected: Tensor,
    /// The unit-norm projection: `image_embeds` / `text_embeds`.
    pub embeds: Tensor,
}

/// Output of [`ClipModel::forward_t`]; a tower is absent when its input was.
#[derive(Debug)]
pub struct ClipOutput {
    /// Vision side.
    pub vision: Option<Tower<VisionOutput>>,
    /// Text side.
    pub text: Option<Tower<TextOutput>>,
    /// `exp(logit_scale)·image_embeds·text_embedsᵀ`, `[images, texts]`, when both towers ran.
    pub logits_per_image: Option<Tensor>,
}

/// CLIP with both towers (checkpoint names `vision_model.*`, `text_model.*`, `visual_projection`,
/// `text_projection`, `logit_scale`).
#[derive(Debug)]
pub struct ClipModel {
    /// The vision tower.
    pub vision_model: VisionTransformer,
    /// The text tower.
    pub text_model: TextTransformer,
    visual_projection: nn::Linear,
    text_projection: nn::Linear,
    logit_scale: Tensor,
}

/// `x / ‖x‖₂` on the last dimension.
fn normalized(x: &Tensor) -> Tensor {
    x / x.square().sum_dim_intlist(-1, true, None).sqrt()
}

impl ClipModel {
    /// Builds the model at `p` (the checkpoint root).
    pub fn new(p: &SitePath, c: &Config) -> Result<Self> {
        let no_bias = nn::LinearConfig {
            bias: false,
            ..Default::default()
        };
        Ok(Self {
            vision_model: VisionTransformer::new(&(p / "vision_model"), &c.vision)?,
            text_model: TextTransformer::new(&(p / "text_model"), &c.text)?,
            visual_projection: nn::linear(
                p.base() / "visual_projection",
                c.vision.hidden_size,
                c.projection_dim,
                no_bias,
            ),
            text_projection: nn::linear(
                p.base() / "text_projection",
                c.text.hidden_size,
                c.projection_dim,
                no_bias,
            ),
            logit_scale: p.base().var(
                "logit_scale",
                &[],
                nn::Init::Const(c.logit_scale_init_value),
            ),
        })
    }

    /// Image features: the vision tower and its projection.
    pub fn image_features(&self, pixel_values: &Tensor, train: bool) -> Tower<VisionOutput> {
        let output = self.vision_model.forward_t(pixel_values, train);
        let projected = self.visual_projection.forward(&output.pooler_output);
        Tower {
            embeds: normalized(&projected),
            projected,
            output,
        }
    }

    /// The projected pooled image state alone (`Tower::projected` of
    /// [`image_features`](Self::image_features)), by the tower's cheaper
    /// [`pooled_t`](VisionTransformer::pooled_t).
    pub fn image_embeds_t(&self, pixel_values: &Tensor, train: bool) -> Tensor {
        self.visual_projection
            .forward(&self.vision_model.pooled_t(pixel_values, train))
    }

    /// Text features: the text tower and its projection.
    pub fn text_features(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        train: bool,
    ) -> Tower<TextOutput> {
        let output = self.text_model.forward_t(input_ids, attention_mask, train);
        let projected = self.text_projection.forward(&output.pooler_output);
        Tower {
            embeds: normalized(&projected),
            projected,
            output,
        }
    }

    /// Runs whichever towers have inputs (checked by the towers' `check_input`), and the logits when both do.
    pub fn forward_t(
        &self,
        pixel_values: Option<&Tensor>,
        input_ids: Option<&Tensor>,
        attention_mask: Option<&Tensor>,
        train: bool,
    ) -> ClipOutput {
        let vision = pixel_values.map(|x| self.image_features(x, train));
        let text = input_ids.map(|ids| self.text_features(ids, attention_mask, train));
        let logits_per_image = match (&vision, &text) {
            (Some(v), Some(t)) => Some(v.embeds.matmul(&t.embeds.tr()) * self.logit_scale.exp()),
            _ => None,
        };
        ClipOutput {
            vision,
            text,
            logits_per_image,
        }
    }
}
