//! TinyViT's convolutional pieces: `Conv2d_BN` (conv `c` + BatchNorm `bn`, always with its running
//! statistics), the MBConv block, the 1×1 stem and PatchMerging.

use tch::{nn, Tensor};

/// `Conv2d_BN`: bias-free conv `c`, then BatchNorm `bn` in inference mode (running statistics).
#[derive(Debug)]
pub struct ConvBn {
    c: nn::Conv2D,
    bn: nn::BatchNorm,
}

impl ConvBn {
    /// `in → out` channels, kernel `k`, `stride`, `groups`; padding `k / 2`.
    pub fn new(p: &nn::Path, cin: i64, out: i64, k: i64, stride: i64, groups: i64) -> Self {
        let conv = nn::ConvConfig {
            stride,
            padding: k / 2,
            groups,
            bias: false,
            ..Default::default()
        };
        Self {
            c: nn::conv2d(p / "c", cin, out, k, conv),
            bn: nn::batch_norm2d(p / "bn", out, Default::default()),
        }
    }

    /// `x` `[B, C, H, W]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        use tch::nn::{Module, ModuleT};
        self.bn.forward_t(&self.c.forward(x), false)
    }
}

/// `patch_embed.seq`: 1×1 Conv-BN `in → d/2`, GELU, 1×1 Conv-BN `d/2 → d`, at full resolution.
#[derive(Debug)]
pub struct PatchEmbed {
    conv0: ConvBn,
    conv2: ConvBn,
}

impl PatchEmbed {
    /// The stem at `p` (`patch_embed`).
    pub fn new(p: &nn::Path, cin: i64, d: i64) -> Self {
        let seq = p / "seq";
        Self {
            conv0: ConvBn::new(&(&seq / 0), cin, d / 2, 1, 1, 1),
            conv2: ConvBn::new(&(&seq / 2), d / 2, d, 1, 1, 1),
        }
    }

    /// `[B, 3, H, W]` → `[B, d, H, W]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.conv2.forward(&self.conv0.forward(x).gelu("none"))
    }
}

/// `MBConv`: 1×1 expand, 3×3 depthwise, 1×1 project, residual, GELU after each step.
#[derive(Debug)]
pub struct MbConv {
    conv1: ConvBn,
    conv2: ConvBn,
    conv3: ConvBn,
}

impl MbConv {
    /// A block of width `d` with hidden width `hidden`.
    pub fn new(p: &nn::Path, d: i64, hidden: i64) -> Self {
        Self {
            conv1: ConvBn::new(&(p / "conv1"), d, hidden, 1, 1, 1),
            conv2: ConvBn::new(&(p / "conv2"), hidden, hidden, 3, 1, hidden),
            conv3: ConvBn::new(&(p / "conv3"), hidden, d, 1, 1, 1),
        }
    }

    /// `x` `[B, d, H, W]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.conv1.forward(x).gelu("none");
        let h = self.conv2.forward(&h).gelu("none");
        (self.conv3.forward(&h) + x).gelu("none")
    }
}

/// `PatchMerging`: 1×1 conv, GELU, 3×3 depthwise conv (stride 1 or 2), GELU, 1×1 conv.
#[derive(Debug)]
pub struct PatchMerging {
    conv1: ConvBn,
    conv2: ConvBn,
    conv3: ConvBn,
}

impl PatchMerging {
    /// `d → out` channels with the depthwise conv's `stride`.
    pub fn new(p: &nn::Path, d: i64, out: i64, stride: i64) -> Self {
        Self {
            conv1: ConvBn::new(&(p / "conv1"), d, out, 1, 1, 1),
            conv2: ConvBn::new(&(p / "conv2"), out, out, 3, stride, out),
            conv3: ConvBn::new(&(p / "conv3"), out, out, 1, 1, 1),
        }
    }

    /// `x` `[B, d, H, W]` → `[B, out, H/stride, W/stride]` (rounded up).
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.conv1.forward(x).gelu("none");
        let h = self.conv2.forward(&h).gelu("none");
        self.conv3.forward(&h)
    }
}
