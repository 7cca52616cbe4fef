//! `adapter_config.json` in PEFT's format, read and written.
//!
//! LoRA adapters use PEFT's own schema (`peft_type: "LORA"`), so `peft.PeftModel.from_pretrained`
//! loads ours and we load PEFT's. Serial LoRA uses the same fields with `peft_type: "SERIAL_LORA"`,
//! `target_modules` naming the attention modules that hold the shared pair.

use serde_json::{json, Map, Value};

use crate::adapter::{AdapterKind, AdapterPlan, ScaleRule, TargetRule};
use crate::error::{Error, Result};

/// A check that a PEFT key holds a value we support.
type Accepts = fn(&Value) -> bool;

/// PEFT keys that are accepted when they hold their default (no effect on the forward) value.
const DEFAULT_ONLY: &[(&str, Accepts)] = &[
    ("fan_in_fan_out", is_false),
    ("use_dora", is_false),
    ("lora_bias", is_false),
    ("use_qalora", is_false),
    ("use_bdlora", is_false),
    ("bias", |v| v.as_str() == Some("none")),
    ("modules_to_save", is_empty),
    ("exclude_modules", is_empty),
    ("rank_pattern", is_empty),
    ("alpha_pattern", is_empty),
    ("layer_replication", is_empty),
    ("target_parameters", is_empty),
    ("trainable_token_indices", is_empty),
    ("alora_invocation_tokens", is_empty),
];

/// Other keys PEFT writes that do not change the adapted forward (initialisation, bookkeeping).
const IGNORED: &[&str] = &[
    "auto_mapping",
    "peft_version",
    "base_model_name_or_path",
    "revision",
    "task_type",
    "inference_mode",
    "init_lora_weights",
    "layers_pattern",
    "megatron_config",
    "megatron_core",
    "loftq_config",
    "eva_config",
    "corda_config",
    "lora_ga_config",
    "velora_config",
    "qalora_group_size",
    "monteclora_config",
    "runtime_config",
    "arrow_config",
    "kasa_config",
    "ensure_weight_tying",
    "direction",
    "scale",
    "stable_gamma",
    "num_samples",
    "use_entropy",
    "dirichlet_prior",
    "sample_scaler",
    "kl_loss_weight",
    "buffer_size",
];

/// Keys this module interprets.
const READ: &[&str] = &[
    "peft_type",
    "r",
    "lora_alpha",
    "lora_dropout",
    "use_rslora",
    "target_modules",
    "layers_to_transform",
];

fn is_false(v: &Value) -> bool {
    v.is_null() || v == &Value::Bool(false)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn field<T: serde::de::DeserializeOwned>(map: &Map<String, Value>, key: &str) -> Result<Option<T>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| Error::config(key, e.to_string())),
    }
}

fn required<T: serde::de::DeserializeOwned>(map: &Map<String, Value>, key: &str) -> Result<T> {
    field(map, key)?.ok_or_else(|| Error::config(key, "is required"))
}

/// Parses `adapter_config.json` text into the plan that rebuilds the same adapter sites.
pub fn parse_adapter_config(text: &str) -> Result<AdapterPlan> {
    let map: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| Error::config("adapter_config", e.to_string()))?;
    for (key, value) in &map {
        if let Some((_, ok)) = DEFAULT_ONLY.iter().find(|(k, _)| k == key) {
            if !ok(value) {
                return Err(Error::config(
                    key,
                    format!("value {value} is not supported (only the PEFT default)"),
                ));
            }
        } else if !IGNORED.contains(&key.as_str()) && !READ.contains(&key.as_str()) {
            return Err(Error::config(key, "unknown key"));
        }
    }
    let method = match required::<String>(&map, "peft_type")?.as_str() {
        "LORA" => AdapterKind::Lora,
        "SERIAL_LORA" => AdapterKind::SerialLora,
        other => {
            return Err(Error::config(
                "peft_type",
                format!("`{other}` is not LORA or SERIAL_LORA"),
            ))
        }
    };
    let rank: i64 = required(&map, "r")?;
    if rank < 1 {
        return Err(Error::config(
            "r",
            format!("must be at least 1, got {rank}"),
        ));
    }
    let alpha: f64 = field(&map, "lora_alpha")?.unwrap_or(8.0);
    let scaling = if field(&map, "use_rslora")?.unwrap_or(false) {
        ScaleRule::AlphaOverSqrtRank
    } else {
        ScaleRule::AlphaOverRank
    };
    let targets = match map.get("target_modules") {
        Some(Value::String(re)) => TargetRule::ModuleRegex(
            regex::Regex::new(re).map_err(|e| Error::config("target_modules", e.to_string()))?,
        ),
        Some(v @ Value::Array(_)) => {
            let names: Vec<String> = serde_json::from_value(v.clone())
                .map_err(|e| Error::config("target_modules", e.to_string()))?;
            if names.is_empty() {
                return Err(Error::config("target_modules", "is empty"));
            }
            TargetRule::ModuleNames(names)
        }
        _ => {
            return Err(Error::config(
                "target_modules",
                "must be a list of module names or a regex string",
            ))
        }
    };
    let blocks = match map.get("layers_to_transform") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(vec![n
            .as_u64()
            .ok_or_else(|| Error::config("layers_to_transform", "not a layer index"))?
            as usize]),
        Some(_) => Some(required::<Vec<usize>>(&map, "layers_to_transform")?),
    };
    Ok(AdapterPlan {
        method,
        rank,
        alpha,
        scaling,
        dropout: field(&map, "lora_dropout")?.unwrap_or(0.0),
        targets,
        blocks,
        seed: 0,
    })
}

/// `adapter_config.json` for `plan`, with `target_modules` as given (see `ModelStore::save_adapter`).
pub fn adapter_config_json(plan: &AdapterPlan, target_modules: &[String]) -> Value {
    let (alpha, use_rslora) = match plan.scaling {
        ScaleRule::AlphaOverRank => (plan.alpha, false),
        ScaleRule::AlphaOverSqrtRank => (plan.alpha, true),
        ScaleRule::Fixed => (plan.alpha * plan.rank as f64, false),
    };
    json!({
        "peft_type": match plan.method { AdapterKind::Lora => "LORA", AdapterKind::SerialLora => "SERIAL_LORA" },
        "r": plan.rank,
        "lora_alpha": alpha,
        "use_rslora": use_rslora,
        "lora_dropout": plan.dropout,
        "target_modules": target_modules,
        "layers_to_transform": plan.blocks,
        "bias": "none",
        "fan_in_fan_out": false,
        "init_lora_weights": true,
        "inference_mode": true,
        "task_type": null,
        "base_model_name_or_path": null,
    })
}
