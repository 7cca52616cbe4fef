//! Mixed precision for a run ([`Precision`]): the autocast region its passes run in, the frozen base
//! weights stored in the lower precision, and fp16's dynamic [`LossScaler`].
//!
//! As `torch.autocast`: matmuls, linears, convolutions and attention compute in bf16/fp16, while
//! libtorch keeps reductions, softmax sums and losses in fp32. Trainable weights (adapters, heads,
//! full fine-tuning) and the optimiser state stay fp32; autocast casts them inside the graph, so
//! their gradients arrive in fp32. Frozen matrices (dimension ≥ 2: projection and convolution
//! weights, embedding tables) are stored in the lower precision once, which saves autocast's
//! per-step weight casts and half their memory; 1-D frozen weights (norms, biases) stay fp32,
//! because libtorch's CPU layer norm takes fp32 parameters with bf16 or fp32 inputs but not bf16
//! parameters with fp32 inputs.

pub use formats::{Precision, PrecisionChoice};
use tch::{Device, Kind};
use torch_ext::AutocastDtype;
pub use torch_ext::{without_autocast, Autocast};

use crate::error::{Error, Result};
use crate::store::ModelStore;

/// The autocast region of `precision` on `device` (none for fp32). Keep it alive for the run.
pub fn autocast(precision: Precision, device: Device) -> Result<Option<Autocast>> {
    let dtype = match precision {
        Precision::Fp32 => return Ok(None),
        Precision::Bf16 => AutocastDtype::BFloat16,
        Precision::Fp16 => AutocastDtype::Half,
    };
    Autocast::enter(device, dtype)
        .map(Some)
        .map_err(|e| Error::config("precision", format!("{precision} on {device:?}: {e}")))
}

/// The kind frozen matrices are stored in under `precision` (none for fp32).
pub fn frozen_kind(precision: Precision) -> Option<Kind> {
    match precision {
        Precision::Fp32 => None,
        Precision::Bf16 => Some(Kind::BFloat16),
        Precision::Fp16 => Some(Kind::Half),
    }
}

/// Stores `store`'s frozen base matrices in `precision`'s kind (see the module docs); returns how
/// many variables changed. Trainable variables are never touched.
pub fn store_frozen(store: &ModelStore, precision: Precision) -> usize {
    let Some(kind) = frozen_kind(precision) else {
        return 0;
    };
    let mut changed = 0;
    tch::no_grad(|| {
        for (_, mut var) in store.base().variables() {
            if !var.requires_grad() && var.is_floating_point() && var.dim() >= 2 {
                let lower = var.to_kind(kind);
                var.set_data(&lower);
                changed += 1;
            }
        }
    });
    changed
}

/// fp16's dynamic loss scale, as `torch.amp.GradScaler`: the loss is multiplied by the scale before
/// backward and the gradients divided by it after; a step whose gradients overflow is skipped and
/// the scale halved; after `GROWTH_INTERVAL` clean steps in a row it doubles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossScaler {
    /// The current scale.
    pub scale: f64,
    /// Clean steps since the last change.
    pub clean_steps: u64,
}

impl Default for LossScaler {
    fn default() -> Self {
        Self {
            scale: Self::INITIAL_SCALE,
            clean_steps: 0,
        }
    }
}

impl LossScaler {
    /// torch's initial scale, 2¹⁶.
    pub const INITIAL_SCALE: f64 = 65536.0;
    /// Clean steps before the scale doubles (torch's default).
    pub const GROWTH_INTERVAL: u64 = 2000;

    /// The scaler a run of `precision` uses: fp16 only.
    pub fn for_precision(precision: Precision) -> Option<Self> {
        (precision == Precision::Fp16).then(Self::default)
    }

    /// Records a step: halves the scale when its gradients overflowed, doubles it after
    /// [`GROWTH_INTERVAL`](Self::GROWTH_INTERVAL) clean steps.
    pub fn update(&mut self, overflowed: bool) {
        if overflowed {
            self.scale *= 0.5;
            self.clean_steps = 0;
        } else {
            self.clean_steps += 1;
            if self.clean_steps == Self::GROWTH_INTERVAL {
                self.scale *= 2.0;
                self.clean_steps = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_halves_on_overflow_and_doubles_after_the_growth_interval() {
        let mut s = LossScaler::default();
        s.update(true);
        assert_eq!(s.scale, LossScaler::INITIAL_SCALE / 2.0);
        for _ in 0..LossScaler::GROWTH_INTERVAL - 1 {
            s.update(false);
        }
        assert_eq!(s.scale, LossScaler::INITIAL_SCALE / 2.0);
        s.update(false);
        assert_eq!(s.scale, LossScaler::INITIAL_SCALE);
        assert_eq!(s.clean_steps, 0);
        assert!(LossScaler::for_precision(Precision::Bf16).is_none());
        assert!(LossScaler::for_precision(Precision::Fp16).is_some());
    }
}
