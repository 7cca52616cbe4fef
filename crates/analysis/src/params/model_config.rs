//! Components from a transformers / diffusers `config.json`.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::json;
use crate::params::count::{pair, Component, Tower};

/// The components of the model whose `config.json` is in `dir` (model name: the folder's name).
/// CLIP (`vision_config` + `text_config`): vision, text, both; SAM (`vision_config`): image_encoder;
/// SD3 transformer (`num_layers`, `attention_head_dim` × `num_attention_heads`): mmdit_image; a plain
/// ViT / DINOv2 (`hidden_size`, `num_hidden_layers`): encoder.
pub fn components_from_config(dir: &Path) -> Result<Vec<Component>> {
    let path = dir.join("config.json");
    let root = json::read(&path)?;
    let model = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| dir.display().to_string());
    components_from_json(&model, &root, &path)
}

/// SD3-medium's transformer `config.json` as diffusers ships it
/// (`stabilityai/stable-diffusion-3-medium-diffusers`, `transformer/config.json`).
pub const SD3_MEDIUM_CONFIG: &str = include_str!("sd3_medium_transformer_config.json");

/// The components of model `model` from its parsed `config.json` `root` (read from `path`); see
/// [`components_from_config`].
pub fn components_from_json(model: &str, root: &Value, path: &Path) -> Result<Vec<Component>> {
    let model = model.to_string();
    let tower = |prefix: &str| -> Result<Tower> {
        Ok(Tower {
            blocks: json::positive(root, path, &format!("{prefix}num_hidden_layers"))? as u64,
            width: json::positive(root, path, &format!("{prefix}hidden_size"))? as u64,
        })
    };
    let has = |field: &str| json::get(root, field).is_some();
    if has("vision_config") && has("text_config") {
        return Ok(pair(
            &model,
            ("vision", tower("vision_config.")?),
            ("text", tower("text_config.")?),
        ));
    }
    let single = |component: &str, t: Tower| {
        vec![Component {
            model: model.clone(),
            component: component.into(),
            towers: vec![t],
        }]
    };
    if has("vision_config") {
        return Ok(single("image_encoder", tower("vision_config.")?));
    }
    if has("num_layers") {
        let blocks = json::positive(root, path, "num_layers")? as u64;
        let width = json::positive(root, path, "attention_head_dim")?
            * json::positive(root, path, "num_attention_heads")?;
        return Ok(single(
            "mmdit_image",
            Tower {
                blocks,
                width: width as u64,
            },
        ));
    }
    if has("hidden_size") {
        return Ok(single("encoder", tower("")?));
    }
    Err(Error::field(
        path,
        "vision_config",
        format!("is missing, and so are `num_layers` and `hidden_size`: not a CLIP, SAM, SD3 or ViT config ({})", kind(root)),
    ))
}

fn kind(root: &Value) -> String {
    let name = json::get(root, "model_type").or_else(|| json::get(root, "_class_name"));
    name.map_or("no model_type".into(), |v| format!("model_type {v}"))
}
