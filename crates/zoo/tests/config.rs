//! `config.json` parsing: transformers' defaults, legacy `*_config_dict` overrides, presets, and
//! errors that name the file and the field.
use std::path::Path;

use serde_json::{json, Map, Value};
use zoo::clip;

fn object(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn clip_defaults_and_legacy_dict_override() {
    let path = Path::new("config.json");
    let config = object(
        json!({"model_type": "clip", "text_config": {"eos_token_id": 2}, "vision_config_dict": {"patch_size": 16}}),
    );
    let parsed = clip::Config::from_json(&config, path).unwrap();
    assert_eq!(
        parsed,
        clip::Config::vit_b_16(),
        "transformers' defaults with patch 16 and eos 2 are OpenAI ViT-B/16"
    );
    let large = clip::Config::vit_l_14();
    assert_eq!(
        (
            large.vision.hidden_size,
            large.vision.num_hidden_layers,
            large.text.hidden_size,
            large.projection_dim
        ),
        (1024, 24, 768, 768)
    );
}

#[test]
fn errors_name_file_and_field() {
    let path = Path::new("some/config.json");
    let bad = object(json!({"vision_config": {"hidden_act": "relu"}}));
    let err = clip::Config::from_json(&bad, path).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "some/config.json: field `vision_config.hidden_act`: unknown variant `relu`"
        ),
        "{err}"
    );
    let heads = object(json!({"hidden_size": 48, "num_attention_heads": 5}));
    let err = zoo::dinov2::Config::from_json(&heads, path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("num_attention_heads 5"), "{err}");
}
