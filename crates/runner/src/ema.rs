//! An exponential moving average of a run's trainable variables, as diffusers' `EMAModel` keeps
//! it (DiT and SD3 sample from such a copy): after optimiser step `s` (0-based),
//! `shadow ← d·shadow + (1 − d)·θ` with `d = min(decay, (1 + s) / (10 + s))`, so the early steps,
//! far from the final weights, are forgotten quickly. The engine saves it with every checkpoint,
//! swaps it in for progress views, and leaves it in the variables when the run ends.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use tch::{nn::VarStore, Tensor};

/// The moving average of the trainable variables of some variable stores.
pub struct Ema {
    decay: f64,
    /// (name, the live variable, its average), sorted by name.
    entries: Vec<(String, Tensor, Tensor)>,
}

/// The decay applied after optimiser step `step` (0-based) under the ceiling `decay`.
pub fn decay_at(decay: f64, step: usize) -> f64 {
    let s = step as f64;
    decay.min((1.0 + s) / (10.0 + s))
}

impl Ema {
    /// An average of the trainable variables of `stores`, starting at their current values.
    pub fn new(stores: &[&VarStore], decay: f64) -> Self {
        let mut entries: Vec<(String, Tensor, Tensor)> = stores
            .iter()
            .flat_map(|s| s.variables())
            .filter(|(_, t)| t.requires_grad())
            .map(|(name, var)| {
                let shadow = var.detach().copy();
                (name, var, shadow)
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Self { decay, entries }
    }

    /// Folds the variables' values after optimiser step `step` (0-based) into the average.
    pub fn update(&mut self, step: usize) {
        let weight = 1.0 - decay_at(self.decay, step);
        tch::no_grad(|| {
            for (_, var, shadow) in &mut self.entries {
                let _ = shadow.lerp_(&var.detach(), weight);
            }
        });
    }

    /// Exchanges the live values and the averages (twice restores both).
    pub fn swap(&mut self) {
        tch::no_grad(|| {
            for (_, var, shadow) in &mut self.entries {
                let live = var.detach().copy();
                let mut var = var.detach();
                var.copy_(shadow);
                shadow.copy_(&live);
            }
        });
    }

    /// Runs `f` with the averages in the variables, restoring the live values afterwards.
    pub fn with_average<T>(&mut self, f: impl FnOnce() -> T) -> T {
        self.swap();
        let out = f();
        self.swap();
        out
    }

    /// The averages, named `ema.<variable>`, for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.entries
            .iter()
            .map(|(name, _, shadow)| (format!("ema.{name}"), shadow.shallow_clone()))
            .collect()
    }

    /// Restores the averages from a checkpoint's `state` (every variable must be there).
    pub fn load_state(&mut self, state: &BTreeMap<String, Tensor>) -> Result<()> {
        for (name, _, shadow) in &mut self.entries {
            let key = format!("ema.{name}");
            let Some(saved) = state.get(&key) else {
                bail!("no tensor `{key}` (the moving average of `{name}`)");
            };
            if saved.size() != shadow.size() {
                bail!(
                    "tensor `{key}` has shape {:?}, the variable {:?}",
                    saved.size(),
                    shadow.size()
                );
            }
            tch::no_grad(|| shadow.copy_(saved));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device, Kind};

    fn store(value: f32) -> (VarStore, Tensor) {
        let vs = VarStore::new(Device::Cpu);
        let w = vs.root().var("w", &[2], nn::Init::Const(value.into()));
        (vs, w)
    }

    fn values(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(&t.detach().to_kind(Kind::Float)).unwrap()
    }

    #[test]
    fn decay_warms_up_as_diffusers_then_stays_at_the_ceiling() {
        assert!((decay_at(0.999, 0) - 0.1).abs() < 1e-12);
        assert!((decay_at(0.999, 90) - 91.0 / 100.0).abs() < 1e-12);
        assert_eq!(decay_at(0.999, 100_000), 0.999);
    }

    #[test]
    fn the_average_follows_the_decay_arithmetic() {
        let (vs, w) = store(1.0);
        let mut ema = Ema::new(&[&vs], 0.5);
        let _ = tch::no_grad(|| w.detach().fill_(3.0));
        // Step 0: d = min(0.5, 0.1) = 0.1 → 0.1·1 + 0.9·3 = 2.8.
        ema.update(0);
        let _ = tch::no_grad(|| w.detach().fill_(0.0));
        // Step 20: d = min(0.5, 21/30) = 0.5 → 0.5·2.8 + 0.5·0 = 1.4.
        ema.update(20);
        let average = ema.with_average(|| values(&w));
        assert!(
            average.iter().all(|v| (v - 1.4).abs() < 1e-6),
            "{average:?}"
        );
        assert_eq!(values(&w), [0.0, 0.0], "the live values come back");
    }

    #[test]
    fn the_state_round_trips_and_names_a_missing_tensor() {
        let (vs, w) = store(2.0);
        let mut ema = Ema::new(&[&vs], 0.9);
        let _ = tch::no_grad(|| w.detach().fill_(4.0));
        ema.update(5);
        let saved: BTreeMap<String, Tensor> = ema.state().into_iter().collect();
        let (vs2, w2) = store(4.0);
        let mut resumed = Ema::new(&[&vs2], 0.9);
        resumed.load_state(&saved).unwrap();
        assert_eq!(
            resumed.with_average(|| values(&w2)),
            ema.with_average(|| values(&w))
        );
        let err = resumed.load_state(&BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("`ema.w`"), "{err}");
    }
}
