//! Sampling for evaluation: `[sampling]` (Euler steps, guidance, how many samples, which seeds), and
//! the guided flow-matching sampler run on a prompt with one fixed seed per sample, so every run
//! draws its `i`-th sample from the same starting noise.

use formats::check::Checks;
use serde::{Deserialize, Serialize};
use serial_lora::rng::Draws;
use tch::{Device, Kind, Tensor};
use zoo::mmdit::{self, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel};

use crate::prompts::Conditioning;

/// `[sampling]`: how runs are sampled and scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingSection {
    /// Euler steps.
    pub steps: usize,
    /// Classifier-free guidance scale (the empty prompt is the unconditional input).
    pub guidance: f64,
    /// Samples of the instance prompt scored by FD, KID and instance accuracy.
    pub samples: usize,
    /// Samples per other class's prompt, scored by preservation accuracy.
    pub per_class: usize,
    /// Sample `i` starts from the noise of seed `seed + i`.
    pub seed: u64,
    /// Images per model call.
    pub batch: usize,
    /// Samples shown in a run's grid (`samples.png`).
    pub grid: usize,
    /// Side, in pixels, of the images the feature model sees (bicubic resize).
    pub feature_size: i64,
    /// Full-batch steps of the pixel classifier that scores instance and preservation accuracy.
    pub classifier_steps: usize,
    /// Every this many training steps, a grid of the instance prompt's first `grid` samples is
    /// written to `progress/step_<N>.png` (the DreamBooth script's validation images); none when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<usize>,
}

impl SamplingSection {
    /// Range checks, as `sampling.<field>`.
    pub fn check(&self, checks: &mut Checks) {
        checks
            .at_least("sampling.steps", self.steps, 1)
            .non_negative("sampling.guidance", self.guidance)
            .at_least("sampling.samples", self.samples, 2)
            .at_least("sampling.batch", self.batch, 1)
            .at_least("sampling.feature_size", self.feature_size, 14)
            .at_least("sampling.classifier_steps", self.classifier_steps, 1);
        if let Some(every) = self.every {
            checks.at_least("sampling.every", every, 1);
        }
    }
}

/// The starting noise `[1, C, H, W]` of the sample with seed `seed`: `N(0, I)` from the stream
/// `sample:<seed>`, the same in every run, thread and batch.
pub fn sample_noise(seed: u64, [c, h, w]: [i64; 3]) -> Tensor {
    Draws::new(&format!("sample:{seed}")).normal(&[1, c, h, w])
}

/// A model, its prompts and the sampling settings: draws samples of one prompt at a time.
pub struct Sampler<'a> {
    /// The (adapted) model.
    pub model: &'a SD3Transformer2DModel,
    /// The encoded prompts.
    pub conditioning: &'a Conditioning,
    /// The scheduler (its shift is the run's `flow.shift`).
    pub scheduler: FlowMatchEulerDiscreteScheduler,
    /// Image shape `[C, H, W]`.
    pub shape: [i64; 3],
    /// Steps, guidance, batch.
    pub section: &'a SamplingSection,
}

impl Sampler<'_> {
    /// `n` samples `[n, C, H, W]` of prompt row `prompt`, clamped to `[−1, 1]`, on the CPU: sample
    /// `i` starts from [`sample_noise`]`(first_seed + i)`.
    pub fn generate(&self, prompt: i64, n: usize, first_seed: u64) -> Tensor {
        let device = self.conditioning.device();
        let schedule = self.scheduler.set_timesteps(self.section.steps);
        let [c, h, w] = self.shape;
        let batch = self.section.batch;
        let mut out = Vec::new();
        tch::no_grad(|| {
            for start in (0..n).step_by(batch) {
                let rows = batch.min(n - start);
                let noise: Vec<Tensor> = (start..start + rows)
                    .map(|i| sample_noise(first_seed + i as u64, [c, h, w]))
                    .collect();
                let latents = Tensor::cat(&noise, 0).to_device(device);
                let options = (Kind::Int64, device);
                let prompts = Tensor::full([rows as i64], prompt, options);
                let rows_in = if self.section.guidance > 1.0 {
                    let empty = Tensor::full([rows as i64], self.conditioning.empty(), options);
                    Tensor::cat(&[&empty, &prompts], 0)
                } else {
                    prompts
                };
                let (context, pooled) = self.conditioning.select(&rows_in);
                let x = mmdit::sample(&schedule, &latents, self.section.guidance, |x, t| {
                    self.model.forward_t(x, &context, &pooled, t, false)
                });
                out.push(x.clamp(-1.0, 1.0).to_device(Device::Cpu));
            }
        });
        Tensor::cat(&out, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_seed_gives_the_same_noise_whatever_the_global_generator_did() {
        let first = sample_noise(7, [1, 4, 4]);
        tch::manual_seed(123);
        let _ = Tensor::randn([64], (Kind::Float, Device::Cpu));
        assert!(first.equal(&sample_noise(7, [1, 4, 4])));
        assert!(!first.equal(&sample_noise(8, [1, 4, 4])));
        assert_eq!(first.size(), [1, 1, 4, 4]);
    }
}
