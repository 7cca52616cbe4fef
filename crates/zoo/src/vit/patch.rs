//! Patch embedding and position-embedding resizing, shared by CLIP and DINOv2.

use tch::{nn, nn::Module, Tensor};

/// A `patch × patch` convolution with stride `patch`: `[B, C, H, W] → [B, (H/p)·(W/p), dim]`.
#[derive(Debug)]
pub struct PatchEmbedding {
    conv: nn::Conv2D,
    patch: i64,
}

impl PatchEmbedding {
    /// The convolution at `p` (`p.weight` `[dim, channels, patch, patch]`, `p.bias` if `bias`).
    pub fn new(p: &nn::Path, channels: i64, dim: i64, patch: i64, bias: bool) -> Self {
        let config = nn::ConvConfig {
            stride: patch,
            bias,
            ..Default::default()
        };
        Self {
            conv: nn::conv2d(p, channels, dim, patch, config),
            patch,
        }
    }

    /// The patch grid `(H/p, W/p)` (floored, as the convolution does) of an image `height × width`.
    pub fn grid(&self, height: i64, width: i64) -> (i64, i64) {
        (height / self.patch, width / self.patch)
    }

    /// Patch tokens `[B, N, dim]` in row-major grid order.
    pub fn forward(&self, pixel_values: &Tensor) -> Tensor {
        self.conv
            .forward(pixel_values)
            .flatten(2, -1)
            .transpose(1, 2)
    }
}

/// Resizes square-grid patch position embeddings `[1, n·n, dim]` to a `rows × cols` grid
/// `[1, rows·cols, dim]`, bicubic with `align_corners = false` and no antialiasing, in fp32: the
/// `interpolate(size=…, mode="bicubic")` of transformers' `interpolate_pos_encoding`.
pub fn resize_positions(patch_positions: &Tensor, rows: i64, cols: i64) -> Tensor {
    let (_, n, dim) = patch_positions
        .size3()
        .expect("position embeddings are [1, n, dim]");
    let side = (n as f64).sqrt().round() as i64;
    let kind = patch_positions.kind();
    patch_positions
        .reshape([1, side, side, dim])
        .permute([0, 3, 1, 2])
        .to_kind(tch::Kind::Float)
        .upsample_bicubic2d([rows, cols], false, None, None)
        .to_kind(kind)
        .permute([0, 2, 3, 1])
        .reshape([1, rows * cols, dim])
}
