//! `config.json` parsing: transformers' (and diffusers') defaults, legacy `*_config_dict` overrides,
//! presets, and errors that name the file and the field.
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

#[test]
fn sd3_medium_config_as_diffusers_ships_it_is_the_preset() {
    // stabilityai/stable-diffusion-3-medium-diffusers, transformer/config.json.
    let config = object(json!({
        "_class_name": "SD3Transformer2DModel", "_diffusers_version": "0.29.0.dev0",
        "attention_head_dim": 64, "caption_projection_dim": 1536, "in_channels": 16,
        "joint_attention_dim": 4096, "num_attention_heads": 24, "num_layers": 24, "out_channels": 16,
        "patch_size": 2, "pooled_projection_dim": 2048, "pos_embed_max_size": 192, "sample_size": 128
    }));
    let parsed = zoo::mmdit::Config::from_json(&config, Path::new("config.json")).unwrap();
    assert_eq!(parsed, zoo::mmdit::Config::sd3_medium());
    assert_eq!(parsed.inner_dim(), 1536);
}
