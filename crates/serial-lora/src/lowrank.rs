//! The trainable low-rank pair `B A` shared by LoRA and Serial LoRA.

use std::sync::Arc;

use tch::{nn, Tensor};

use crate::rng::SiteRng;

/// A pair `A ∈ R^{r×d_in}`, `B ∈ R^{d_out×r}` with scale `s` and input dropout `p`:
/// `delta(x) = s·B(A(drop(x)))`. A is Kaiming-uniform (a = √5, i.e. U(±1/√d_in)) and B is zero,
/// so the update starts at exactly zero. A's values and the dropout masks come from the pair's
/// own seeded generator ([`SiteRng`]).
#[derive(Debug)]
pub struct LowRank {
    /// `A`, shape `[r, d_in]`.
    pub a: Tensor,
    /// `B`, shape `[d_out, r]`.
    pub b: Tensor,
    /// The scale `s`.
    pub scale: f64,
    /// Dropout probability on the input.
    pub dropout: f64,
    rng: Arc<SiteRng>,
}

impl LowRank {
    /// Creates `{a_name}.weight` and `{b_name}.weight` under `path`, `A` drawn from `rng`.
    pub fn new(
        path: &nn::Path,
        names: (&str, &str),
        dims: (i64, i64, i64),
        scale: f64,
        dropout: f64,
        rng: SiteRng,
    ) -> Self {
        let (d_in, d_out, rank) = dims;
        let bound = 1.0 / (d_in as f64).sqrt();
        let a = (path / names.0).var_copy("weight", &rng.uniform(rank, d_in, bound));
        let b = (path / names.1).var("weight", &[d_out, rank], nn::Init::Const(0.0));
        Self {
            a,
            b,
            scale,
            dropout,
            rng: Arc::new(rng),
        }
    }

    /// `s·B(A(drop(x)))` on the last dimension of `x`. The scale multiplies the rank-`r`
    /// intermediate `A x` (`r` values per token instead of `d_out`), and is skipped at 1.
    pub fn delta(&self, x: &Tensor, train: bool) -> Tensor {
        let x = if train && self.dropout > 0.0 {
            self.rng.dropout(x, self.dropout)
        } else {
            x.shallow_clone()
        };
        let h = x.linear::<Tensor>(&self.a, None);
        let h = if self.scale == 1.0 { h } else { h * self.scale };
        h.linear::<Tensor>(&self.b, None)
    }

    /// The dense update `s·B A`, shape `[d_out, d_in]`.
    pub fn product(&self) -> Tensor {
        self.b.matmul(&self.a) * self.scale
    }

    /// A second handle on the same tensors (no copy).
    pub fn shallow_clone(&self) -> Self {
        Self {
            a: self.a.shallow_clone(),
            b: self.b.shallow_clone(),
            scale: self.scale,
            dropout: self.dropout,
            rng: Arc::clone(&self.rng),
        }
    }

    /// Number of trainable parameters.
    pub fn numel(&self) -> i64 {
        (self.a.numel() + self.b.numel()) as i64
    }
}
