//! transformers' `Dinov2Model`: patch embeddings with CLS token, optional mask token, position
//! embeddings resized to the input grid, LayerScale blocks and a final `layernorm`.

use serial_lora::SitePath;
use tch::{nn, nn::Module, Kind, Tensor};

use super::config::Config;
use crate::error::{Error, Result};
use crate::vit::{resize_positions, BlockNames, Encoder, PatchEmbedding};

/// Checkpoint names of a DINOv2 block; the Serial adapter sits on `attention.attention`.
const DINOV2_BLOCK: BlockNames = BlockNames {
    norm1: "norm1",
    attention: "attention.attention",
    qkv: ["query", "key", "value"],
    out: "attention.output.dense",
    norm2: "norm2",
    layer_scale: Some(["layer_scale1", "layer_scale2"]),
};

/// `embeddings`: `[cls_token; patches (masked → mask_token)] + position_embeddings (resized)`.
#[derive(Debug)]
struct Embeddings {
    cls_token: Tensor,
    mask_token: Option<Tensor>,
    patches: PatchEmbedding,
    positions: Tensor,
}

impl Embeddings {
    fn new(p: &nn::Path, c: &Config) -> Self {
        let d = c.hidden_size;
        let zeros = nn::Init::Const(0.0);
        Self {
            cls_token: p.var("cls_token", &[1, 1, d], zeros),
            mask_token: c
                .use_mask_token
                .then(|| p.var("mask_token", &[1, d], zeros)),
            patches: PatchEmbedding::new(
                &(p / "patch_embeddings" / "projection"),
                c.num_channels,
                d,
                c.patch_size,
                true,
            ),
            positions: p.var("position_embeddings", &[1, c.num_patches() + 1, d], zeros),
        }
    }

    /// Position embeddings for a `height × width` input: as stored when the grid is the trained one
    /// and the image square, else the patch part resized bicubically to the input grid.
    fn positions_for(&self, height: i64, width: i64) -> Tensor {
        let (rows, cols) = self.patches.grid(height, width);
        let stored = self.positions.size()[1] - 1;
        if rows * cols == stored && height == width {
            return self.positions.shallow_clone();
        }
        let patch = resize_positions(&self.positions.narrow(1, 1, stored), rows, cols);
        Tensor::cat(&[self.positions.narrow(1, 0, 1), patch], 1)
    }

    fn forward(&self, pixel_values: &Tensor, bool_masked_pos: Option<&Tensor>) -> Tensor {
        let (_, _, height, width) = pixel_values
            .size4()
            .expect("checked by Dinov2Model::check_input");
        let mut patches = self
            .patches
            .forward(&pixel_values.to_kind(self.cls_token.kind()));
        if let (Some(masked), Some(token)) = (bool_masked_pos, &self.mask_token) {
            let masked = masked.unsqueeze(-1);
            patches = patches.where_self(
                &masked.logical_not(),
                &token.to_kind(patches.kind()).expand_as(&patches),
            );
        }
        let cls = self.cls_token.expand([patches.size()[0], 1, -1], false);
        Tensor::cat(&[cls, patches], 1) + self.positions_for(height, width)
    }
}

/// Output of [`Dinov2Model::forward_t`].
#[derive(Debug)]
pub struct Dinov2Output {
    /// Every token after the final `layernorm`, `[B, 1 + N, d]`.
    pub last_hidden_state: Tensor,
    /// The CLS token of `last_hidden_state`, `[B, d]`.
    pub pooler_output: Tensor,
}

/// DINOv2 (checkpoint names `embeddings.*`, `encoder.layer.<i>.*`, `layernorm.*`).
#[derive(Debug)]
pub struct Dinov2Model {
    embeddings: Embeddings,
    encoder: Encoder,
    layernorm: nn::LayerNorm,
    pub(crate) config: Config,
}

impl Dinov2Model {
    /// Builds the model at `p` (the checkpoint root); its adapter sites follow the store's plan.
    pub fn new(p: &SitePath, c: &Config) -> Result<Self> {
        let norm = nn::LayerNormConfig {
            eps: c.layer_norm_eps,
            ..Default::default()
        };
        Ok(Self {
            embeddings: Embeddings::new(&(p.base() / "embeddings"), c),
            encoder: Encoder::new(
                &(p / "encoder"),
                "layer",
                c.num_hidden_layers,
                &c.block(),
                &DINOV2_BLOCK,
            )?,
            layernorm: nn::layer_norm(p.base() / "layernorm", vec![c.hidden_size], norm),
            config: c.clone(),
        })
    }

    /// Checks `pixel_values` (float `[B, channels, H ≥ patch, W ≥ patch]`) and `bool_masked_pos`
    /// (`[B, patches]`, needing a model with a mask token).
    pub fn check_input(
        &self,
        pixel_values: &Tensor,
        bool_masked_pos: Option<&Tensor>,
    ) -> Result<()> {
        let c = &self.config;
        let size = pixel_values.size();
        let ok = size.len() == 4
            && size[0] >= 1
            && size[1] == c.num_channels
            && size[2] >= c.patch_size
            && size[3] >= c.patch_size;
        if !ok || !pixel_values.is_floating_point() {
            let message = format!(
                "expected float [batch, {}, H ≥ {p}, W ≥ {p}], got {:?} {size:?}",
                c.num_channels,
                pixel_values.kind(),
                p = c.patch_size
            );
            return Err(Error::input("pixel_values", message));
        }
        if let Some(masked) = bool_masked_pos {
            if self.embeddings.mask_token.is_none() {
                return Err(Error::input(
                    "bool_masked_pos",
                    "this model has no mask token (use_mask_token: false)",
                ));
            }
            let (rows, cols) = self.embeddings.patches.grid(size[2], size[3]);
            if masked.size() != [size[0], rows * cols] || masked.kind() != Kind::Bool {
                return Err(Error::input(
                    "bool_masked_pos",
                    format!(
                        "expected bool [{}, {}], got {:?} {:?}",
                        size[0],
                        rows * cols,
                        masked.kind(),
                        masked.size()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Runs the model (see [`check_input`](Self::check_input)); masked patches become the mask token.
    pub fn forward_t(
        &self,
        pixel_values: &Tensor,
        bool_masked_pos: Option<&Tensor>,
        train: bool,
    ) -> Dinov2Output {
        let x = self.embeddings.forward(pixel_values, bool_masked_pos);
        let last_hidden_state = self
            .layernorm
            .forward(&self.encoder.forward_t(&x, None, false, train));
        let pooler_output = last_hidden_state.select(1, 0);
        Dinov2Output {
            last_hidden_state,
            pooler_output,
        }
    }
}
