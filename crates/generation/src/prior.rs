//! DreamBooth's prior preservation: images of the class prompt sampled from the base model before
//! training, trained on beside the instance images with loss `instance + weight·prior`.

use formats::check::Checks;
use serde::{Deserialize, Serialize};

/// `[prior]`: the class prompt, how many class images the base model samples, and their weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriorSection {
    /// The class prompt (e.g. `a photo of a shoe`), without the rare token.
    pub class_prompt: String,
    /// Class images sampled from the base model (the script's `num_class_images`).
    pub images: usize,
    /// The prior loss weight (the script's `prior_loss_weight`, 1).
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

impl PriorSection {
    /// Range checks, as `prior.<field>`.
    pub fn check(&self, checks: &mut Checks) {
        checks
            .at_least("prior.images", self.images, 1)
            .non_negative("prior.weight", self.weight);
    }
}
