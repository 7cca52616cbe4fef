//! The MMDiT's input embeddings: `pos_embed` (patches + the fixed 2-D sin-cos table, centre-cropped
//! to the latent's grid) and `time_text_embed` (sinusoidal timestep + pooled text), as diffusers'
//! `PatchEmbed` and `CombinedTimestepTextProjEmbeddings` compute them.

use tch::{nn, nn::Module, Kind, Tensor};

use super::config::Config;
use crate::vit::PatchEmbedding;

/// Channels of the sinusoidal timestep features (`time_proj`).
const TIME_CHANNELS: i64 = 256;

/// 1-D sin-cos features of positions `pos` `[M]` (f64) over `dim` channels: `[sin(pos·ω), cos(pos·ω)]`
/// with `ω_k = 1/10000^(k/(dim/2))`.
fn sincos_1d(dim: i64, pos: &Tensor) -> Tensor {
    let omega = Tensor::arange(dim / 2, (Kind::Double, pos.device())) / (dim as f64 / 2.0);
    let omega = (omega * -(10_000f64.ln())).exp();
    let angles = pos.outer(&omega);
    Tensor::cat(&[angles.sin(), angles.cos()], 1)
}

/// diffusers' `get_2d_sincos_pos_embed(dim, side, base_size)`: `[side², dim]` in fp32, row-major over
/// the grid; the first half of the channels encodes the column, the second the row, each coordinate
/// `i / (side / base_size)` (computed in fp32, as diffusers does, then the features in fp64).
pub fn sincos_table(dim: i64, side: i64, base_size: i64) -> Tensor {
    let scale = (side as f64 / base_size as f64) as f32;
    let coords: Vec<f64> = (0..side).map(|i| f64::from(i as f32 / scale)).collect();
    let coords = Tensor::from_slice(&coords);
    let cols = coords.repeat([side]);
    let rows = coords.repeat_interleave_self_int(side, 0, None);
    Tensor::cat(&[sincos_1d(dim / 2, &cols), sincos_1d(dim / 2, &rows)], 1).to_kind(Kind::Float)
}

/// `pos_embed`: a `patch × patch` convolution `proj` plus the stored sin-cos table `pos_embed`
/// `[1, M², D]`, cropped to the centre `h × w` patches of the `M × M` grid.
#[derive(Debug)]
pub struct PatchEmbed {
    proj: PatchEmbedding,
    pos_embed: Tensor,
    max_size: i64,
}

impl PatchEmbed {
    /// `pos_embed.proj` and the table `pos_embed.pos_embed` (initialised to diffusers' table; the
    /// checkpoint's copy replaces it).
    pub fn new(p: &nn::Path, c: &Config) -> Self {
        let (d, max) = (c.inner_dim(), c.pos_embed_max_size());
        let table = sincos_table(d, max, c.base_size()).unsqueeze(0);
        Self {
            proj: PatchEmbedding::new(&(p / "proj"), c.in_channels, d, c.patch_size, true),
            pos_embed: p.var_copy("pos_embed", &table),
            max_size: max,
        }
    }

    /// The patch grid `(h, w)` of a `height × width` latent.
    pub fn grid(&self, height: i64, width: i64) -> (i64, i64) {
        self.proj.grid(height, width)
    }

    /// The largest grid side the table covers.
    pub fn max_size(&self) -> i64 {
        self.max_size
    }

    /// The table's centre `h × w` patches, `[1, h·w, D]` (top `(M − h)/2`, left `(M − w)/2`, floored).
    fn cropped(&self, h: i64, w: i64) -> Tensor {
        let m = self.max_size;
        self.pos_embed
            .view([1, m, m, -1])
            .narrow(1, (m - h) / 2, h)
            .narrow(2, (m - w) / 2, w)
            .reshape([1, h * w, -1])
    }

    /// Patch tokens plus positions: `[B, C, H, W] → [B, h·w, D]`.
    pub fn forward(&self, latent: &Tensor) -> Tensor {
        let (_, _, height, width) = latent.size4().expect("checked by the model");
        let (h, w) = self.grid(height, width);
        self.proj.forward(latent) + self.cropped(h, w)
    }
}

/// `linear_2(SiLU(linear_1(x)))`: diffusers' `TimestepEmbedding` and `PixArtAlphaTextProjection`
/// with `act_fn="silu"`.
#[derive(Debug)]
struct SiluMlp {
    linear_1: nn::Linear,
    linear_2: nn::Linear,
}

impl SiluMlp {
    fn new(p: &nn::Path, d_in: i64, d: i64) -> Self {
        let c = Default::default();
        Self {
            linear_1: nn::linear(p / "linear_1", d_in, d, c),
            linear_2: nn::linear(p / "linear_2", d, d, c),
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.linear_2.forward(&self.linear_1.forward(x).silu())
    }
}

/// `time_proj`: 256 sinusoidal features `[cos(t·f), sin(t·f)]` of float timesteps `[B]`, with
/// `f_i = exp(−ln(10⁴)·i/128)` (diffusers' `get_timestep_embedding`, `flip_sin_to_cos=True`,
/// `downscale_freq_shift=0`), in fp32.
pub fn timestep_features(timestep: &Tensor) -> Tensor {
    let half = TIME_CHANNELS / 2;
    let exponent =
        Tensor::arange(half, (Kind::Float, timestep.device())) * -(10_000f64.ln()) / half as f64;
    let angles = timestep.to_kind(Kind::Float).unsqueeze(1) * exponent.exp().unsqueeze(0);
    Tensor::cat(&[angles.cos(), angles.sin()], 1)
}

/// `time_text_embed`: `temb = timestep_embedder(time_proj(t)) + text_embedder(pooled)`, `[B, D]`.
#[derive(Debug)]
pub struct TimestepTextEmbed {
    timestep_embedder: SiluMlp,
    text_embedder: SiluMlp,
}

impl TimestepTextEmbed {
    /// `time_text_embed.timestep_embedder.*` and `time_text_embed.text_embedder.*`.
    pub fn new(p: &nn::Path, c: &Config) -> Self {
        let d = c.inner_dim();
        Self {
            timestep_embedder: SiluMlp::new(&(p / "timestep_embedder"), TIME_CHANNELS, d),
            text_embedder: SiluMlp::new(&(p / "text_embedder"), c.pooled_projection_dim, d),
        }
    }

    /// `temb` of `timestep` `[B]` (σ·1000) and `pooled_projections` `[B, P]`.
    pub fn forward(&self, timestep: &Tensor, pooled_projections: &Tensor) -> Tensor {
        let time = timestep_features(timestep).to_kind(pooled_projections.kind());
        self.timestep_embedder.forward(&time) + self.text_embedder.forward(pooled_projections)
    }
}
