//! The `[adapter]` and `[optim]` sections every experiment file shares, and their one mapping to
//! a run's [`AdapterConfig`] and [`OptimConfig`].

use serde::{Deserialize, Serialize};

use crate::adapter::{AdapterConfig, ScaleRule, Target};
use crate::check::Checks;
use crate::error::{Error, Result};
use crate::method::Method;
use crate::optim::OptimConfig;

/// `[adapter]`: shared by every adapter run of a grid (method and rank come from the grid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterSection {
    /// `alpha` of the scale rule.
    pub alpha: f64,
    /// Scale rule.
    #[serde(default)]
    pub scaling: ScaleRule,
    /// Dropout on the adapter input.
    #[serde(default)]
    pub dropout: f64,
    /// LoRA targets (`q`, `k`, `v`, `o`, `mlp`); Serial LoRA sits before q/k/v whatever they are.
    pub targets: Vec<Target>,
    /// λ of the `+` variants: `B` trains at `lr·λ`.
    pub plus_ratio: f64,
}

/// `[optim]`: AdamW with warm-up and cosine decay over the run's steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimSection {
    /// Peak learning rate of adapters (and of a classifier head).
    pub lr: f64,
    /// Peak learning rate of `full` fine-tuning (required when the grid has `full`).
    #[serde(default)]
    pub full_lr: Option<f64>,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Warm-up steps (capped at the run's steps).
    #[serde(default)]
    pub warmup_steps: usize,
    /// Final learning rate of the cosine.
    #[serde(default)]
    pub min_lr: f64,
    /// Gradient-norm clipping.
    #[serde(default)]
    pub grad_clip: Option<f64>,
}

impl AdapterSection {
    /// Range checks of every field, as `adapter.<field>`.
    pub fn check(&self, checks: &mut Checks) {
        checks
            .positive("adapter.alpha", self.alpha)
            .half_open("adapter.dropout", self.dropout, 0.0, 1.0)
            .positive("adapter.plus_ratio", self.plus_ratio);
        if self.targets.is_empty() {
            checks.problem(
                "field `adapter.targets` is empty (LoRA needs at least one of q, k, v, o, mlp, context)",
            );
        }
    }
}

impl OptimSection {
    /// Range checks of every field, as `optim.<field>`.
    pub fn check(&self, checks: &mut Checks) {
        checks
            .positive("optim.lr", self.lr)
            .non_negative("optim.weight_decay", self.weight_decay)
            .closed("optim.min_lr", self.min_lr, 0.0, self.lr.max(0.0));
        if let Some(full_lr) = self.full_lr {
            checks.positive("optim.full_lr", full_lr);
        }
        if let Some(clip) = self.grad_clip {
            checks.positive("optim.grad_clip", clip);
        }
    }
}

/// The adapter of `method` at `rank` under `section`, validated; `None` for the baselines.
pub fn adapter_config(
    section: &AdapterSection,
    method: Method,
    rank: i64,
) -> Result<Option<AdapterConfig>> {
    let Some(kind) = method.adapter_kind() else {
        return Ok(None);
    };
    let config = AdapterConfig {
        method: kind,
        rank,
        alpha: section.alpha,
        scaling: section.scaling,
        dropout: section.dropout,
        targets: if method == Method::LoraQkv {
            vec![Target::Q, Target::K, Target::V]
        } else {
            section.targets.clone()
        },
        lr_ratio: if method.is_plus() {
            section.plus_ratio
        } else {
            1.0
        },
        blocks: None,
    };
    config
        .validate()
        .map_err(|e| prefix(e, &format!("[adapter] of {method} at rank {rank}")))?;
    Ok(Some(config))
}

/// The optimiser of a `method` run of `steps` steps under `section` with `adapter` (its LoRA+
/// ratio is the optimiser's), validated.
pub fn optim_config(
    section: &OptimSection,
    method: Method,
    adapter: Option<&AdapterConfig>,
    steps: usize,
) -> Result<OptimConfig> {
    let lr = match method {
        Method::Full | Method::Pretrain => section.full_lr.ok_or_else(|| {
            Error::config(
                "optim.full_lr",
                format!("is required when the grid has method `{method}`"),
            )
        })?,
        _ => section.lr,
    };
    let config = OptimConfig {
        lr,
        weight_decay: section.weight_decay,
        betas: (0.9, 0.999),
        eps: 1e-8,
        warmup_steps: section.warmup_steps.min(steps),
        total_steps: steps.max(1),
        min_lr: section.min_lr,
        grad_clip: section.grad_clip,
        lr_ratio: adapter.map_or(1.0, |a| a.lr_ratio),
    };
    config.validate().map_err(|e| prefix(e, "[optim]"))?;
    Ok(config)
}

fn prefix(e: Error, section: &str) -> Error {
    match e {
        Error::Config {
            source_file,
            field,
            message,
        } => Error::Config {
            source_file,
            field: format!("{section}: {field}"),
            message,
        },
        other => other,
    }
}
