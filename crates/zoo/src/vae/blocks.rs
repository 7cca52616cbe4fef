//! The VAE's levels: diffusers' `UNetMidBlock2D` (ResNet, optional attention, ResNet),
//! `DownEncoderBlock2D` (ResNets, then an optional 2× down-sampling) and `UpDecoderBlock2D` (ResNets,
//! then an optional 2× up-sampling).

use tch::{nn, nn::Module, Tensor};

use super::attention::SpatialAttention;
use super::resnet::{Downsample2D, ResnetBlock2D, Upsample2D};

/// `resnets.<i>` of a level: `count` blocks, the first from `c_in` to `c_out`.
fn resnets(p: &nn::Path, count: usize, c_in: i64, c_out: i64, groups: i64) -> Vec<ResnetBlock2D> {
    let p = p / "resnets";
    (0..count)
        .map(|i| ResnetBlock2D::new(&(&p / i), if i == 0 { c_in } else { c_out }, c_out, groups))
        .collect()
}

/// `mid_block`: `resnets.1(attentions.0(resnets.0(x)))`, the attention absent when
/// `mid_block_add_attention` is false.
#[derive(Debug)]
pub struct UNetMidBlock2D {
    resnets: Vec<ResnetBlock2D>,
    attention: Option<SpatialAttention>,
}

impl UNetMidBlock2D {
    /// `p.resnets.{0,1}` and `p.attentions.0`, all `channels` wide.
    pub fn new(p: &nn::Path, channels: i64, groups: i64, add_attention: bool) -> Self {
        Self {
            resnets: resnets(p, 2, channels, channels, groups),
            attention: add_attention
                .then(|| SpatialAttention::new(&(p / "attentions" / 0), channels, groups)),
        }
    }
}

impl Module for UNetMidBlock2D {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.resnets[0].forward(x);
        let h = match &self.attention {
            Some(attention) => attention.forward(&h),
            None => h,
        };
        self.resnets[1].forward(&h)
    }
}

/// `down_blocks.<i>`: `layers` ResNets, then `downsamplers.0` unless it is the coarsest level.
#[derive(Debug)]
pub struct DownEncoderBlock2D {
    resnets: Vec<ResnetBlock2D>,
    downsampler: Option<Downsample2D>,
}

impl DownEncoderBlock2D {
    /// The level at `p`, `c_in → c_out` channels.
    pub fn new(
        p: &nn::Path,
        layers: usize,
        c_in: i64,
        c_out: i64,
        groups: i64,
        down: bool,
    ) -> Self {
        Self {
            resnets: resnets(p, layers, c_in, c_out, groups),
            downsampler: down.then(|| Downsample2D::new(&(p / "downsamplers" / 0), c_out)),
        }
    }
}

impl Module for DownEncoderBlock2D {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self
            .resnets
            .iter()
            .fold(x.shallow_clone(), |h, r| r.forward(&h));
        match &self.downsampler {
            Some(down) => down.forward(&h),
            None => h,
        }
    }
}

/// `up_blocks.<i>`: `layers` ResNets, then `upsamplers.0` unless it is the finest level.
#[derive(Debug)]
pub struct UpDecoderBlock2D {
    resnets: Vec<ResnetBlock2D>,
    upsampler: Option<Upsample2D>,
}

impl UpDecoderBlock2D {
    /// The level at `p`, `c_in → c_out` channels.
    pub fn new(p: &nn::Path, layers: usize, c_in: i64, c_out: i64, groups: i64, up: bool) -> Self {
        Self {
            resnets: resnets(p, layers, c_in, c_out, groups),
            upsampler: up.then(|| Upsample2D::new(&(p / "upsamplers" / 0), c_out)),
        }
    }
}

impl Module for UpDecoderBlock2D {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self
            .resnets
            .iter()
            .fold(x.shallow_clone(), |h, r| r.forward(&h));
        match &self.upsampler {
            Some(up) => up.forward(&h),
            None => h,
        }
    }
}
