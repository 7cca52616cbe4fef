//! The rectified-flow objective of diffusers' SD3 DreamBooth script
//! (`examples/dreambooth/train_dreambooth_lora_sd3.py`): a timestep drawn by the weighting scheme's
//! density and looked up in the scheduler's shifted σ table, `x_σ = (1 − σ)·x + σ·ε`, and either the
//! preconditioned target `x` (`pred·(−σ) + x_σ`) or the velocity target `ε − x`, weighted per sample.

use std::f64::consts::PI;

use formats::check::Checks;
use serde::{Deserialize, Serialize};
use serial_lora::rng::Draws;
use tch::{Device, Kind, Tensor};
use zoo::mmdit::FlowMatchEulerDiscreteScheduler;

/// How training timesteps are drawn and losses weighted (`--weighting_scheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightingScheme {
    /// `u = sigmoid(N(logit_mean, logit_std))`, weight 1 (the script's default, SD3's paper).
    LogitNormal,
    /// `u = 1 − v − mode_scale·(cos²(πv/2) − 1 + v)`, `v ~ U(0, 1)`, weight 1.
    Mode,
    /// `u ~ U(0, 1)`, weight `2 / (π·(1 − 2σ + 2σ²))`.
    Cosmap,
    /// `u ~ U(0, 1)`, weight `σ⁻²`.
    SigmaSqrt,
    /// `u ~ U(0, 1)`, weight 1.
    None,
}

/// `[flow]`: the objective, with the script's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowSection {
    /// Timestep density and loss weight.
    pub weighting_scheme: WeightingScheme,
    /// Mean of the logit-normal density.
    pub logit_mean: f64,
    /// Standard deviation of the logit-normal density.
    pub logit_std: f64,
    /// Scale of the `mode` density.
    pub mode_scale: f64,
    /// Predict `x` through `pred·(−σ) + x_σ` (the script's default) rather than the velocity.
    pub precondition_outputs: bool,
    /// The scheduler's time shift (SD3: 3).
    pub shift: f64,
    /// Share of training images whose prompt is replaced by the empty prompt (classifier-free
    /// guidance needs it in pre-training; DreamBooth uses 0).
    pub condition_dropout: f64,
}

impl Default for FlowSection {
    fn default() -> Self {
        Self {
            weighting_scheme: WeightingScheme::LogitNormal,
            logit_mean: 0.0,
            logit_std: 1.0,
            mode_scale: 1.29,
            precondition_outputs: true,
            shift: 3.0,
            condition_dropout: 0.0,
        }
    }
}

impl FlowSection {
    /// Range checks, as `flow.<field>`.
    pub fn check(&self, checks: &mut Checks) {
        checks
            .positive("flow.logit_std", self.logit_std)
            .positive("flow.shift", self.shift)
            .half_open("flow.condition_dropout", self.condition_dropout, 0.0, 1.0);
    }

    /// The scheduler whose σ table training draws from.
    pub fn scheduler(&self) -> FlowMatchEulerDiscreteScheduler {
        FlowMatchEulerDiscreteScheduler {
            shift: self.shift,
            ..FlowMatchEulerDiscreteScheduler::sd3()
        }
    }

    /// `u ∈ [0, 1)` per sample from the scheme's density, drawn from `draws`.
    fn density(&self, n: i64, draws: &mut Draws) -> Tensor {
        match self.weighting_scheme {
            WeightingScheme::LogitNormal => {
                (draws.normal(&[n]).to_kind(Kind::Double) * self.logit_std + self.logit_mean)
                    .sigmoid()
            }
            WeightingScheme::Mode => {
                let v = draws.uniform(n);
                let cos2 = (&v * (PI / 2.0)).cos().square();
                1.0 - &v - (cos2 - 1.0 + &v) * self.mode_scale
            }
            _ => draws.uniform(n),
        }
    }

    /// `n` noise levels σ: `table[(u·N) as index]` of the scheduler's decreasing training table
    /// (as the script indexes `scheduler.timesteps`), fp32 on `device`, drawn from `draws`.
    pub fn draw_sigmas(&self, n: i64, device: Device, draws: &mut Draws) -> Tensor {
        let table = self.scheduler().train_sigmas();
        let last = table.len() as i64 - 1;
        let index = (self.density(n, draws) * table.len() as f64)
            .to_kind(Kind::Int64)
            .clamp(0, last);
        Tensor::from_slice(&table)
            .index_select(0, &index)
            .to_device(device)
    }

    /// The per-sample loss weight at `sigmas`.
    fn weight(&self, sigmas: &Tensor) -> Tensor {
        match self.weighting_scheme {
            WeightingScheme::SigmaSqrt => sigmas.pow_tensor_scalar(-2.0),
            WeightingScheme::Cosmap => {
                let bot: Tensor = 1.0 - sigmas * 2.0 + sigmas.square() * 2.0;
                (bot * PI).reciprocal() * 2.0
            }
            _ => sigmas.ones_like(),
        }
    }

