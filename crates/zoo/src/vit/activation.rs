//! [`Activation`]: the MLP non-linearities of the supported checkpoints, by transformers' names.

use serde::Deserialize;
use tch::Tensor;

/// The slope of quick GELU's sigmoid.
const QUICK_GELU: f64 = 1.702;

/// An MLP activation, named as in transformers' `hidden_act`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Activation {
    /// `x·Φ(x)` with the exact (erf) normal CDF.
    #[serde(rename = "gelu")]
    Gelu,
    /// `x·σ(1.702·x)` (OpenAI CLIP).
    #[serde(rename = "quick_gelu")]
    QuickGelu,
    /// The tanh approximation of GELU.
    #[serde(rename = "gelu_pytorch_tanh", alias = "gelu_new")]
    GeluTanh,
}

impl Activation {
    /// Applies the activation elementwise.
    pub fn forward(self, x: &Tensor) -> Tensor {
        match self {
            Self::Gelu => x.gelu("none"),
            // x·σ(1.702x) = silu(1.702x)/1.702: libtorch's fused SiLU (one kernel forward and
            // one backward) instead of a sigmoid and two products.
            Self::QuickGelu => (x * QUICK_GELU).silu() / QUICK_GELU,
            Self::GeluTanh => x.gelu("tanh"),
        }
    }
}
