//! diffusers' `FlowMatchEulerDiscreteScheduler` (static shift, no dynamic shifting), libtorch-free:
//! the exact σ schedule of `set_timesteps` and the Euler step size.
//!
//! At construction the training table is `σ_i = shift(i/N)` for `i = N…1`, with
//! `shift(σ) = s·σ / (1 + (s − 1)·σ)`, in fp32. `set_timesteps(n)` spaces `n` timesteps linearly
//! (fp64) from `σ_max·N` to `σ_min·N`, divides by `N`, applies the shift **again** (diffusers does,
//! although σ_min was already shifted), rounds to fp32 and appends σ = 0. A step moves
//! `x ← x + (σ_{i+1} − σ_i)·v`.

/// The scheduler's configuration (`scheduler_config.json`: `num_train_timesteps` ≥ 1, `shift`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlowMatchEulerDiscreteScheduler {
    /// `N`, the number of training timesteps.
    pub num_train_timesteps: usize,
    /// The time shift `s` (SD3: 3.0).
    pub shift: f64,
}

/// The σ and timestep values of one sampling run, as `set_timesteps` leaves them.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// `n + 1` noise levels, decreasing, the last one 0.
    pub sigmas: Vec<f32>,
    /// `n` timesteps `σ_i·N` (fp32) passed to the model.
    pub timesteps: Vec<f32>,
}

impl Schedule {
    /// The Euler step size `σ_{i+1} − σ_i` (negative) of step `i`, in fp32.
    pub fn dt(&self, i: usize) -> f32 {
        self.sigmas[i + 1] - self.sigmas[i]
    }
}

/// numpy's `linspace(start, stop, n)` (endpoint included, computed as `start + i·step`).
fn linspace(start: f64, stop: f64, n: usize) -> Vec<f64> {
    if n < 2 {
        return vec![start; n];
    }
    let step = (stop - start) / (n - 1) as f64;
    (0..n)
        .map(|i| {
            if i + 1 == n {
                stop
            } else {
                i as f64 * step + start
            }
        })
        .collect()
}

impl FlowMatchEulerDiscreteScheduler {
    /// Stable Diffusion 3's scheduler: 1000 training timesteps, shift 3.
    pub fn sd3() -> Self {
        Self {
            num_train_timesteps: 1000,
            shift: 3.0,
        }
    }

    /// The training table `σ_i = shift(i/N)`, `i = N…1`, in fp32 as diffusers computes it at init.
    pub fn train_sigmas(&self) -> Vec<f32> {
        let n = self.num_train_timesteps as f32;
        let s = self.shift as f32;
        let s_minus_1 = (self.shift - 1.0) as f32;
        (1..=self.num_train_timesteps)
            .rev()
            .map(|t| {
                let sigma = t as f32 / n;
                s * sigma / (1.0 + s_minus_1 * sigma)
            })
            .collect()
    }

    /// The schedule of an `steps`-step run (diffusers' `set_timesteps(steps)`).
    pub fn set_timesteps(&self, steps: usize) -> Schedule {
        let n = self.num_train_timesteps as f64;
        let table = self.train_sigmas();
        let (sigma_max, sigma_min) = (f64::from(table[0]), f64::from(table[table.len() - 1]));
        let mut sigmas: Vec<f32> = linspace(sigma_max * n, sigma_min * n, steps)
            .into_iter()
            .map(|t| {
                let sigma = t / n;
                (self.shift * sigma / (1.0 + (self.shift - 1.0) * sigma)) as f32
            })
            .collect();
        let timesteps = sigmas.iter().map(|s| s * n as f32).collect();
        sigmas.push(0.0);
        Schedule { sigmas, timesteps }
    }
}
