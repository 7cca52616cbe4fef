//! Serial LoRA on the zoo's models: one shared pair per block before q/k/v, a quarter of LoRA's
//! parameters on q, k, v, o; merged forward equals the adapted forward; saved adapters reload.
mod common;

use common::{assert_matches, fixture, tensors, TOLERANCE};
use serial_lora::{AdapterConfig, AdapterPlan};
use tch::{Device, Tensor};

/// Gives every `B` random values so the adapters change the output.
fn randomize_b(store: &serial_lora::ModelStore) {
    tch::no_grad(|| {
        for (name, mut t) in store.adapters().variables() {
            if name.ends_with("lora_B.weight") {
                t.copy_(&(Tensor::randn_like(&t) * 0.3));
            }
        }
    });
}

#[test]
fn serial_sites_sit_on_the_module_holding_qkv() {
    let expected = [
        ("clip", "vision_model.encoder.layers.0.self_attn"),
        ("clip_text", "encoder.layers.1.self_attn"),
        ("dinov2", "encoder.layer.1.attention.attention"),
    ];
    for (case, site) in expected {
        let plan = AdapterPlan::from(&AdapterConfig::serial_lora(4));
        let loaded = zoo::build(&fixture(case), Some(plan), Device::Cpu).unwrap();
        let count = loaded.store.parameter_count();
        assert!(
            count.sites.iter().any(|s| s.module == site),
            "{case}: no Serial site at {site}: {:?}",
            count.sites
        );
        let lora = zoo::build(
            &fixture(case),
            Some(AdapterPlan::from(&AdapterConfig::lora(4))),
            Device::Cpu,
        )
        .unwrap();
        assert_eq!(
            4 * count.total,
            lora.store.parameter_count().total,
            "{case}: Serial must be 1/4 of LoRA on q,k,v,o"
        );
    }
}

#[test]
fn serial_lora_merged_equals_unmerged_and_reloads() {
    for case in ["clip", "dinov2"] {
        tch::manual_seed(3);
        let dir = fixture(case);
        let plan = AdapterPlan::from(&AdapterConfig::serial_lora(4));
        let loaded = zoo::build(&dir, Some(plan), Device::Cpu).unwrap();
        randomize_b(&loaded.store);
        let inputs = tensors(&dir.join("inputs.safetensors"));
        let base = tensors(&dir.join("outputs.safetensors"));
        let adapted = loaded.model.forward(&inputs).unwrap();
        let moved = common::rel_diff(
            adapted.values().next().unwrap(),
            base.values().next().unwrap(),
        );
        assert!(
            moved > 1e-3,
            "{case}: the Serial adapter barely changes the output ({moved:e})"
        );

        loaded.store.merge();
        assert_matches(
            &format!("{case} Serial merged"),
            &loaded.model.forward(&inputs).unwrap(),
            &adapted,
            TOLERANCE,
        );
        loaded.store.unmerge();
        assert_matches(
            &format!("{case} Serial unmerged"),
            &loaded.model.forward(&inputs).unwrap(),
            &adapted,
            TOLERANCE,
        );

        let saved = tempfile::tempdir().unwrap();
        loaded.store.save_adapter(saved.path()).unwrap();
        let reloaded = zoo::load(&dir, Some(saved.path()), Device::Cpu).unwrap();
        assert_matches(
            &format!("{case} Serial reloaded"),
            &reloaded.model.forward(&inputs).unwrap(),
            &adapted,
            TOLERANCE,
        );
    }
}
