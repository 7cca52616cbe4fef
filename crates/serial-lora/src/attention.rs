//! [`SelfAttention`]: multi-head self-attention whose projections are adapter sites.

use tch::Tensor;

use crate::linear::AdaptedLinear;
use crate::qkv::QkvProjection;

/// `softmax(Q Kᵀ/√d_h + mask) V` over `heads` heads, then `W_o`. The q/k/v (and Serial LoRA)
/// sites sit in `qkv`, the output projection in `out`; the model decides their checkpoint names.
#[derive(Debug)]
pub struct SelfAttention {
    /// The q, k, v projections (and the Serial adapter, if any).
    pub qkv: QkvProjection,
    /// The output projection W_o.
    pub out: AdaptedLinear,
    heads: i64,
}

impl SelfAttention {
    /// Attention with `heads` heads over the given projections.
    pub fn new(qkv: QkvProjection, out: AdaptedLinear, heads: i64) -> Self {
        Self { qkv, out, heads }
    }

    /// `x`: `[batch, tokens, dim]`, already normalised. `mask` is added to the attention logits
    /// (broadcast to `[batch, heads, tokens, tokens]`); `causal` applies a causal mask.
    pub fn forward_t(
        &self,
        x: &Tensor,
        mask: Option<&Tensor>,
        causal: bool,
        train: bool,
    ) -> Tensor {
        let (batch, tokens, dim) = x
            .size3()
            .expect("attention input must be [batch, tokens, dim]");
        let heads = |t: Tensor| {
            t.view([batch, tokens, self.heads, dim / self.heads])
                .transpose(1, 2)
        };
        let (q, k, v) = self.qkv.forward_t(x, train);
        let context = Tensor::scaled_dot_product_attention(
            &heads(q),
            &heads(k),
            &heads(v),
            mask,
            0.0,
            causal,
            None,
            false,
        );
        let context = context
            .transpose(1, 2)
            .contiguous()
            .view([batch, tokens, dim]);
        self.out.forward_t(&context, train)
    }
}
