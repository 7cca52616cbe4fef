//! `SamPositionalEmbedding` (random Fourier features, `shared_image_embedding`) and
//! `SamPromptEncoder`: points, boxes and masks → sparse and dense prompt embeddings.

use std::f64::consts::PI;

use tch::{nn, nn::Module, Kind, Tensor};

use super::config::PromptEncoderConfig;
use super::layers::LayerNorm2d;
use crate::vit::Activation;

/// `shared_image_embedding.positional_embedding` `[2, F]`: `[sin(2π·c·G), cos(2π·c·G)]` of
/// coordinates `c` in `[-1, 1]`.
#[derive(Debug)]
pub struct PositionalEmbedding {
    gaussian: Tensor,
}

impl PositionalEmbedding {
    /// The embedding at `p` with `features` frequencies (half the prompt width).
    pub fn new(p: &nn::Path, features: i64) -> Self {
        Self {
            gaussian: p.var("positional_embedding", &[2, features], nn::Init::Const(0.0)),
        }
    }

    /// Encodes `coords` `[..., 2]` (x, y) already scaled to `[0, 1]`.
    pub fn encode(&self, coords: &Tensor) -> Tensor {
        let c =
            (coords.to_kind(self.gaussian.kind()) * 2.0 - 1.0).matmul(&self.gaussian) * (2.0 * PI);
        Tensor::cat(&[c.sin(), c.cos()], -1)
    }

    /// The dense encoding of a `size × size` grid of cell centres: `[1, 2F, size, size]`.
    pub fn grid(&self, size: i64) -> Tensor {
        let centres =
            (Tensor::arange(size, (Kind::Float, self.gaussian.device())) + 0.5) / size as f64;
        let y = centres.view([size, 1]).expand([size, size], false);
        let x = centres.view([1, size]).expand([size, size], false);
        self.encode(&Tensor::stack(&[x, y], -1))
            .permute([2, 0, 1])
            .unsqueeze(0)
    }
}

/// `prompt_encoder.mask_embed`: two stride-2 convs with LayerNorm2d and activation, then a 1×1 conv.
#[derive(Debug)]
struct MaskEmbedding {
    conv1: nn::Conv2D,
    layer_norm1: LayerNorm2d,
    conv2: nn::Conv2D,
    layer_norm2: LayerNorm2d,
    conv3: nn::Conv2D,
    act: Activation,
}

impl MaskEmbedding {
    fn new(p: &nn::Path, c: &PromptEncoderConfig) -> Self {
        let (quarter, full) = (c.mask_input_channels / 4, c.mask_input_channels);
        let s2 = nn::ConvConfig {
            stride: 2,
            ..Default::default()
        };
        Self {
            conv1: nn::conv2d(p / "conv1", 1, quarter, 2, s2),
            layer_norm1: LayerNorm2d::new(&(p / "layer_norm1"), quarter, c.layer_norm_eps),
            conv2: nn::conv2d(p / "conv2", quarter, full, 2, s2),
            layer_norm2: LayerNorm2d::new(&(p / "layer_norm2"), full, c.layer_norm_eps),
            conv3: nn::conv2d(p / "conv3", full, c.hidden_size, 1, Default::default()),
            act: c.hidden_act,
        }
    }

    fn forward(&self, masks: &Tensor) -> Tensor {
        let x = self
            .act
            .forward(&self.layer_norm1.forward(&self.conv1.forward(masks)));
        let x = self
            .act
            .forward(&self.layer_norm2.forward(&self.conv2.forward(&x)));
        self.conv3.forward(&x)
    }
}

/// `prompt_encoder`: learned point/box-corner embeddings on top of the shared positional embedding,
/// and the dense mask embedding (or `no_mask_embed` everywhere).
#[derive(Debug)]
pub struct PromptEncoder {
    mask_embed: MaskEmbedding,
    no_mask_embed: Tensor,
    point_embed: Vec<Tensor>,
    not_a_point_embed: Tensor,
    config: PromptEncoderConfig,
}

