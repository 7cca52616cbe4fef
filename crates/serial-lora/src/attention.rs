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
        let (q, k, v) = self.qkv.forward_t(x, train);
        self.attend(&q, &k, &v, mask, causal, train)
    }

    /// The output of the first `queries` tokens of `x` only, `[batch, queries, dim]` (every token
    /// still serves as key and value; no mask): equal to the same rows of
    /// [`forward_t`](Self::forward_t), at the cost of `queries` tokens for Q, the attention
    /// products and `W_o`.
    pub fn forward_t_queries(&self, x: &Tensor, queries: i64, train: bool) -> Tensor {
        let (q, k, v) = self.qkv.forward_t_queries(x, Some(queries), train);
        self.attend(&q, &k, &v, None, false, train)
    }

    fn attend(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        mask: Option<&Tensor>,
        causal: bool,
        train: bool,
    ) -> Tensor {
        let heads = |t: &Tensor| {
            let (batch, tokens, dim) = t
                .size3()
                .expect("attention input must be [batch, tokens, dim]");
            t.view([batch, tokens, self.heads, dim / self.heads])
                .transpose(1, 2)
        };
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
        let (batch, _, queries, head_dim) = context.size4().expect("[batch, heads, tokens, d_h]");
        let context =
            context
                .transpose(1, 2)
                .contiguous()
                .view([batch, queries, self.heads * head_dim]);
        self.out.forward_t(&context, train)
    }
}
