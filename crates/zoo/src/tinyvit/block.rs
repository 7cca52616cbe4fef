//! `TinyViTBlock`: windowed attention with learned attention biases (an adapter site on its fused
//! `attn.qkv`), a local depthwise Conv-BN, and a pre-normed MLP.

use std::collections::HashMap;

use serial_lora::{AdaptedLinear, QkvProjection, SitePath, Target};
use tch::{nn, nn::Module, Kind, Tensor};

use super::conv::ConvBn;
use crate::error::Result;
use crate::sam::{window_partition, window_unpartition};

/// `attn`: LayerNorm `norm`, fused `qkv` (rows `[q | k | v]` after conversion), attention biases
/// per head and window offset `(|Δy|, |Δx|)`, output projection `proj`.
#[derive(Debug)]
struct Attention {
    norm: nn::LayerNorm,
    qkv: QkvProjection,
    proj: AdaptedLinear,
    /// `attention_biases` `[heads, w²]`.
    table: Tensor,
    /// `attention_bias_idxs`, flattened `[w⁴]`.
    idx: Tensor,
    heads: i64,
}

/// TinyViT's `attention_bias_idxs` for a `w × w` window: offsets numbered in first-seen order.
fn bias_indices(w: i64) -> Vec<i64> {
    let points: Vec<(i64, i64)> = (0..w).flat_map(|y| (0..w).map(move |x| (y, x))).collect();
    let mut offsets = HashMap::new();
    let mut idxs = Vec::with_capacity(points.len() * points.len());
    for a in &points {
        for b in &points {
            let key = ((a.0 - b.0).abs(), (a.1 - b.1).abs());
            let next = offsets.len() as i64;
            idxs.push(*offsets.entry(key).or_insert(next));
        }
    }
    idxs
}

impl Attention {
    fn new(p: &SitePath, d: i64, heads: i64, window: i64) -> Result<Self> {
        let table = p.base().var(
            "attention_biases",
            &[heads, window * window],
            nn::Init::Const(0.0),
        );
        let idx = Tensor::from_slice(&bias_indices(window)).to_device(table.device());
        Ok(Self {
            norm: nn::layer_norm(p.base() / "norm", vec![d], Default::default()),
            qkv: QkvProjection::fused(p, "qkv", d, true)?,
            proj: AdaptedLinear::new(&(p / "proj"), Target::O, d, d, true)?,
            table,
            idx,
            heads,
        })
    }

    /// `x` `[B', N, d]` (windows) → `[B', N, d]`.
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let (b, n, d) = x.size3().expect("[windows, tokens, d]");
        let hd = d / self.heads;
        let (q, k, v) = self.qkv.forward_t(&self.norm.forward(x), train);
        let heads = |t: Tensor| t.view([b, n, self.heads, hd]).permute([0, 2, 1, 3]);
        let (q, k, v) = (heads(q), heads(k), heads(v));
        let biases = self
            .table
            .index_select(1, &self.idx)
            .view([self.heads, n, n]);
        let logits = q.matmul(&k.transpose(-2, -1)) * (hd as f64).powf(-0.5) + biases;
        let out = logits
            .softmax(-1, Kind::Float)
            .matmul(&v)
            .transpose(1, 2)
            .reshape([b, n, d]);
        self.proj.forward_t(&out, train)
    }
}

/// `mlp`: LayerNorm `norm`, `fc1`, GELU, `fc2` (both linears adapter sites, `Target::Mlp`).
#[derive(Debug)]
struct Mlp {
    norm: nn::LayerNorm,
    fc1: AdaptedLinear,
    fc2: AdaptedLinear,
}

/// One TinyViT block (`layers.<s>.blocks.<j>`).
#[derive(Debug)]
pub struct Block {
    attn: Attention,
    local_conv: ConvBn,
    mlp: Mlp,
    window: i64,
}

impl Block {
    /// A block of width `d` with `heads` heads on `window × window` windows.
    pub fn new(
        p: &SitePath,
        d: i64,
        heads: i64,
        window: i64,
        mlp_ratio: f64,
        local: i64,
    ) -> Result<Self> {
        let hidden = (d as f64 * mlp_ratio) as i64;
        let m = p / "mlp";
        Ok(Self {
            attn: Attention::new(&(p / "attn"), d, heads, window)?,
            local_conv: ConvBn::new(&(p.base() / "local_conv"), d, d, local, 1, d),
            mlp: Mlp {
                norm: nn::layer_norm(m.base() / "norm", vec![d], Default::default()),
                fc1: AdaptedLinear::new(&(&m / "fc1"), Target::Mlp, d, hidden, true)?,
                fc2: AdaptedLinear::new(&(&m / "fc2"), Target::Mlp, hidden, d, true)?,
            },
            window,
        })
    }

    /// `x` `[B, H, W, d]` (channels last) → same shape.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let (b, h, w, d) = x.size4().expect("[B, H, W, d]");
        let s = self.window;
        let attn = if h == s && w == s {
            self.attn
                .forward_t(&x.view([b, h * w, d]), train)
                .view([b, h, w, d])
        } else {
            let (windows, padded) = window_partition(x, s);
            let out = self.attn.forward_t(&windows.view([-1, s * s, d]), train);
            window_unpartition(&out.view([-1, s, s, d]), s, padded, (h, w))
        };
        let x = x + attn;
        let x = self
            .local_conv
            .forward(&x.permute([0, 3, 1, 2]))
            .permute([0, 2, 3, 1]);
        let m = &self.mlp;
        let hdn = m.fc1.forward_t(&m.norm.forward(&x), train).gelu("none");
        &x + m.fc2.forward_t(&hdn, train)
    }
}
