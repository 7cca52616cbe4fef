//! Training helpers tch lacks: AdamW over adapter variables with LoRA+ learning-rate groups and a
//! savable state, a cosine schedule with linear warm-up, gradient-norm clipping and a finite-loss guard.

use tch::nn::VarStore;
use tch::Tensor;

use crate::error::{Error, Result};
use crate::precision::LossScaler;
pub use formats::OptimConfig;

/// The optimiser-state names of the loss scaler's scale and clean-step count.
const LOSS_SCALE: &str = "loss_scale";
const CLEAN_STEPS: &str = "loss_scale_clean_steps";

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

/// What one [`AdamW::step`] did: group 0's learning rate and the loss's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stepped {
    /// The learning rate of group 0 (A, or every parameter without LoRA+).
    pub lr: f64,
    /// The loss the step was taken on.
    pub loss: f64,
}

/// AdamW (decoupled weight decay, torch's update order) over the trainable variables of one var
/// store, `B` matrices at `lr·λ`. Unlike tch's optimiser its moments can be saved and restored, so
/// a resumed run continues bit-identically.
#[derive(Debug)]
pub struct AdamW {
    params: Vec<Param>,
    config: OptimConfig,
    step: usize,
    scaler: Option<LossScaler>,
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
            scaler: None,
        })
    }

    /// Uses `scaler` (fp16's dynamic loss scale; `None`: no scaling) from the next step on.
    pub fn with_loss_scaler(mut self, scaler: Option<LossScaler>) -> Self {
        self.scaler = scaler;
        self
    }

    /// The loss scaler, if any.
    pub fn loss_scaler(&self) -> Option<&LossScaler> {
        self.scaler.as_ref()
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
    /// clipping, the scheduled learning rates and the AdamW update. Returns group 0's rate and the
    /// loss's value (read once, for the finiteness check). With a loss scaler, backward runs on the
    /// scaled loss and the gradients are unscaled; a step whose gradients overflow updates nothing
    /// but the scale (the schedule still moves on).
    pub fn step(&mut self, loss: &Tensor) -> Result<Stepped> {
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
        match &self.scaler {
            Some(scaler) => (loss * scaler.scale).backward(),
            None => loss.backward(),
        }
        let (lr_a, lr_b) = self.group_lrs(self.step);
        self.step += 1;
        let (beta1, beta2) = self.config.betas;
        let t = self.step as i32;
        let (bias1, bias2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
        tch::no_grad(|| {
            let grads: Vec<Tensor> = self.params.iter().map(|p| p.value.grad()).collect();
            let defined = || grads.iter().filter(|g| g.defined());
            if let Some(scaler) = &self.scaler {
                defined().for_each(|g| {
                    let _ = g.shallow_clone().g_mul_scalar_(1.0 / scaler.scale);
                });
            }
            // The global gradient norm, computed once for the overflow check and the clipping.
            let norm = (self.scaler.is_some() || self.config.grad_clip.is_some()).then(|| {
                defined()
                    .map(|g| g.square().sum(tch::Kind::Double))
                    .fold(Tensor::from(0.0f64), |a, b| a + b)
                    .sqrt()
                    .double_value(&[])
            });
            if let Some(scaler) = &mut self.scaler {
                let overflowed = !norm.is_some_and(f64::is_finite);
                scaler.update(overflowed);
                if overflowed {
                    return;
                }
            }
            if let (Some(max), Some(total)) = (self.config.grad_clip, norm) {
                let coef = max / (total + 1e-6);
                if coef < 1.0 {
                    defined().for_each(|g| {
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
        Ok(Stepped {
            lr: lr_a,
            loss: value,
        })
    }

    /// The optimiser state as named tensors: `exp_avg.<var>`, `exp_avg_sq.<var>`, `step`, and the
    /// loss scaler's `loss_scale` and `loss_scale_clean_steps` when there is one.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![("step".to_string(), Tensor::from(self.step as i64))];
        if let Some(scaler) = &self.scaler {
            out.push((LOSS_SCALE.into(), Tensor::from(scaler.scale)));
            out.push((CLEAN_STEPS.into(), Tensor::from(scaler.clean_steps as i64)));
        }
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
        if let Some(scaler) = &mut self.scaler {
            if let (Some(scale), Some(clean)) = (state.get(LOSS_SCALE), state.get(CLEAN_STEPS)) {
                scaler.scale = scale.double_value(&[]);
                scaler.clean_steps = clean.int64_value(&[]) as u64;
            }
        }
        Ok(())
    }
}
