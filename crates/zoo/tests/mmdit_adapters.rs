//! Adapters on SD3's MMDiT: LoRA on the image stream's q, k, v, o (8·D·r per block) against Serial
//! LoRA at `attn` (2·D·r per block); a fresh Serial adapter (B = 0) leaves the model unchanged, and a
//! trained one merges losslessly. With role `context` the context stream is adapted too: LoRA on
//! add_q/k/v_proj and to_add_out (none in the last, context_pre_only block), a second Serial pair at
//! `attn.context`; both round-trip through PEFT's `adapter_config.json`. Also the config errors that
//! name the unsupported field or key.
mod common;

use common::{assert_matches, fixture, tensors, TOLERANCE};
use serde_json::{Map, Value};
use serial_lora::{AdapterConfig, AdapterPlan, Target};
use tch::{Device, Tensor};

const WIDTH: i64 = 12;
const BLOCKS: i64 = 3;

fn build(config: AdapterConfig) -> zoo::Loaded {
    zoo::build(
        &fixture("sd3_tiny"),
        Some(AdapterPlan::from(&config)),
        Device::Cpu,
    )
    .unwrap()
}

#[test]
fn serial_is_a_quarter_of_lora_on_q_k_v_o() {
    for rank in [1, 4] {
        let lora = build(AdapterConfig::lora(rank)).store.parameter_count();
        let serial = build(AdapterConfig::serial_lora(rank))
            .store
            .parameter_count();
        assert_eq!(lora.total, BLOCKS * 8 * WIDTH * rank);
        assert_eq!(serial.total, BLOCKS * 2 * WIDTH * rank);
        let sites: Vec<&str> = serial.sites.iter().map(|s| s.module.as_str()).collect();
        assert_eq!(
            sites,
            [
                "transformer_blocks.0.attn",
                "transformer_blocks.1.attn",
                "transformer_blocks.2.attn"
            ]
        );
        assert!(
            lora.sites
                .iter()
                .all(|s| ["to_q", "to_k", "to_v", "to_out.0"]
                    .iter()
                    .any(|t| s.module.ends_with(&format!("attn.{t}")))),
            "LoRA outside the image stream's q, k, v, o: {:?}",
            lora.sites
        );
    }
}

fn with_context(mut config: AdapterConfig) -> AdapterConfig {
    config.targets.push(Target::Context);
    config
}

#[test]
fn the_context_stream_doubles_the_counts_but_the_last_block_has_no_to_add_out() {
    for rank in [1, 4] {
        let lora = build(with_context(AdapterConfig::lora(rank)))
            .store
            .parameter_count();
        let serial = build(with_context(AdapterConfig::serial_lora(rank)))
            .store
            .parameter_count();
        assert_eq!(lora.total, 2 * BLOCKS * 8 * WIDTH * rank - 2 * WIDTH * rank);
        assert_eq!(lora.sites.len() as i64, BLOCKS * 8 - 1);
        assert!(!lora
            .sites
            .iter()
            .any(|s| s.module == "transformer_blocks.2.attn.to_add_out"));
        assert_eq!(serial.total, 2 * BLOCKS * 2 * WIDTH * rank);
        let sites: Vec<&str> = serial.sites.iter().map(|s| s.module.as_str()).collect();
        assert_eq!(
            sites,
            [
                "transformer_blocks.0.attn",
                "transformer_blocks.0.attn.context",
                "transformer_blocks.1.attn",
                "transformer_blocks.1.attn.context",
                "transformer_blocks.2.attn",
                "transformer_blocks.2.attn.context"
            ]
        );
    }
}

