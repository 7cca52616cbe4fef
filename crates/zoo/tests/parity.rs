//! Parity with transformers and PEFT on tiny random models (fixtures by
//! tools/fixtures/make_zoo_fixtures.py): every output within fp32 tolerance, without and with the PEFT
//! LoRA adapter, merged and not.
mod common;

use common::{assert_matches, fixture, tensors, TOLERANCE};
use tch::Device;

const CASES: [&str; 4] = ["clip", "clip_vision", "clip_text", "dinov2"];

#[test]
fn base_models_match_transformers() {
    for case in CASES {
        let dir = fixture(case);
        let loaded = zoo::load(&dir, None, Device::Cpu).unwrap();
        let ours = loaded
            .model
            .forward(&tensors(&dir.join("inputs.safetensors")))
            .unwrap();
        assert_matches(
            case,
            &ours,
            &tensors(&dir.join("outputs.safetensors")),
            TOLERANCE,
        );
    }
}

#[test]
fn peft_lora_adapters_match_peft_merged_and_unmerged() {
    for case in CASES {
        let dir = fixture(case);
        let loaded = zoo::load(&dir, Some(&dir.join("peft")), Device::Cpu).unwrap();
        assert!(
            loaded.store.parameter_count().total > 0,
            "{case}: the adapter attached nowhere"
        );
        let inputs = tensors(&dir.join("inputs.safetensors"));
        let reference = tensors(&dir.join("outputs_peft.safetensors"));
        assert_matches(
            &format!("{case} + PEFT LoRA"),
            &loaded.model.forward(&inputs).unwrap(),
            &reference,
            TOLERANCE,
        );
        loaded.store.merge();
        assert_matches(
            &format!("{case} + PEFT LoRA merged"),
            &loaded.model.forward(&inputs).unwrap(),
            &reference,
            TOLERANCE,
        );
    }
}

#[test]
fn dinov2_adapter_with_legacy_names_loads_the_same() {
    let dir = fixture("dinov2");
    let legacy = zoo::load(&dir, Some(&dir.join("peft_legacy")), Device::Cpu).unwrap();
    let current = zoo::load(&dir, Some(&dir.join("peft")), Device::Cpu).unwrap();
    assert_eq!(
        legacy.store.parameter_count(),
        current.store.parameter_count()
    );
    let inputs = tensors(&dir.join("inputs.safetensors"));
    assert_matches(
        "dinov2 + legacy-named PEFT LoRA",
        &legacy.model.forward(&inputs).unwrap(),
        &tensors(&dir.join("outputs_peft.safetensors")),
        TOLERANCE,
    );
}