    /// The weighted loss of one batch, one value per sample `[B]`: `x` clean images `[B, C, H, W]`,
    /// `noise` ε of the same shape, `sigmas` `[B]`, and `velocity(x_σ, σ·1000)` the model.
    pub fn loss(
        &self,
        x: &Tensor,
        noise: &Tensor,
        sigmas: &Tensor,
        velocity: impl FnOnce(&Tensor, &Tensor) -> Tensor,
    ) -> Tensor {
        let s = sigmas.view([-1, 1, 1, 1]);
        let noisy = (1.0 - &s) * x + &s * noise;
        let pred = velocity(&noisy, &(sigmas * 1000.0));
        let (pred, target) = if self.precondition_outputs {
            (pred * (-&s) + &noisy, x.shallow_clone())
        } else {
            (pred, noise - x)
        };
        let per_element = (pred - target).square() * self.weight(sigmas).view([-1, 1, 1, 1]);
        per_element.flatten(1, -1).mean_dim(1, false, Kind::Float)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmas_come_from_the_shifted_table_and_logit_normal_centres_them() {
        let flow = FlowSection::default();
        let sigmas = flow.draw_sigmas(4000, Device::Cpu, &mut Draws::new("sigmas"));
        let table = flow.scheduler().train_sigmas();
        let values = Vec::<f32>::try_from(&sigmas).unwrap();
        assert!(values.iter().all(|s| table.contains(s)));
        // u = sigmoid(N(0, 1)) has median 0.5: the index N/2 of the decreasing table, whose σ is
        // shift(0.5) = 3·0.5 / (1 + 2·0.5) = 0.75.
        let mut sorted = values.clone();
        sorted.sort_by(f32::total_cmp);
        let median = sorted[sorted.len() / 2];
        assert!((median - 0.75).abs() < 0.02, "median σ {median}");
    }

    #[test]
    fn a_perfect_model_has_zero_loss_under_either_target() {
        let mut draws = Draws::new("perfect");
        let x = draws.normal(&[3, 1, 4, 4]);
        let noise = draws.normal(&[3, 1, 4, 4]);
        let sigmas = Tensor::from_slice(&[0.2f32, 0.5, 0.9]);
        for precondition_outputs in [true, false] {
            let flow = FlowSection {
                precondition_outputs,
                weighting_scheme: WeightingScheme::Cosmap,
                ..Default::default()
            };
            // The true velocity of the straight path is ε − x.
            let loss = flow.loss(&x, &noise, &sigmas, |_, t| {
                assert_eq!(Vec::<f32>::try_from(t).unwrap(), [200.0, 500.0, 900.0]);
                &noise - &x
            });
            assert!(loss.abs().max().double_value(&[]) < 1e-10);
        }
    }

    #[test]
    fn the_objective_field_switches_the_target() {
        let mut draws = Draws::new("targets");
        let x = draws.normal(&[2, 1, 3, 3]);
        let noise = draws.normal(&[2, 1, 3, 3]);
        let pred = draws.normal(&[2, 1, 3, 3]);
        let sigmas = Tensor::from_slice(&[0.3f32, 0.8]);
        let s = sigmas.view([-1, 1, 1, 1]);
        let noisy = (1.0 - &s) * &x + &s * &noise;
        let per_sample = |t: Tensor| t.square().flatten(1, -1).mean_dim(1, false, Kind::Float);
        let loss = |precondition_outputs| {
            FlowSection {
                precondition_outputs,
                ..Default::default()
            }
            .loss(&x, &noise, &sigmas, |_, _| pred.shallow_clone())
        };
        // Velocity: ‖v̂ − (ε − x)‖²; preconditioned: ‖(x_σ − σ·v̂) − x‖² = σ²·‖v̂ − (ε − x)‖².
        let velocity = per_sample(&pred - (&noise - &x));
        let preconditioned = per_sample(&noisy - &s * &pred - &x);
        assert!(loss(false).allclose(&velocity, 1e-6, 1e-6, false));
        assert!(loss(true).allclose(&preconditioned, 1e-6, 1e-6, false));
        assert!(preconditioned.allclose(&(&velocity * sigmas.square()), 1e-5, 1e-6, false));
    }

    #[test]
    fn weights_follow_the_script() {
        let sigmas = Tensor::from_slice(&[0.5f64]);
        let weight = |weighting_scheme| {
            FlowSection {
                weighting_scheme,
                ..Default::default()
            }
            .weight(&sigmas)
            .double_value(&[0])
        };
        assert_eq!(weight(WeightingScheme::SigmaSqrt), 4.0);
        assert!((weight(WeightingScheme::Cosmap) - 2.0 / (PI * 0.5)).abs() < 1e-12);
        assert_eq!(weight(WeightingScheme::LogitNormal), 1.0);
    }
}
