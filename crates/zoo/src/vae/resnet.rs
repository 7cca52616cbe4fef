//! The VAE's convolutional pieces, as diffusers' `ResnetBlock2D` (without a time embedding),
//! `Downsample2D` (pad right/bottom by one, 3×3 conv of stride 2) and `Upsample2D` (nearest 2×, 3×3
//! conv) compute them.

use tch::{nn, nn::Module, Tensor};

/// Epsilon of every GroupNorm of the VAE.
pub const EPS: f64 = 1e-6;

/// A GroupNorm with affine `weight`/`bias` over `channels` in `groups`, eps 1e-6.
pub fn group_norm(p: nn::Path, groups: i64, channels: i64) -> nn::GroupNorm {
    let config = nn::GroupNormConfig {
        eps: EPS,
        ..Default::default()
    };
    nn::group_norm(p, groups, channels, config)
}

/// A `k×k` convolution of stride `stride` and padding `padding`, with bias.
pub fn conv(p: nn::Path, c_in: i64, c_out: i64, k: i64, stride: i64, padding: i64) -> nn::Conv2D {
    let config = nn::ConvConfig {
        stride,
        padding,
        ..Default::default()
    };
    nn::conv2d(p, c_in, c_out, k, config)
}

/// `ResnetBlock2D`: `h = conv2(SiLU(norm2(conv1(SiLU(norm1(x)))))`, out `shortcut(x) + h`, the
/// shortcut a 1×1 `conv_shortcut` when the width changes.
#[derive(Debug)]
pub struct ResnetBlock2D {
    norm1: nn::GroupNorm,
    conv1: nn::Conv2D,
    norm2: nn::GroupNorm,
    conv2: nn::Conv2D,
    conv_shortcut: Option<nn::Conv2D>,
}

impl ResnetBlock2D {
    /// `p.{norm1, conv1, norm2, conv2}` and, when `c_in ≠ c_out`, `p.conv_shortcut`.
    pub fn new(p: &nn::Path, c_in: i64, c_out: i64, groups: i64) -> Self {
        Self {
            norm1: group_norm(p / "norm1", groups, c_in),
            conv1: conv(p / "conv1", c_in, c_out, 3, 1, 1),
            norm2: group_norm(p / "norm2", groups, c_out),
            conv2: conv(p / "conv2", c_out, c_out, 3, 1, 1),
            conv_shortcut: (c_in != c_out).then(|| conv(p / "conv_shortcut", c_in, c_out, 1, 1, 0)),
        }
    }
}

impl Module for ResnetBlock2D {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.conv1.forward(&self.norm1.forward(x).silu());
        let h = self.conv2.forward(&self.norm2.forward(&h).silu());
        match &self.conv_shortcut {
            Some(shortcut) => shortcut.forward(x) + h,
            None => x + h,
        }
    }
}

/// `downsamplers.0`: zero-pad one column right and one row bottom, then a 3×3 `conv` of stride 2.
#[derive(Debug)]
pub struct Downsample2D {
    conv: nn::Conv2D,
}

impl Downsample2D {
    /// `p.conv` `[C, C, 3, 3]`.
    pub fn new(p: &nn::Path, channels: i64) -> Self {
        Self {
            conv: conv(p / "conv", channels, channels, 3, 2, 0),
        }
    }
}

impl Module for Downsample2D {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.conv.forward(&x.constant_pad_nd([0, 1, 0, 1]))
    }
}

/// `upsamplers.0`: nearest-neighbour 2× up-sampling, then a 3×3 `conv`.
#[derive(Debug)]
pub struct Upsample2D {
    conv: nn::Conv2D,
}

impl Upsample2D {
    /// `p.conv` `[C, C, 3, 3]`.
    pub fn new(p: &nn::Path, channels: i64) -> Self {
        Self {
            conv: conv(p / "conv", channels, channels, 3, 1, 1),
        }
    }
}

impl Module for Upsample2D {
    fn forward(&self, x: &Tensor) -> Tensor {
        let (_, _, h, w) = x.size4().expect("a [B, C, H, W] feature map");
        self.conv
            .forward(&x.upsample_nearest2d([2 * h, 2 * w], None, None))
    }
}
