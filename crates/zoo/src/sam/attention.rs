//! `SamVisionAttention`: multi-head self-attention on a window (or the whole grid) of tokens, with
//! fused `qkv` (an adapter site: LoRA per q/k/v slice, Serial LoRA before it), decomposed relative
//! position embeddings `rel_pos_h` / `rel_pos_w`, and the output projection `proj`.

use serial_lora::{AdaptedLinear, QkvProjection, SitePath, Target};
use tch::{nn, Kind, Tensor};

use super::config::VisionConfig;
use crate::error::Result;

/// Attention of one vision block (`vision_encoder.layers.<i>.attn`).
#[derive(Debug)]
pub struct VisionAttention {
    qkv: QkvProjection,
    proj: AdaptedLinear,
    rel_pos: Option<(Tensor, Tensor)>,
    heads: i64,
}

/// Rows of `table` (`[2·size − 1, d]`) for every query/key pair: `[size, size, d]`, entry
/// `(i, j)` = `table[i − j + size − 1]` (SAM's `get_rel_pos` when query and key sizes agree).
fn relative(table: &Tensor, size: i64) -> Tensor {
    let idx = Tensor::arange(size, (Kind::Int64, table.device()));
    let offsets = idx.unsqueeze(1) - idx.unsqueeze(0) + (size - 1);
    table
        .index_select(0, &offsets.flatten(0, 1))
        .view([size, size, -1])
}

impl VisionAttention {
    /// The attention at `p` for windows of side `window` (0: the whole `grid`).
    pub fn new(p: &SitePath, c: &VisionConfig, window: i64) -> Result<Self> {
        let d = c.hidden_size;
        let side = if window == 0 { c.grid() } else { window };
        let head_dim = d / c.num_attention_heads;
        let zeros = nn::Init::Const(0.0);
        let rel_pos = c.use_rel_pos.then(|| {
            (
                p.base().var("rel_pos_h", &[2 * side - 1, head_dim], zeros),
                p.base().var("rel_pos_w", &[2 * side - 1, head_dim], zeros),
            )
        });
        Ok(Self {
            qkv: QkvProjection::fused(p, "qkv", d, c.qkv_bias)?,
            proj: AdaptedLinear::new(&(p / "proj"), Target::O, d, d, true)?,
            rel_pos,
            heads: c.num_attention_heads,
        })
    }

    /// `x`: `[B, h, w, d]` (normalised) → `[B, h, w, d]`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let (b, h, w, d) = x.size4().expect("[B, h, w, d] from the vision layer");
        let n = h * w;
        let hd = d / self.heads;
        let (q, k, v) = self.qkv.forward_t(&x.view([b, n, d]), train);
        let heads = |t: Tensor| {
            t.view([b, n, self.heads, hd])
                .permute([0, 2, 1, 3])
                .reshape([b * self.heads, n, hd])
        };
        let (q, k, v) = (heads(q), heads(k), heads(v));
        let mut logits = (&q * (hd as f64).powf(-0.5)).matmul(&k.transpose(-2, -1));
        if let Some((table_h, table_w)) = &self.rel_pos {
            let rq = q.reshape([b * self.heads, h, w, hd]);
            let rel_h =
                Tensor::einsum("bhwc,hkc->bhwk", &[&rq, &relative(table_h, h)], None::<i64>);
            let rel_w =
                Tensor::einsum("bhwc,wkc->bhwk", &[&rq, &relative(table_w, w)], None::<i64>);
            let bias = rel_h.unsqueeze(-1) + rel_w.unsqueeze(-2);
            logits += bias.reshape([b * self.heads, n, n]);
        }
        let context = logits
            .softmax(-1, Kind::Float)
            .matmul(&v)
            .reshape([b, self.heads, h, w, hd])
            .permute([0, 2, 3, 1, 4])
            .reshape([b, h, w, d]);
        self.proj.forward_t(&context, train)
    }
}
