//! CLIP's pooled-output paths (`pooled_t`, and the image features the runners train on) compute the
//! last block for the class token only; they must give `forward_t`'s `pooler_output` and the same
//! adapter gradients, with LoRA and with Serial LoRA.
mod common;

use common::{fixture, rel_diff, tensors, TOLERANCE};
use serial_lora::{AdapterConfig, AdapterPlan, ModelStore};
use tch::{Device, Kind, Tensor};
use zoo::Model;

/// The full path's and the pooled path's output for `pixels`.
fn both(model: &Model, pixels: &Tensor) -> (Tensor, Tensor) {
    match model {
        Model::Clip(m) => (
            m.vision_model.forward_t(pixels, true).pooler_output,
            m.vision_model.pooled_t(pixels, true),
        ),
        Model::ClipVision(m) => (
            m.forward_t(pixels, true).pooler_output,
            m.pooled_t(pixels, true),
        ),
        _ => unreachable!("image models only"),
    }
}

/// Every adapter gradient of `loss` (the adapters it reaches: not a CLIP model's text tower), by
/// name.
fn gradients(store: &ModelStore, loss: &Tensor) -> Vec<(String, Tensor)> {
    for (_, mut t) in store.adapters().variables() {
        if t.grad().defined() {
            t.zero_grad();
        }
    }
    loss.backward();
    let mut grads: Vec<_> = store
        .adapters()
        .variables()
        .into_iter()
        .filter(|(_, t)| t.grad().defined())
        .map(|(name, t)| (name, t.grad().copy()))
        .collect();
    assert!(!grads.is_empty(), "the loss reaches the adapters");
    grads.sort_by(|a, b| a.0.cmp(&b.0));
    grads
}

#[test]
fn the_pooled_path_equals_the_full_forward_in_value_and_gradient() {
    for case in ["clip", "clip_vision"] {
        for config in [AdapterConfig::lora(4), AdapterConfig::serial_lora(4)] {
            let dir = fixture(case);
            let loaded = zoo::build(&dir, Some(AdapterPlan::from(&config)), Device::Cpu).unwrap();
            tch::no_grad(|| {
                for (name, mut t) in loaded.store.adapters().variables() {
                    if name.ends_with("lora_B.weight") {
                        let values = Tensor::arange(t.numel() as i64, (Kind::Float, Device::Cpu));
                        t.copy_(&((values * 0.37).sin() * 0.3).view(t.size().as_slice()));
                    }
                }
            });
            let pixels = tensors(&dir.join("inputs.safetensors"))["pixel_values"].shallow_clone();
            let (full, pooled) = both(&loaded.model, &pixels);
            let what = format!("{case} {:?}", config.method);
            let rel = rel_diff(&pooled, &full);
            assert!(rel <= TOLERANCE, "{what}: pooled output off by {rel:e}");
            let weights = (Tensor::arange(full.numel() as i64, (Kind::Float, Device::Cpu)) * 0.11)
                .cos()
                .view(full.size().as_slice());
            let (g_full, g_pooled) = (
                gradients(&loaded.store, &(&full * &weights).sum(Kind::Float)),
                gradients(&loaded.store, &(&pooled * &weights).sum(Kind::Float)),
            );
            assert_eq!(g_pooled.len(), g_full.len(), "{what}");
            for ((name, a), (_, b)) in g_pooled.iter().zip(&g_full) {
                let rel = rel_diff(a, b);
                assert!(
                    rel <= TOLERANCE,
                    "{what}: gradient of {name} off by {rel:e}"
                );
            }
        }
    }
}
