//! Training helpers tch lacks: AdamW over adapter variables with LoRA+ learning-rate groups and a
//! savable state, a cosine schedule with linear warm-up, gradient-norm clipping and a finite-loss guard.

use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::Tensor;

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

/// Whether a variable is a `B` matrix, which LoRA+ trains at `lr·λ` (PEFT's rule, by name).
pub fn is_b_matrix(name: &str) -> bool {
    name.ends_with("lora_B.weight")
}

#[derive(Debug)]
struct Param {
    name: String,
    value: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    is_b: bool,
}

/// AdamW (decoupled weight decay, torch's update order) over the trainable variables of one var
/// store, `B` matrices at `lr·λ`. Unlike tch's optimiser its moments can be saved and restored, so
/// a resumed run continues bit-identically.
#[derive(Debug)]
pub struct AdamW {
    params: Vec<Param>,
    config: OptimConfig,
    step: usize,
}

impl AdamW {
    /// AdamW over the trainable variables of `stores` (the adapter store; plus a classifier head,
    /// or the base store for full fine-tuning), in name order.
    pub fn new(stores: &[&VarStore], config: OptimConfig) -> Result<Self> {
        config.validate()?;
        let mut named: Vec<(String, Tensor)> = stores
            .iter()
            .flat_map(|vars| vars.variables())
            .filter(|(_, t)| t.requires_grad())
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let params = named
            .into_iter()
            .map(|(name, value)| Param {
                is_b: is_b_matrix(&name),
                exp_avg: value.zeros_like().detach(),
                exp_avg_sq: value.zeros_like().detach(),
                value,
                name,
            })
            .collect();
        Ok(Self {
            params,
            config,
            step: 0,
        })
    }

    /// Steps taken so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// `(lr of A, lr of B)` before step `step`.
    pub fn group_lrs(&self, step: usize) -> (f64, f64) {
        let lr = self.config.lr_at(step);
        (lr, lr * self.config.lr_ratio)
    }

    /// One step on `loss`: refuses a non-finite loss, then backward, optional gradient-norm
    /// clipping, the scheduled learning rates and the AdamW update. Returns group 0's rate.
    pub fn step(&mut self, loss: &Tensor) -> Result<f64> {
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            return Err(Error::NonFiniteLoss {
                step: self.step,
                value,
            });
        }
        for p in &mut self.params {
            p.value.zero_grad();
        }
        loss.backward();
        let (lr_a, lr_b) = self.group_lrs(self.step);
        self.step += 1;
        let (beta1, beta2) = self.config.betas;
        let t = self.step as i32;
        let (bias1, bias2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
        tch::no_grad(|| {
            let grads: Vec<Tensor> = self.params.iter().map(|p| p.value.grad()).collect();
            if let Some(max) = self.config.grad_clip {
                let total = grads
                    .iter()
                    .filter(|g| g.defined())
                    .map(|g| g.square().sum(tch::Kind::Double))
                    .fold(Tensor::from(0.0f64), |a, b| a + b)
                    .sqrt()
                    .double_value(&[]);
                let coef = max / (total + 1e-6);
                if coef < 1.0 {
                    grads.iter().filter(|g| g.defined()).for_each(|g| {
                        let _ = g.shallow_clone().g_mul_scalar_(coef);
                    });
                }
            }
            for (p, grad) in self.params.iter_mut().zip(grads) {
                if !grad.defined() {
                    continue;
                }
                let lr = if p.is_b { lr_b } else { lr_a };
                let _ = p.value.g_mul_scalar_(1.0 - lr * self.config.weight_decay);
                let _ = p.exp_avg.lerp_(&grad, 1.0 - beta1);
                let _ = p
                    .exp_avg_sq
                    .g_mul_scalar_(beta2)
                    .g_add_(&(grad.square() * (1.0 - beta2)));
                let denom = p.exp_avg_sq.sqrt() / bias2.sqrt() + self.config.eps;
                let _ = p.value.g_sub_(&(&p.exp_avg / denom * (lr / bias1)));
            }
        });
        Ok(lr_a)
    }

    /// The optimiser state as named tensors: `exp_avg.<var>`, `exp_avg_sq.<var>` and `step`.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("step".to_string(), Tensor::from(self.step as i64))];
        for p in &self.params {
            out.push((format!("exp_avg.{}", p.name), p.exp_avg.shallow_clone()));
            out.push((
                format!("exp_avg_sq.{}", p.name),
                p.exp_avg_sq.shallow_clone(),
            ));
        }
        out
    }

    /// Restores a state written by [`state`](Self::state), naming any tensor that does not fit.
    pub fn load_state(&mut self, state: &std::collections::BTreeMap<String, Tensor>) -> Result<()> {
        let get = |name: &str, like: &Tensor| -> Result<Tensor> {
            let t = state
                .get(name)
                .ok_or_else(|| Error::config(name, "missing from the optimiser state"))?;
            if t.size() != like.size() {
                return Err(Error::config(
                    name,
                    format!("has shape {:?}, expected {:?}", t.size(), like.size()),
                ));
            }
            Ok(t.to_kind(like.kind()))
        };
        let step = state
            .get("step")
            .ok_or_else(|| Error::config("step", "missing from the optimiser state"))?;
        tch::no_grad(|| -> Result<()> {
            for p in &mut self.params {
                p.exp_avg
                    .copy_(&get(&format!("exp_avg.{}", p.name), &p.value)?);
                p.exp_avg_sq
                    .copy_(&get(&format!("exp_avg_sq.{}", p.name), &p.value)?);
            }
            Ok(())
        })?;
        self.step = step.int64_value(&[]) as usize;
        Ok(())
    }
}
