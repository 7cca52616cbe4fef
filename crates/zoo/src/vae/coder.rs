//! diffusers' VAE `Encoder` (image → the diagonal Gaussian's moments, `2·latent_channels` wide) and
//! `Decoder` (latent → image): `conv_in`, the levels, `mid_block`, then GroupNorm, SiLU, `conv_out`.

use tch::{nn, nn::Module, Tensor};

use super::blocks::{DownEncoderBlock2D, UNetMidBlock2D, UpDecoderBlock2D};
use super::config::Config;
use super::resnet::{conv, group_norm};

/// `encoder`: `conv_out(SiLU(conv_norm_out(mid_block(down_blocks(conv_in(x))))))`.
#[derive(Debug)]
pub struct Encoder {
    conv_in: nn::Conv2D,
    down_blocks: Vec<DownEncoderBlock2D>,
    mid_block: UNetMidBlock2D,
    conv_norm_out: nn::GroupNorm,
    conv_out: nn::Conv2D,
}

impl Encoder {
    /// The encoder at `p` (`encoder`), out `2·latent_channels` (mean, log-variance).
    pub fn new(p: &nn::Path, c: &Config) -> Self {
        let (widths, groups) = (&c.block_out_channels, c.norm_num_groups);
        let last = *widths.last().expect("checked by Config::check");
        let levels = p / "down_blocks";
        let down_blocks = widths
            .iter()
            .enumerate()
            .map(|(i, &width)| {
                let c_in = if i == 0 { widths[0] } else { widths[i - 1] };
                let down = i + 1 < widths.len();
                DownEncoderBlock2D::new(
                    &(&levels / i),
                    c.layers_per_block,
                    c_in,
                    width,
                    groups,
                    down,
                )
            })
            .collect();
        Self {
            conv_in: conv(p / "conv_in", c.in_channels, widths[0], 3, 1, 1),
            down_blocks,
            mid_block: UNetMidBlock2D::new(
                &(p / "mid_block"),
                last,
                groups,
                c.mid_block_add_attention,
            ),
            conv_norm_out: group_norm(p / "conv_norm_out", groups, last),
            conv_out: conv(p / "conv_out", last, 2 * c.latent_channels, 3, 1, 1),
        }
    }
}

impl Module for Encoder {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self
            .down_blocks
            .iter()
            .fold(self.conv_in.forward(x), |h, block| block.forward(&h));
        let h = self.mid_block.forward(&h);
        self.conv_out
            .forward(&self.conv_norm_out.forward(&h).silu())
    }
}

/// `decoder`: `conv_out(SiLU(conv_norm_out(up_blocks(mid_block(conv_in(z))))))`, the levels coarsest
/// first, each with `layers_per_block + 1` ResNets.
#[derive(Debug)]
pub struct Decoder {
    conv_in: nn::Conv2D,
    mid_block: UNetMidBlock2D,
    up_blocks: Vec<UpDecoderBlock2D>,
    conv_norm_out: nn::GroupNorm,
    conv_out: nn::Conv2D,
}

impl Decoder {
    /// The decoder at `p` (`decoder`).
    pub fn new(p: &nn::Path, c: &Config) -> Self {
        let groups = c.norm_num_groups;
        let widths: Vec<i64> = c.block_out_channels.iter().rev().copied().collect();
        let levels = p / "up_blocks";
        let up_blocks = widths
            .iter()
            .enumerate()
            .map(|(i, &width)| {
                let c_in = if i == 0 { widths[0] } else { widths[i - 1] };
                let up = i + 1 < widths.len();
                let layers = c.layers_per_block + 1;
                UpDecoderBlock2D::new(&(&levels / i), layers, c_in, width, groups, up)
            })
            .collect();
        let finest = *widths.last().expect("checked by Config::check");
        Self {
            conv_in: conv(p / "conv_in", c.latent_channels, widths[0], 3, 1, 1),
            mid_block: UNetMidBlock2D::new(
                &(p / "mid_block"),
                widths[0],
                groups,
                c.mid_block_add_attention,
            ),
            up_blocks,
            conv_norm_out: group_norm(p / "conv_norm_out", groups, finest),
            conv_out: conv(p / "conv_out", finest, c.out_channels, 3, 1, 1),
        }
    }
}

impl Module for Decoder {
    fn forward(&self, z: &Tensor) -> Tensor {
        let h = self.mid_block.forward(&self.conv_in.forward(z));
        let h = self.up_blocks.iter().fold(h, |h, block| block.forward(&h));
        self.conv_out
            .forward(&self.conv_norm_out.forward(&h).silu())
    }
}
