//! diffusers' LoRA file for SD3 (`pytorch_lora_weights.safetensors`, as `StableDiffusion3Pipeline.
//! save_lora_weights` and the DreamBooth LoRA script write it, no `adapter_config.json`): keys
//! `transformer.<module>.lora_A.weight` `[r, in]` / `….lora_B.weight` `[out, r]`. The adapter's
//! settings come from the file's `lora_adapter_metadata` (PEFT's `LoraConfig`, keys prefixed
//! `transformer.`) when present, else as diffusers infers them: every module of the file targeted,
//! the rank from the tensors and `lora_alpha = r` (the DreamBooth script's setting).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use serial_lora::store::PEFT_PREFIX;
use serial_lora::{checkpoint, peft, AdapterPlan, ModelStore};

use crate::checkpoint::header;
use crate::error::{Error, Result};

/// The file name diffusers saves LoRA weights under.
pub const LORA_WEIGHTS_FILE: &str = "pytorch_lora_weights.safetensors";
/// The component prefix of the transformer's keys.
pub const PREFIX: &str = "transformer.";
/// The `__metadata__` entry holding the adapter's `LoraConfig` as JSON.
const METADATA_KEY: &str = "lora_adapter_metadata";

/// The diffusers LoRA file `adapter` stands for: the file itself, or `LORA_WEIGHTS_FILE` in a folder
/// without PEFT's `adapter_config.json`.
pub fn lora_file(adapter: &Path) -> Option<PathBuf> {
    if adapter.is_file() {
        return Some(adapter.to_path_buf());
    }
    let file = adapter.join(LORA_WEIGHTS_FILE);
    (file.is_file() && !adapter.join(serial_lora::ADAPTER_CONFIG).exists()).then_some(file)
}

/// `transformer.<module>.lora_{A,B}.weight` → `(<module>, A or B)`.
fn split_key(key: &str) -> Option<(&str, char)> {
    let rest = key.strip_prefix(PREFIX)?;
    let (module, side) = rest
        .strip_suffix(".lora_A.weight")
        .map(|m| (m, 'A'))
        .or_else(|| rest.strip_suffix(".lora_B.weight").map(|m| (m, 'B')))?;
    Some((module, side))
}

/// The rank of each module, from the `lora_A` shapes; every key must be a transformer LoRA tensor.
fn ranks(path: &Path, tensors: &Map<String, Value>) -> Result<BTreeMap<String, i64>> {
    let mut ranks = BTreeMap::new();
    for (key, info) in tensors.iter().filter(|(k, _)| k.as_str() != "__metadata__") {
        let (module, side) = split_key(key).ok_or_else(|| {
            Error::config(
                path,
                format!("tensor `{key}`: not `{PREFIX}<module>.lora_A/lora_B.weight` (only the transformer's LoRA is supported)"),
            )
        })?;
        if side == 'A' {
            let rank = info["shape"][0].as_i64().unwrap_or_default();
            ranks.insert(module.to_string(), rank);
        }
    }
    Ok(ranks)
}

/// The adapter's `LoraConfig` from the file's metadata (`transformer.`-prefixed keys), if any.
fn metadata_config(
    path: &Path,
    tensors: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>> {
    let Some(text) = tensors
        .get("__metadata__")
        .and_then(|m| m.get(METADATA_KEY))
        .and_then(Value::as_str)
    else {
        return Ok(None);
    };
    let packed: Map<String, Value> = serde_json::from_str(text)
        .map_err(|e| Error::config(path, format!("`{METADATA_KEY}`: {e}")))?;
    let config: Map<String, Value> = packed
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?.to_string(), v.clone())))
        .collect();
    Ok((!config.is_empty()).then_some(config))
}

/// The adapter plan of a diffusers LoRA file (see the module's documentation).
pub fn read_plan(path: &Path) -> Result<AdapterPlan> {
    let tensors = header(path)?;
    let ranks = ranks(path, &tensors)?;
    let distinct: BTreeSet<i64> = ranks.values().copied().collect();
    let rank = match distinct.iter().collect::<Vec<_>>()[..] {
        [&rank] => rank,
        [] => return Err(Error::config(path, "holds no lora_A tensor")),
        _ => {
            return Err(Error::config(
                path,
                format!(
                    "modules have different ranks {distinct:?} (one rank per adapter is supported)"
                ),
            ))
        }
    };
    let config = match metadata_config(path, &tensors)? {
        Some(config) => config,
        None => json!({
            "peft_type": "LORA",
            "r": rank,
            "lora_alpha": rank,
            "target_modules": ranks.keys().collect::<Vec<_>>(),
        })
        .as_object()
        .cloned()
        .expect("an object"),
    };
    let plan = peft::parse_adapter_config(&Value::Object(config).to_string())
        .map_err(|e| Error::config(path, format!("`{METADATA_KEY}`: {e}")))?;
    if plan.rank != rank {
        return Err(Error::config(
            path,
            format!(
                "`{METADATA_KEY}` says r = {}, the tensors have rank {rank}",
                plan.rank
            ),
        ));
    }
    Ok(plan)
}

/// Loads the file's tensors into the store's adapters (built with [`read_plan`]'s plan); a tensor of a
/// module that is not an adapter site of the model is reported by name.
pub fn load_weights(store: &ModelStore, path: &Path) -> Result<()> {
    let to_var = |key: &str| format!("{PEFT_PREFIX}{}", key.strip_prefix(PREFIX).unwrap_or(key));
    let context = "adapter sites of this SD3 transformer: attn.to_q/to_k/to_v/to_out.0 and \
         attn.add_q_proj/add_k_proj/add_v_proj of every block, attn.to_add_out of all but the last";
    Ok(checkpoint::load_into(
        &store.adapters().variables(),
        path,
        to_var,
        Some(context),
    )?)
}
