//! Optimiser and schedule settings as they are written in run configurations.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

fn default_betas() -> (f64, f64) {
    (0.9, 0.999)
}

fn default_eps() -> f64 {
    1e-8
}

/// Optimiser and schedule settings (serde; unknown keys rejected).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// Peak learning rate of `A` (and of every non-`B` variable).
    pub lr: f64,
    /// Decoupled (AdamW) weight decay, applied to every trainable variable.
    #[serde(default)]
    pub weight_decay: f64,
    /// Adam's `(β1, β2)`.
    #[serde(default = "default_betas")]
    pub betas: (f64, f64),
    /// Adam's ε.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Linear warm-up steps from 0 to `lr`.
    #[serde(default)]
    pub warmup_steps: usize,
    /// Total steps; the cosine reaches `min_lr` there.
    pub total_steps: usize,
    /// Final learning rate of the cosine.
    #[serde(default)]
    pub min_lr: f64,
    /// Clip the global gradient norm to this value.
    #[serde(default)]
    pub grad_clip: Option<f64>,
    /// LoRA+ ratio λ: `B` matrices train at `lr·λ` (and their schedule is scaled alike).
    #[serde(default = "one")]
    pub lr_ratio: f64,
}

fn one() -> f64 {
    1.0
}

impl OptimConfig {
    /// Checks every field; the error names the first field at fault.
    pub fn validate(&self) -> Result<()> {
        let positive = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::config(
                    field,
                    format!("must be a positive number, got {v}"),
                ))
            }
        };
        positive("lr", self.lr)?;
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::config(
                "weight_decay",
                format!("must be a number ≥ 0, got {}", self.weight_decay),
            ));
        }
        positive("lr_ratio", self.lr_ratio)?;
        if let Some(clip) = self.grad_clip {
            positive("grad_clip", clip)?;
        }
        if self.total_steps == 0 {
            return Err(Error::config("total_steps", "must be at least 1"));
        }
        if self.warmup_steps > self.total_steps {
            return Err(Error::config("warmup_steps", "exceeds total_steps"));
        }
        if !(0.0..=self.lr).contains(&self.min_lr) {
            return Err(Error::config(
                "min_lr",
                format!("must be in [0, lr], got {}", self.min_lr),
            ));
        }
        Ok(())
    }

    /// Learning rate of group 0 before step `step` (0-based): linear warm-up over
    /// `warmup_steps`, then a cosine from `lr` to `min_lr` at `total_steps`.
    pub fn lr_at(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.lr * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let span = (self.total_steps - self.warmup_steps).max(1) as f64;
        let progress = ((step - self.warmup_steps) as f64 / span).min(1.0);
        self.min_lr
            + (self.lr - self.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}
