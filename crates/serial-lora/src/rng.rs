//! Explicit, seeded randomness for adapter sites: `A`'s initialisation and the dropout masks.
//!
//! Each site draws from its own ChaCha generator, keyed by the plan's seed and the site's module
//! path (and, for dropout, the training step and the call within it). Nothing touches libtorch's
//! process-global generator, so models built or trained concurrently (tests, threads) do not
//! disturb each other, and a resumed run draws exactly the masks an uninterrupted one would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rand::distributions::{Bernoulli, Distribution, Uniform};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
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
