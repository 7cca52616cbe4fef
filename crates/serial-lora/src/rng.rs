//! Explicit, seeded randomness: adapter sites' `A` initialisation and dropout masks, and
//! [`Draws`], a keyed stream of random tensors for everything else a run draws (batches, noise).
//!
//! Each site draws from its own ChaCha generator, keyed by the plan's seed and the site's module
//! path (and, for dropout, the training step and the call within it). Nothing touches libtorch's
//! process-global generator, so models built or trained concurrently (tests, threads) do not
//! disturb each other, and a resumed run draws exactly the masks an uninterrupted one would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rand::distributions::{Bernoulli, Distribution, Uniform};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use sha2::{Digest, Sha256};
use tch::Tensor;

/// The training step a model is at, shared by all its sites; the runner sets it before each step.
#[derive(Debug, Clone, Default)]
pub struct StepClock(Arc<AtomicU64>);

impl StepClock {
    /// Sets the current step.
    pub fn set(&self, step: u64) {
        self.0.store(step, Ordering::Release)
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// A generator keyed by the text `key`.
fn generator(key: &str) -> ChaCha8Rng {
    ChaCha8Rng::from_seed(Sha256::digest(key.as_bytes()).into())
}

/// A stream of random tensors keyed by a text (e.g. `"<seed>:step:<n>"`): the same key gives the
/// same draws, in any thread, whatever else the process draws; libtorch's global generator is
/// never touched. Every tensor is made on the CPU.
#[derive(Debug, Clone)]
pub struct Draws(ChaCha8Rng);

impl Draws {
    /// The stream of `key`.
    pub fn new(key: &str) -> Self {
        Self(generator(key))
    }

    /// An fp32 tensor of `shape` from N(0, 1).
    pub fn normal(&mut self, shape: &[i64]) -> Tensor {
        let n = shape.iter().product::<i64>() as usize;
        let values: Vec<f32> = (0..n).map(|_| self.0.sample(StandardNormal)).collect();
        Tensor::from_slice(&values).view(shape)
    }

    /// An fp64 tensor of `n` values from U[0, 1).
    pub fn uniform(&mut self, n: i64) -> Tensor {
        let values: Vec<f64> = (0..n).map(|_| self.0.gen::<f64>()).collect();
        Tensor::from_slice(&values)
    }

    /// An int64 tensor of `n` values drawn uniformly from `0..bound`.
    pub fn below(&mut self, bound: i64, n: i64) -> Tensor {
        let values: Vec<i64> = (0..n).map(|_| self.0.gen_range(0..bound)).collect();
        Tensor::from_slice(&values)
    }
}

/// The random source of one adapter pair.
#[derive(Debug)]
pub struct SiteRng {
    key: String,
    clock: StepClock,
    /// (step, calls made in that step).
    calls: Mutex<(u64, u64)>,
}

impl SiteRng {
    /// The source of the pair named `name` (its module path and role) under plan seed `seed`.
    pub fn new(seed: u64, name: &str, clock: StepClock) -> Self {
        Self {
            key: format!("{seed}:{name}"),
            clock,
            calls: Mutex::new((0, 0)),
        }
    }

    /// A `[rows, cols]` fp32 tensor drawn from U(−bound, bound), the same for the same seed and site.
    pub fn uniform(&self, rows: i64, cols: i64, bound: f64) -> Tensor {
        let mut rng = generator(&format!("{}:init", self.key));
        let dist = Uniform::new(-bound as f32, bound as f32);
        let values: Vec<f32> = (0..rows * cols).map(|_| dist.sample(&mut rng)).collect();
        Tensor::from_slice(&values).view([rows, cols])
    }

    /// Inverted dropout of `x` with probability `p`: the mask depends on the seed, the site, the
    /// current step and how many masks this site has drawn in that step.
    pub fn dropout(&self, x: &Tensor, p: f64) -> Tensor {
        let step = self.clock.get();
        let call = {
            let mut calls = self.calls.lock().expect("dropout counter poisoned");
            if calls.0 != step {
                *calls = (step, 0);
            }
            calls.1 += 1;
            calls.1 - 1
        };
        let mut rng = generator(&format!("{}:dropout:{step}:{call}", self.key));
        let keep = Bernoulli::new(1.0 - p).expect("dropout probability in [0, 1)");
        let scale = (1.0 / (1.0 - p)) as f32;
        let mask: Vec<f32> = (0..x.numel())
            .map(|_| if keep.sample(&mut rng) { scale } else { 0.0 })
            .collect();
        let mask = Tensor::from_slice(&mask)
            .view(x.size().as_slice())
            .to_device(x.device())
            .to_kind(x.kind());
        x * mask
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_repeat_per_key_and_differ_between_keys() {
        let take = |key: &str| {
            let mut d = Draws::new(key);
            let n = Vec::<f32>::try_from(&d.normal(&[2, 3]).flatten(0, -1)).unwrap();
            let u = Vec::<f64>::try_from(&d.uniform(4)).unwrap();
            let b = Vec::<i64>::try_from(&d.below(5, 6)).unwrap();
            (n, u, b)
        };
        let (n, u, b) = take("1:step:7");
        assert_eq!((n.clone(), u.clone(), b.clone()), take("1:step:7"));
        assert_ne!(n, take("1:step:8").0);
        assert!(u.iter().all(|v| (0.0..1.0).contains(v)));
        assert!(b.iter().all(|v| (0..5).contains(v)));
        // Global-generator draws in between change nothing.
        tch::manual_seed(99);
        let _ = Tensor::randn([10], (tch::Kind::Float, tch::Device::Cpu));
        assert_eq!(n, take("1:step:7").0);
    }

    #[test]
    fn normal_draws_have_unit_moments() {
        let x = Draws::new("moments").normal(&[20_000]);
        let mean = x.mean(tch::Kind::Double).double_value(&[]);
        let std = x.std(true).double_value(&[]);
        assert!(
            mean.abs() < 0.03 && (std - 1.0).abs() < 0.03,
            "{mean} {std}"
        );
    }
}