/// Trains the adapters of `config` at random, saves them (PEFT format), loads them into a fresh
/// model and checks the same output, unmerged and merged; returns the saved `target_modules`.
fn round_trip(config: AdapterConfig) -> Value {
    let dir = fixture("sd3_tiny");
    let inputs = tensors(&dir.join("inputs.safetensors"));
    let loaded = build(config);
    tch::manual_seed(11);
    tch::no_grad(|| {
        for (name, mut t) in loaded.store.adapters().variables() {
            if name.ends_with("lora_B.weight") {
                t.copy_(&(Tensor::randn_like(&t) * 0.3));
            }
        }
    });
    let adapted = loaded.model.forward(&inputs).unwrap();
    let moved = common::rel_diff(
        &adapted["sample"],
        &tensors(&dir.join("outputs.safetensors"))["sample"],
    );
    assert!(
        moved > 1e-3,
        "the adapter barely changes the output ({moved:e})"
    );
    let tmp = tempfile::tempdir().unwrap();
    loaded.store.save_adapter(tmp.path()).unwrap();
    let reloaded = zoo::load(&dir, Some(tmp.path()), Device::Cpu).unwrap();
    assert_eq!(
        reloaded.store.parameter_count(),
        loaded.store.parameter_count()
    );
    assert_matches(
        "sd3_tiny context adapter reloaded",
        &reloaded.model.forward(&inputs).unwrap(),
        &adapted,
        TOLERANCE,
    );
    reloaded.store.merge();
    assert_matches(
        "sd3_tiny context adapter merged",
        &reloaded.model.forward(&inputs).unwrap(),
        &adapted,
        TOLERANCE,
    );
    let text = std::fs::read_to_string(tmp.path().join("adapter_config.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["target_modules"].clone()
}

#[test]
fn context_stream_adapters_round_trip_through_peft_files() {
    assert_eq!(
        round_trip(with_context(AdapterConfig::lora(2))),
        serde_json::json!([
            "add_k_proj",
            "add_q_proj",
            "add_v_proj",
            "to_add_out",
            "to_k",
            "to_out.0",
            "to_q",
            "to_v"
        ])
    );
    assert_eq!(
        round_trip(with_context(AdapterConfig::serial_lora(2))),
        serde_json::json!(["attn", "context"])
    );
}

#[test]
fn serial_lora_at_zero_is_the_base_and_merges_losslessly() {
    tch::manual_seed(5);
    let dir = fixture("sd3_tiny");
    let inputs = tensors(&dir.join("inputs.safetensors"));
    let loaded = build(AdapterConfig::serial_lora(4));
    assert_matches(
        "sd3_tiny Serial at B = 0",
        &loaded.model.forward(&inputs).unwrap(),
        &tensors(&dir.join("outputs.safetensors")),
        TOLERANCE,
    );
    tch::no_grad(|| {
        for (name, mut t) in loaded.store.adapters().variables() {
            if name.ends_with("lora_B.weight") {
                t.copy_(&(Tensor::randn_like(&t) * 0.3));
            }
        }
    });
    let adapted = loaded.model.forward(&inputs).unwrap();
    let moved = common::rel_diff(
        &adapted["sample"],
        &tensors(&dir.join("outputs.safetensors"))["sample"],
    );
    assert!(
        moved > 1e-3,
        "the Serial adapter barely changes the output ({moved:e})"
    );
    loaded.store.merge();
    assert_matches(
        "sd3_tiny Serial merged",
        &loaded.model.forward(&inputs).unwrap(),
        &adapted,
        TOLERANCE,
    );
}

fn config_error(edit: impl FnOnce(&mut Map<String, Value>)) -> String {
    let text = std::fs::read_to_string(fixture("sd3_tiny").join("config.json")).unwrap();
    let mut config: Map<String, Value> = serde_json::from_str(&text).unwrap();
    edit(&mut config);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    zoo::Architecture::from_dir(tmp.path())
        .unwrap_err()
        .to_string()
}

#[test]
fn unsupported_configs_name_the_field() {
    let err = config_error(|c| {
        c.insert("dual_attention_layers".into(), serde_json::json!([0, 1]));
    });
    assert!(
        err.contains("field `dual_attention_layers`") && err.contains("unsupported"),
        "{err}"
    );
    let err = config_error(|c| {
        c.insert("use_pos_embed_interpolation".into(), Value::Bool(true));
    });
    assert!(err.contains("field `use_pos_embed_interpolation`"), "{err}");
    let err = config_error(|c| {
        c.insert("qk_norm".into(), Value::String("layer_norm".into()));
    });
    assert!(err.contains("field `qk_norm`"), "{err}");
    let err = config_error(|c| {
        c.insert("caption_projection_dim".into(), Value::from(16));
    });
    assert!(err.contains("field `caption_projection_dim`"), "{err}");
}

#[test]
fn the_shipped_sd3_medium_config_is_the_preset() {
    let path = common::workspace_root()
        .join("crates/analysis/src/params/sd3_medium_transformer_config.json");
    let config: Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let parsed = zoo::mmdit::Config::from_json(&config, &path).unwrap();
    assert_eq!(parsed, zoo::mmdit::Config::sd3_medium());
}
