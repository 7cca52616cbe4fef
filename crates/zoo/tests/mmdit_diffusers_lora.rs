//! diffusers' SD3 LoRA file (`pytorch_lora_weights.safetensors`, written by
//! `StableDiffusion3Pipeline.save_lora_weights` as the DreamBooth LoRA script does; fixtures by
//! tools/fixtures/make_sd3_lora_fixtures.py) loads into our MMDiT and gives diffusers' output after
//! `pipe.load_lora_weights`, unmerged and merged, fp32 ≤ 1e-5 relative: without adapter metadata
//! (alpha = rank), with `lora_adapter_metadata` (alpha ≠ rank), and with the DreamBooth script's
//! default targets (the context stream's `add_q/k/v_proj` and `to_add_out` too). Files with modules
//! the model lacks (the last block's `to_add_out`) or other components are refused by name.
mod common;

use std::path::Path;

use common::{assert_matches, fixture, tensors, TOLERANCE};
use serial_lora::checkpoint::save_tensors;
use tch::{Device, Kind, Tensor};
use zoo::mmdit::diffusers_lora::{self, LORA_WEIGHTS_FILE};

fn check(folder: &str, outputs: &str, rank: i64, alpha: f64, sites: usize) {
    let dir = fixture("sd3_tiny");
    let adapter = dir.join(folder);
    let plan = diffusers_lora::read_plan(&adapter.join(LORA_WEIGHTS_FILE)).unwrap();
    assert_eq!((plan.rank, plan.alpha), (rank, alpha));
    let loaded = zoo::load(&dir, Some(&adapter), Device::Cpu).unwrap();
    assert_eq!(loaded.store.parameter_count().sites.len(), sites);
    let inputs = tensors(&dir.join("inputs_peft.safetensors"));
    let reference = tensors(&dir.join(outputs));
    let base = zoo::load(&dir, None, Device::Cpu).unwrap();
    let rel = common::rel_diff(
        &base.model.forward(&inputs).unwrap()["sample"],
        &reference["sample"],
    );
    assert!(rel > 1e-3, "the LoRA must change the output ({rel:e})");
    assert_matches(
        folder,
        &loaded.model.forward(&inputs).unwrap(),
        &reference,
        TOLERANCE,
    );
    loaded.store.merge();
    assert_matches(
        &format!("{folder} merged"),
        &loaded.model.forward(&inputs).unwrap(),
        &reference,
        TOLERANCE,
    );
}

#[test]
fn dreambooth_file_without_metadata_matches_diffusers() {
    check(
        "dreambooth_lora",
        "outputs_dreambooth.safetensors",
        4,
        4.0,
        4 * 3,
    );
}

#[test]
fn dreambooth_default_targets_with_the_context_stream_match_diffusers() {
    // 3 blocks × (to_q, to_k, to_v, to_out.0, add_q/k/v_proj, to_add_out), but the last block is
    // context_pre_only and has no to_add_out.
    check(
        "dreambooth_lora_context",
        "outputs_dreambooth_context.safetensors",
        4,
        4.0,
        3 * 8 - 1,
    );
}

#[test]
fn file_with_adapter_metadata_matches_diffusers() {
    check(
        "dreambooth_lora_metadata",
        "outputs_dreambooth_metadata.safetensors",
        2,
        6.0,
        4 * 3,
    );
}

fn write_lora(dir: &Path, keys: &[&str]) -> std::path::PathBuf {
    let file = dir.join(LORA_WEIGHTS_FILE);
    let tensors: Vec<(String, Tensor)> = keys
        .iter()
        .map(|k| {
            let shape = if k.ends_with("lora_A.weight") {
                [2, 12]
            } else {
                [12, 2]
            };
            (
                k.to_string(),
                Tensor::zeros(shape, (Kind::Float, Device::Cpu)),
            )
        })
        .collect();
    save_tensors(&file, &tensors).unwrap();
    file
}

#[test]
fn absent_modules_and_text_encoder_loras_are_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let key = "transformer.transformer_blocks.2.attn.to_add_out.lora_A.weight";
    let file = write_lora(
        tmp.path(),
        &[
            key,
            "transformer.transformer_blocks.2.attn.to_add_out.lora_B.weight",
        ],
    );
    let error = zoo::load(&fixture("sd3_tiny"), Some(&file), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("unexpected tensor `{key}`")),
        "{error}"
    );

    let text = "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight";
    let file = write_lora(tmp.path(), &[text]);
    let error = diffusers_lora::read_plan(&file).unwrap_err().to_string();
    assert!(
        error.contains(text) && error.contains("only the transformer"),
        "{error}"
    );
}

#[test]
fn a_diffusers_lora_file_needs_an_sd3_transformer() {
    let file = fixture("sd3_tiny/dreambooth_lora").join(LORA_WEIGHTS_FILE);
    let error = zoo::load(&fixture("vae_sd3_tiny"), Some(&file), Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(error.contains("SD3Transformer2DModel only"), "{error}");
}

#[test]
fn diffusers_loads_an_sd3_lora_we_save() {
    let dir = fixture("sd3_tiny");
    let mut config = serial_lora::AdapterConfig::lora(3);
    config.alpha = 5.0;
    let loaded = zoo::build(
        &dir,
        Some(serial_lora::AdapterPlan::from(&config)),
        Device::Cpu,
    )
    .unwrap();
    tch::manual_seed(7);
    tch::no_grad(|| {
        for (name, mut t) in loaded.store.adapters().variables() {
            if name.ends_with("lora_B.weight") {
                t.copy_(&(t.randn_like() * 0.2));
            }
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let adapter = tmp.path().join("adapter");
    loaded.store.save_adapter(&adapter).unwrap();
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(adapter.join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        config["target_modules"],
        serde_json::json!(["to_k", "to_out.0", "to_q", "to_v"]),
        "a bare `0` would also select transformer_blocks.0 and ff.net.0 in PEFT"
    );
    let inputs = dir.join("inputs_peft.safetensors");
    let ours = loaded.model.forward(&tensors(&inputs)).unwrap();
    let outputs = tmp.path().join("outputs.safetensors");
    save_tensors(
        &outputs,
        &[("sample".into(), ours["sample"].shallow_clone())],
    )
    .unwrap();

    let python = common::workspace_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup`",
        python.display()
    );
    let out = std::process::Command::new(&python)
        .arg(common::workspace_root().join("tools/check_sd3_lora_diffusers.py"))
        .args([&dir, &adapter, &inputs, &outputs])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "diffusers refused our SD3 LoRA:\n{text}"
    );
    assert!(
        text.contains("diffusers loaded 24 LoRA tensors (r=3, lora_alpha=5"),
        "{text}"
    );
}
