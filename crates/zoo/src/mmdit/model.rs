//! diffusers' `SD3Transformer2DModel`: patch + position embedding, timestep/pooled-text conditioning
//! `temb`, projected text tokens, the joint blocks, `norm_out`, `proj_out` and unpatchify.

use serial_lora::SitePath;
use tch::{nn, nn::Module, Kind, Tensor};

use super::block::JointTransformerBlock;
use super::config::{Config, CLASS_NAME};
use super::embeddings::{PatchEmbed, TimestepTextEmbed};
use super::norm::AdaLayerNormContinuous;
use crate::error::{Error, Result};
use crate::input::check_shape;
use crate::model::Tensors;

/// The MMDiT of Stable Diffusion 3 (checkpoint names `pos_embed.*`, `time_text_embed.*`,
/// `context_embedder.*`, `transformer_blocks.<i>.*`, `norm_out.*`, `proj_out.*`).
#[derive(Debug)]
pub struct SD3Transformer2DModel {
    pos_embed: PatchEmbed,
    time_text_embed: TimestepTextEmbed,
    context_embedder: nn::Linear,
    transformer_blocks: Vec<JointTransformerBlock>,
    norm_out: AdaLayerNormContinuous,
    proj_out: nn::Linear,
    /// The configuration it was built from.
    pub config: Config,
}

impl SD3Transformer2DModel {
    /// Builds the model at `p` (the checkpoint root); its adapter sites follow the store's plan.
    pub fn new(p: &SitePath, c: &Config) -> Result<Self> {
        c.check()
            .map_err(|message| Error::config(CLASS_NAME, message))?;
        let (base, d) = (p.base(), c.inner_dim());
        let blocks = p / "transformer_blocks";
        let transformer_blocks = (0..c.num_layers)
            .map(|i| JointTransformerBlock::new(&blocks.layer(i, i), c, i + 1 == c.num_layers))
            .collect::<Result<_>>()?;
        let linear = Default::default();
        Ok(Self {
            pos_embed: PatchEmbed::new(&(base / "pos_embed"), c),
            time_text_embed: TimestepTextEmbed::new(&(base / "time_text_embed"), c),
            context_embedder: nn::linear(
                base / "context_embedder",
                c.joint_attention_dim,
                c.caption_projection_dim,
                linear,
            ),
            transformer_blocks,
            norm_out: AdaLayerNormContinuous::new(&(base / "norm_out"), d),
            proj_out: nn::linear(
                base / "proj_out",
                d,
                c.patch_size * c.patch_size * c.out_channels(),
                linear,
            ),
            config: c.clone(),
        })
    }

    /// Checks the inputs of [`forward_t`](Self::forward_t): `hidden_states` float `[B, in_channels,
    /// H, W]` with `H`, `W` multiples of `patch_size` and at most `pos_embed_max_size` patches,
    /// `encoder_hidden_states` `[B, T, joint_attention_dim]`, `pooled_projections` `[B,
    /// pooled_projection_dim]`, `timestep` `[B]`.
    pub fn check_input(
        &self,
        hidden_states: &Tensor,
        encoder_hidden_states: &Tensor,
        pooled_projections: &Tensor,
        timestep: &Tensor,
    ) -> Result<()> {
        let c = &self.config;
        check_shape(
            "hidden_states",
            hidden_states,
            &[None, Some(c.in_channels), None, None],
        )?;
        let size = hidden_states.size();
        let (b, height, width) = (size[0], size[2], size[3]);
        let (p, max) = (c.patch_size, self.pos_embed.max_size());
        if height % p != 0 || width % p != 0 || height / p > max || width / p > max {
            return Err(Error::input(
                "hidden_states",
                format!(
                    "height {height} and width {width} must be multiples of patch_size {p} and at most \
                     pos_embed_max_size · patch_size = {}",
                    max * p
                ),
            ));
        }
        check_shape(
            "encoder_hidden_states",
            encoder_hidden_states,
            &[Some(b), None, Some(c.joint_attention_dim)],
        )?;
        check_shape(
            "pooled_projections",
            pooled_projections,
            &[Some(b), Some(c.pooled_projection_dim)],
        )?;
        if timestep.size() != [b] {
            return Err(Error::input(
                "timestep",
                format!(
                    "expected [{b}] (σ·1000 per sample), got {:?}",
                    timestep.size()
                ),
            ));
        }
        Ok(())
    }

    /// The predicted velocity `sample` `[B, out_channels, H, W]` (see
    /// [`check_input`](Self::check_input)).
    pub fn forward_t(
        &self,
        hidden_states: &Tensor,
        encoder_hidden_states: &Tensor,
        pooled_projections: &Tensor,
        timestep: &Tensor,
        train: bool,
    ) -> Tensor {
        let (_, _, height, width) = hidden_states.size4().expect("checked by check_input");
        let (h, w) = self.pos_embed.grid(height, width);
        let temb = self.time_text_embed.forward(timestep, pooled_projections);
        let mut x = self.pos_embed.forward(hidden_states);
        let mut c = self.context_embedder.forward(encoder_hidden_states);
        for block in &self.transformer_blocks {
            let (next_x, next_c) = block.forward_t(&x, &c, &temb, train);
            x = next_x;
            if let Some(next_c) = next_c {
                c = next_c;
            }
        }
        let patches = self.proj_out.forward(&self.norm_out.forward(&x, &temb));
        self.unpatchify(&patches, h, w)
    }

    /// `[B, h·w, p·p·C]` → `[B, C, h·p, w·p]` (`nhwpqc → nchpwq`).
    fn unpatchify(&self, patches: &Tensor, h: i64, w: i64) -> Tensor {
        let (p, channels) = (self.config.patch_size, self.config.out_channels());
        let b = patches.size()[0];
        patches
            .reshape([b, h, w, p, p, channels])
            .permute([0, 5, 1, 3, 2, 4])
            .reshape([b, channels, h * p, w * p])
    }

    /// Runs the model on diffusers' input names (`hidden_states`, `encoder_hidden_states`,
    /// `pooled_projections`, `timestep` as σ·1000, any numeric kind) and returns `sample`. Floating
    /// inputs run in fp32.
    pub fn forward_named(&self, inputs: &Tensors) -> Result<Tensors> {
        let take = |name: &str| {
            let t = inputs
                .get(name)
                .ok_or_else(|| Error::input(name, "missing"))?;
            Ok::<_, Error>(if t.is_floating_point() {
                t.to_kind(Kind::Float)
            } else {
                t.shallow_clone()
            })
        };
        let (x, c, pooled) = (
            take("hidden_states")?,
            take("encoder_hidden_states")?,
            take("pooled_projections")?,
        );
        let timestep = take("timestep")?.to_kind(Kind::Float);
        self.check_input(&x, &c, &pooled, &timestep)?;
        let sample = self.forward_t(&x, &c, &pooled, &timestep, false);
        Ok(Tensors::from([("sample".to_string(), sample)]))
    }
}
