//! What a run trains on: the pre-training images (every class but the held-out one, each with its
//! class prompt) or the instance images with the instance prompt, part of them held out in a
//! selection run.

use anyhow::{bail, Result};
use formats::Method;
use tch::{Device, Kind, Tensor};

use crate::config::RunSpec;
use crate::data::Images;
use crate::prompts::Conditioning;

/// What a run trains on: model-space images `[N, C, H, W]` (on the CPU) and the prompt row of each.
pub struct TrainSet {
    /// Images `[N, C, H, W]`.
    pub images: Tensor,
    /// Prompt rows `[N]` (int64).
    pub prompts: Tensor,
}

impl TrainSet {
    /// Images in the set.
    pub fn count(&self) -> i64 {
        self.images.size()[0]
    }
}

/// `pretrain`: every train image but the held-out class's, with its class prompt. Otherwise the
/// first `instance_images` train images of the held-out class with the instance prompt; a
/// selection run keeps its last `⌈validation_fraction·n⌉` of them apart for the validation loss.
pub fn training_images(
    spec: &RunSpec,
    images: &Images,
    label: i64,
    conditioning: &Conditioning,
) -> Result<(TrainSet, Option<Tensor>)> {
    if spec.method == Method::Pretrain {
        let (x, labels) = images.train.without_class(label);
        // Class prompts were encoded in label order, after the empty prompt.
        let rows: Vec<i64> = images
            .classnames
            .iter()
            .map(|c| conditioning.index(&spec.prompt_of(c)))
            .collect::<Result<_>>()?;
        let prompts = Tensor::from_slice(&rows).index_select(0, &labels);
        return Ok((TrainSet { images: x, prompts }, None));
    }
    let all = images.train.of_class(label);
    let n = spec.instance_images as i64;
    if all.size()[0] < n {
        bail!(
            "field `instance_images`: {n} asked, the train split has {} of `{}`",
            all.size()[0],
            spec.held_out
        );
    }
    let instances = all.narrow(0, 0, n);
    let held = spec
        .validation_fraction
        .map(|f| ((f * n as f64).ceil() as i64).clamp(1, n - 1));
    let (train, validation) = match held {
        Some(k) => (
            instances.narrow(0, 0, n - k),
            Some(instances.narrow(0, n - k, k)),
        ),
        None => (instances, None),
    };
    let row = conditioning.index(&spec.instance_prompt)?;
    let prompts = Tensor::full([train.size()[0]], row, (Kind::Int64, Device::Cpu));
    Ok((
        TrainSet {
            images: train,
            prompts,
        },
        validation,
    ))
}
