//! SAMed's multi-class head: a SAM-style segmenter rebuilt with one mask token (and hypernetwork
//! MLP) per class, prompt-free, its multimask output giving one logit map per class.
//!
//! SAMed sets the decoder's `num_multimask_outputs` to the number of classes and loads the
//! pre-trained checkpoint except `mask_tokens`, `output_hypernetworks_mlps` and
//! `iou_prediction_head`, whose shapes change with it; those start fresh (PyTorch's defaults:
//! `nn.Embedding` N(0, 1), `nn.Linear` U(±1/√fan_in) for weight and bias), here from a seeded
//! generator keyed by the variable's name. The multimask output (`multimask_output = true`) is then
//! the `classes` maps after the single-mask token.

use serial_lora::rng::Draws;
use tch::nn::VarStore;
use tch::Tensor;

/// Prefixes of the decoder variables whose shapes depend on the number of masks: re-initialised.
pub const CLASS_HEAD: [&str; 3] = [
    "mask_decoder.mask_tokens.",
    "mask_decoder.output_hypernetworks_mlps.",
    "mask_decoder.iou_prediction_head.",
];

/// Whether checkpoint key or variable `name` belongs to the re-initialised class head.
pub fn is_class_head(name: &str) -> bool {
    CLASS_HEAD.iter().any(|p| name.starts_with(p))
}

/// Draws every class-head variable of `base` afresh from generators keyed by `seed` and the
/// variable's name: mask tokens from N(0, 1), linear weights and biases from U(±1/√fan_in).
pub fn init_class_head(base: &VarStore, seed: u64) {
    let mut vars: Vec<(String, Tensor)> = base
        .variables()
        .into_iter()
        .filter(|(n, _)| is_class_head(n))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let weights: std::collections::HashMap<String, Vec<i64>> =
        vars.iter().map(|(n, t)| (n.clone(), t.size())).collect();
    for (name, mut var) in vars {
        let shape = var.size();
        let mut draws = Draws::new(&format!("{seed}:class_head:{name}"));
        let values = if name.starts_with(CLASS_HEAD[0]) {
            draws.normal(&shape)
        } else {
            // A bias's fan-in is its layer's weight's: `[out, in]`.
            let weight = name.replace(".bias", ".weight");
            let fan_in = weights
                .get(&weight)
                .map_or(shape[shape.len() - 1], |w| w[1]);
            let bound = 1.0 / (fan_in as f64).sqrt();
            let n = shape.iter().product::<i64>();
            (draws.uniform(n) * (2.0 * bound) - bound).view(shape.as_slice())
        };
        tch::no_grad(|| {
            var.copy_(&values.to_kind(var.kind()).to_device(var.device()));
        });
    }
}
