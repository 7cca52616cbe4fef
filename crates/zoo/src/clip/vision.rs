//! CLIP's vision tower (transformers' `CLIPVisionModel`): class token + patches + positions,
//! `pre_layrnorm`, the encoder, and `post_layernorm` on the class token.

use serial_lora::SitePath;
use tch::{nn, nn::Module, Tensor};

use super::config::VisionConfig;
use crate::error::{Error, Result};
use crate::vit::{BlockNames, Encoder, PatchEmbedding};

/// Checkpoint names of a CLIP encoder block (vision and text alike).
pub(crate) const CLIP_BLOCK: BlockNames = BlockNames {
    norm1: "layer_norm1",
    attention: "self_attn",
    qkv: ["q_proj", "k_proj", "v_proj"],
    out: "self_attn.out_proj",
    norm2: "layer_norm2",
    layer_scale: None,
};

/// `embeddings`: `[class_embedding; patch_embedding(x)] + position_embedding`.
#[derive(Debug)]
struct Embeddings {
    class_embedding: Tensor,
    patches: PatchEmbedding,
    positions: Tensor,
}

impl Embeddings {
    fn new(p: &nn::Path, c: &VisionConfig) -> Self {
        let d = c.hidden_size;
        Self {
            class_embedding: p.var(
                "class_embedding",
                &[d],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 1.0,
                },
            ),
            patches: PatchEmbedding::new(
                &(p / "patch_embedding"),
                c.num_channels,
                d,
                c.patch_size,
                false,
            ),
            positions: nn::embedding(
                p / "position_embedding",
                c.num_patches() + 1,
                d,
                Default::default(),
            )
            .ws,
        }
    }

    fn forward(&self, pixel_values: &Tensor) -> Tensor {
        let patches = self.patches.forward(pixel_values);
        let batch = patches.size()[0];
        let class = self
            .class_embedding
            .view([1, 1, -1])
            .expand([batch, 1, -1], false);
        Tensor::cat(&[class, patches], 1) + self.positions.unsqueeze(0)
    }
}

/// Output of a CLIP vision tower.
#[derive(Debug)]
pub struct VisionOutput {
    /// Every token after the last block, `[B, 1 + N, d]` (no final norm, as in transformers).
    pub last_hidden_state: Tensor,
    /// `post_layernorm` of the class token, `[B, d]`.
    pub pooler_output: Tensor,
}

/// The vision tower at `p` (checkpoint root for `CLIPVisionModel`, `vision_model` inside `CLIPModel`).
#[derive(Debug)]
pub struct VisionTransformer {
    embeddings: Embeddings,
    pre_layrnorm: nn::LayerNorm,
    encoder: Encoder,
    post_layernorm: nn::LayerNorm,
    pub(crate) config: VisionConfig,
}

impl VisionTransformer {
    /// Builds the tower; its adapter sites follow the store's plan.
    pub fn new(p: &SitePath, c: &VisionConfig) -> Result<Self> {
        let norm = |name: &str| {
            let config = nn::LayerNormConfig {
                eps: c.layer_norm_eps,
                ..Default::default()
            };
            nn::layer_norm(p.base() / name, vec![c.hidden_size], config)
        };
        Ok(Self {
            embeddings: Embeddings::new(&(p.base() / "embeddings"), c),
            pre_layrnorm: norm("pre_layrnorm"),
            encoder: Encoder::new(
                &(p / "encoder"),
                "layers",
                c.num_hidden_layers,
                &c.block(),
                &CLIP_BLOCK,
            )?,
            post_layernorm: norm("post_layernorm"),
            config: c.clone(),
        })
    }

    /// Checks that `pixel_values` is `[B, channels, image_size, image_size]` and floating point.
    pub fn check_input(&self, pixel_values: &Tensor) -> Result<()> {
        let c = &self.config;
        let expected = [c.num_channels, c.image_size, c.image_size];
        let size = pixel_values.size();
        if size.len() != 4
            || size[0] < 1
            || size[1..] != expected
            || !pixel_values.is_floating_point()
        {
            let message = format!(
                "expected float [batch, {}, {}, {}], got {:?} {size:?}",
                expected[0],
                expected[1],
                expected[2],
                pixel_values.kind()
            );
            return Err(Error::input("pixel_values", message));
        }
        Ok(())
    }

    /// Runs the tower on `pixel_values` (see [`check_input`](Self::check_input)).
    pub fn forward_t(&self, pixel_values: &Tensor, train: bool) -> VisionOutput {
        let x = self
            .pre_layrnorm
            .forward(&self.embeddings.forward(pixel_values));
        let last_hidden_state = self.encoder.forward_t(&x, None, false, train);
        let pooler_output = self.post_layernorm.forward(&last_hidden_state.select(1, 0));
        VisionOutput {
            last_hidden_state,
            pooler_output,
        }
    }

    /// `pooler_output` alone: the same values, with the last block computing the class token only
    /// (the other tokens' last-block outputs are never read by the pooled output).
    pub fn pooled_t(&self, pixel_values: &Tensor, train: bool) -> Tensor {
        let x = self
            .pre_layrnorm
            .forward(&self.embeddings.forward(pixel_values));
        let class = self.encoder.forward_t_rows(&x, 1, train).select(1, 0);
        self.post_layernorm.forward(&class)
    }
}