fn embedding(p: &nn::Path, d: i64) -> Tensor {
    p.var("weight", &[1, d], nn::Init::Const(0.0))
}

impl PromptEncoder {
    /// The prompt encoder at `p` (`prompt_encoder`).
    pub fn new(p: &nn::Path, c: &PromptEncoderConfig) -> Self {
        let d = c.hidden_size;
        Self {
            mask_embed: MaskEmbedding::new(&(p / "mask_embed"), c),
            no_mask_embed: embedding(&(p / "no_mask_embed"), d),
            point_embed: (0..c.num_point_embeddings)
                .map(|i| embedding(&(p / "point_embed" / i), d))
                .collect(),
            not_a_point_embed: embedding(&(p / "not_a_point_embed"), d),
            config: c.clone(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PromptEncoderConfig {
        &self.config
    }

    fn scaled(&self, coords: &Tensor) -> Tensor {
        (coords + 0.5) / self.config.image_size as f64
    }

    /// `points` `[B, P, N, 2]` in input pixels, `labels` `[B, P, N]` (1 foreground, 0 background,
    /// −1 padding, −10 ignored) → `[B, P, N(+1), d]`; a padding point is appended when `pad`.
    fn embed_points(
        &self,
        pe: &PositionalEmbedding,
        points: &Tensor,
        labels: &Tensor,
        pad: bool,
    ) -> Tensor {
        let (points, labels) = if pad {
            let s = points.size();
            let zero = Tensor::zeros([s[0], s[1], 1, 2], (points.kind(), points.device()));
            let minus = Tensor::full([s[0], s[1], 1], -1, (labels.kind(), labels.device()));
            (
                Tensor::cat(&[points, &zero], 2),
                Tensor::cat(&[labels, &minus], 2),
            )
        } else {
            (points.shallow_clone(), labels.shallow_clone())
        };
        let e = pe.encode(&self.scaled(&points));
        let label = |v: i64| labels.eq(v).unsqueeze(-1);
        let e = e.where_self(
            &label(-1).logical_not(),
            &self.not_a_point_embed.expand_as(&e),
        );
        let e = e.where_self(&label(-10).logical_not(), &e.zeros_like());
        let e = e.where_self(&label(0).logical_not(), &(&e + &self.point_embed[0]));
        e.where_self(&label(1).logical_not(), &(&e + &self.point_embed[1]))
    }

    /// `boxes` `[B, P, 4]` (x0, y0, x1, y1 in input pixels) → `[B, P, 2, d]`.
    fn embed_boxes(&self, pe: &PositionalEmbedding, boxes: &Tensor) -> Tensor {
        let s = boxes.size();
        let corners = self.scaled(&boxes.reshape([s[0], s[1], 2, 2]));
        let corner_embed = Tensor::cat(&[&self.point_embed[2], &self.point_embed[3]], 0);
        pe.encode(&corners) + corner_embed
    }

    /// Sparse embeddings `[B, P, T, d]` (`None` without points and boxes) and dense embeddings
    /// `[B, d, e, e]` for a batch of `batch` images.
    pub fn forward(
        &self,
        pe: &PositionalEmbedding,
        prompts: &super::Prompts,
        batch: i64,
    ) -> (Option<Tensor>, Tensor) {
        let points = prompts
            .points
            .map(|(p, l)| self.embed_points(pe, p, l, prompts.boxes.is_none()));
        let boxes = prompts.boxes.map(|b| self.embed_boxes(pe, b));
        let sparse = match (points, boxes) {
            (Some(p), Some(b)) => Some(Tensor::cat(&[p, b], 2)),
            (p, b) => p.or(b),
        };
        let e = self.config.embedding_size();
        let dense = match prompts.masks {
            Some(m) => self.mask_embed.forward(m),
            None => self
                .no_mask_embed
                .view([1, -1, 1, 1])
                .expand([batch, -1, e, e], false),
        };
        (sparse, dense)
    }
}
