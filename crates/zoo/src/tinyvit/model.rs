//! The TinyViT image encoder and [`LiteMedSam`] (TinyViT + SAM prompt encoder and mask decoder).

use serial_lora::SitePath;
use tch::Tensor;

use super::block::Block;
use super::config::{Config, LiteMedSamConfig};
use super::conv::{MbConv, PatchEmbed, PatchMerging};
use crate::error::Result;
use crate::sam::{Neck, PromptHead, Segmenter};

/// The blocks of one stage: MBConv (stage 0) or attention blocks.
#[derive(Debug)]
enum Blocks {
    Conv(Vec<MbConv>),
    Attention(Vec<Block>),
}

/// `layers.<s>`: blocks, then PatchMerging unless last.
#[derive(Debug)]
struct Stage {
    blocks: Blocks,
    downsample: Option<PatchMerging>,
}

impl Stage {
    /// `x` `[B, C, H, W]` → `[B, C', H', W']`.
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let x = match &self.blocks {
            Blocks::Conv(blocks) => blocks.iter().fold(x.shallow_clone(), |x, b| b.forward(&x)),
            Blocks::Attention(blocks) => {
                let x = x.permute([0, 2, 3, 1]);
                let x = blocks.iter().fold(x, |x, b| b.forward_t(&x, train));
                x.permute([0, 3, 1, 2])
            }
        };
        match &self.downsample {
            Some(merge) => merge.forward(&x),
            None => x,
        }
    }
}

/// TinyViT (`image_encoder`): 1×1 Conv-BN stem, MBConv stage, windowed-attention stages with
/// PatchMerging between them, SAM neck (`neck.0`…`neck.3`).
#[derive(Debug)]
pub struct TinyVit {
    patch_embed: PatchEmbed,
    layers: Vec<Stage>,
    neck: Neck,
}

impl TinyVit {
    /// The encoder at `p`; attention blocks are numbered 0, 1, … across stages as transformer
    /// layers for adapter plans (`blocks`).
    pub fn new(p: &SitePath, c: &Config) -> Result<Self> {
        let dims = &c.embed_dims;
        let layers = p / "layers";
        let mut block_index = 0;
        let mut stages = Vec::with_capacity(dims.len());
        for (s, &d) in dims.iter().enumerate() {
            let stage = &layers / s;
            let blocks = if s == 0 {
                let hidden = (d as f64 * c.mbconv_expand_ratio) as i64;
                let base = stage.base() / "blocks";
                Blocks::Conv(
                    (0..c.depths[s])
                        .map(|j| MbConv::new(&(&base / j), d, hidden))
                        .collect(),
                )
            } else {
                let blocks = &stage / "blocks";
                let mut built = Vec::with_capacity(c.depths[s]);
                for j in 0..c.depths[s] {
                    let site = blocks.layer(j, block_index);
                    block_index += 1;
                    built.push(Block::new(
                        &site,
                        d,
                        c.num_heads[s],
                        c.window_sizes[s],
                        c.mlp_ratio,
                        c.local_conv_size,
                    )?);
                }
                Blocks::Attention(built)
            };
            let downsample = (s + 1 < dims.len()).then(|| {
                PatchMerging::new(
                    &(stage.base() / "downsample"),
                    d,
                    dims[s + 1],
                    c.merge_stride(s),
                )
            });
            stages.push(Stage { blocks, downsample });
        }
        let base = p.base();
        Ok(Self {
            patch_embed: PatchEmbed::new(&(base / "patch_embed"), c.num_channels, dims[0]),
            layers: stages,
            neck: Neck::new(
                &(base / "neck"),
                *dims.last().expect("checked: at least two stages"),
                c.output_channels,
                ["0", "1", "2", "3"],
            ),
        })
    }

    /// The image embedding `[B, output_channels, e, e]` of `[B, 3, S, S]`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let x = self.patch_embed.forward(x);
        let x = self
            .layers
            .iter()
            .fold(x, |x, stage| stage.forward_t(&x, train));
        self.neck.forward(&x)
    }
}

/// LiteMedSAM (checkpoint roots `image_encoder`, `shared_image_embedding`, `prompt_encoder`,
/// `mask_decoder`, as tools/convert_lite_medsam.py writes them).
#[derive(Debug)]
pub struct LiteMedSam {
    image_encoder: TinyVit,
    head: PromptHead,
    image_size: i64,
    multimask: bool,
}

impl LiteMedSam {
    /// Builds the model at the checkpoint root `p`; the encoder's attention blocks are adapter sites.
    pub fn new(p: &SitePath, c: &LiteMedSamConfig) -> Result<Self> {
        Ok(Self {
            image_encoder: TinyVit::new(&(p / "image_encoder"), &c.vision_config)?,
            head: PromptHead::new(p, &c.prompt_encoder_config, &c.mask_decoder_config),
            image_size: c.vision_config.image_size,
            multimask: c.multimask_output,
        })
    }
}

impl Segmenter for LiteMedSam {
    fn image_size(&self) -> i64 {
        self.image_size
    }

    fn default_multimask(&self) -> bool {
        self.multimask
    }

    fn embed_t(&self, pixel_values: &Tensor, train: bool) -> Tensor {
        self.image_encoder.forward_t(pixel_values, train)
    }

    fn head(&self) -> &PromptHead {
        &self.head
    }
}
