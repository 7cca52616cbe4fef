//! `SamVisionEncoder`: patch embedding, absolute position embedding, pre-LN blocks with windowed or
//! global attention, and the convolutional neck that gives the image embedding.

use serial_lora::{AdaptedLinear, SitePath, Target};
use tch::{nn, nn::Module, Tensor};

use super::attention::VisionAttention;
use super::config::VisionConfig;
use super::layers::LayerNorm2d;
use crate::error::Result;
use crate::vit::Activation;

/// `mlp.lin1`, activation, `mlp.lin2` (both adapter sites, `Target::Mlp`).
#[derive(Debug)]
struct Mlp {
    lin1: AdaptedLinear,
    lin2: AdaptedLinear,
    act: Activation,
}

/// One `SamVisionLayer` (`vision_encoder.layers.<i>`).
#[derive(Debug)]
struct Layer {
    layer_norm1: nn::LayerNorm,
    attn: VisionAttention,
    layer_norm2: nn::LayerNorm,
    mlp: Mlp,
    window: i64,
}

/// Splits `[B, H, W, C]` into zero-padded windows `[B·nH·nW, s, s, C]`; returns the padded size.
pub fn window_partition(x: &Tensor, s: i64) -> (Tensor, (i64, i64)) {
    let (b, h, w, c) = x.size4().expect("[B, H, W, C]");
    let (ph, pw) = ((s - h % s) % s, (s - w % s) % s);
    let x = x.constant_pad_nd([0, 0, 0, pw, 0, ph]);
    let (hp, wp) = (h + ph, w + pw);
    let windows = x
        .reshape([b, hp / s, s, wp / s, s, c])
        .permute([0, 1, 3, 2, 4, 5])
        .contiguous()
        .reshape([-1, s, s, c]);
    (windows, (hp, wp))
}

/// Inverse of [`window_partition`]: `[B·nH·nW, s, s, C]` → `[B, h, w, C]` (padding dropped).
pub fn window_unpartition(windows: &Tensor, s: i64, padded: (i64, i64), hw: (i64, i64)) -> Tensor {
    let (hp, wp) = padded;
    let b = windows.size()[0] / (hp / s * (wp / s));
    windows
        .reshape([b, hp / s, wp / s, s, s, -1])
        .permute([0, 1, 3, 2, 4, 5])
        .contiguous()
        .reshape([b, hp, wp, -1])
        .narrow(1, 0, hw.0)
        .narrow(2, 0, hw.1)
        .contiguous()
}

impl Layer {
    fn new(p: &SitePath, c: &VisionConfig, window: i64) -> Result<Self> {
        let d = c.hidden_size;
        let norm = nn::LayerNormConfig {
            eps: c.layer_norm_eps,
            ..Default::default()
        };
        let mlp = p / "mlp";
        Ok(Self {
            layer_norm1: nn::layer_norm(p.base() / "layer_norm1", vec![d], norm),
            attn: VisionAttention::new(&(p / "attn"), c, window)?,
            layer_norm2: nn::layer_norm(p.base() / "layer_norm2", vec![d], norm),
            mlp: Mlp {
                lin1: AdaptedLinear::new(&(&mlp / "lin1"), Target::Mlp, d, c.mlp_width(), true)?,
                lin2: AdaptedLinear::new(&(&mlp / "lin2"), Target::Mlp, c.mlp_width(), d, true)?,
                act: c.hidden_act,
            },
            window,
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.layer_norm1.forward(x);
        let h = if self.window > 0 {
            let (_, height, width, _) = h.size4().expect("[B, H, W, C]");
            let (windows, padded) = window_partition(&h, self.window);
            let out = self.attn.forward_t(&windows, train);
            window_unpartition(&out, self.window, padded, (height, width))
        } else {
            self.attn.forward_t(&h, train)
        };
        let x = x + h;
        let m = &self.mlp;
        let h = m.lin1.forward_t(&self.layer_norm2.forward(&x), train);
        &x + m.lin2.forward_t(&m.act.forward(&h), train)
    }
}

/// `vision_encoder.neck`: 1×1 conv, LayerNorm2d, 3×3 conv, LayerNorm2d (no conv biases).
#[derive(Debug)]
pub struct Neck {
    conv1: nn::Conv2D,
    layer_norm1: LayerNorm2d,
    conv2: nn::Conv2D,
    layer_norm2: LayerNorm2d,
}

impl Neck {
    /// A neck from `d_in` channels to `out` channels; `names` are its four modules in order
    /// (`conv1`, `layer_norm1`, `conv2`, `layer_norm2` in transformers; `0`…`3` in TinyViT).
    pub fn new(p: &nn::Path, d_in: i64, out: i64, names: [&str; 4]) -> Self {
        let conv = |padding| nn::ConvConfig {
            padding,
            bias: false,
            ..Default::default()
        };
        Self {
            conv1: nn::conv2d(p / names[0], d_in, out, 1, conv(0)),
            layer_norm1: LayerNorm2d::new(&(p / names[1]), out, 1e-6),
            conv2: nn::conv2d(p / names[2], out, out, 3, conv(1)),
            layer_norm2: LayerNorm2d::new(&(p / names[3]), out, 1e-6),
        }
    }

    /// `x`: `[B, C, h, w]` → `[B, out, h, w]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let x = self.layer_norm1.forward(&self.conv1.forward(x));
        self.layer_norm2.forward(&self.conv2.forward(&x))
    }
}

/// `vision_encoder`: pixels `[B, 3, S, S]` → image embedding `[B, output_channels, S/p, S/p]`.
#[derive(Debug)]
pub struct VisionEncoder {
    projection: nn::Conv2D,
    pos_embed: Option<Tensor>,
    layers: Vec<Layer>,
    neck: Neck,
}

impl VisionEncoder {
    /// The encoder at `p` (`vision_encoder`); block `i` is transformer layer `i` for adapter plans.
    pub fn new(p: &SitePath, c: &VisionConfig) -> Result<Self> {
        let d = c.hidden_size;
        let conv = nn::ConvConfig {
            stride: c.patch_size,
            ..Default::default()
        };
        let base = p.base();
        let layers = p / "layers";
        Ok(Self {
            projection: nn::conv2d(
                base / "patch_embed" / "projection",
                c.num_channels,
                d,
                c.patch_size,
                conv,
            ),
            pos_embed: c.use_abs_pos.then(|| {
                base.var(
                    "pos_embed",
                    &[1, c.grid(), c.grid(), d],
                    nn::Init::Const(0.0),
                )
            }),
            layers: (0..c.num_hidden_layers)
                .map(|i| Layer::new(&layers.layer(i, i), c, c.window_of(i)))
                .collect::<Result<_>>()?,
            neck: Neck::new(
                &(base / "neck"),
                d,
                c.output_channels,
                ["conv1", "layer_norm1", "conv2", "layer_norm2"],
            ),
        })
    }

    /// The image embedding of `pixel_values` (checked by the model).
    pub fn forward_t(&self, pixel_values: &Tensor, train: bool) -> Tensor {
        let mut x = self.projection.forward(pixel_values).permute([0, 2, 3, 1]);
        if let Some(pos) = &self.pos_embed {
            x += pos;
        }
        let x = self
            .layers
            .iter()
            .fold(x, |x, layer| layer.forward_t(&x, train));
        self.neck.forward(&x.permute([0, 3, 1, 2]))
    }
}
