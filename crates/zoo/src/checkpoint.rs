//! Strict base-weight loading that tolerates buffers older checkpoints saved but models no longer
//! hold (CLIP's `*.embeddings.position_ids`), on top of `serial_lora::checkpoint::load_into`.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};
use serial_lora::{checkpoint, ModelStore};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// The header of a safetensors file: tensor name → `{dtype, shape, data_offsets}`.
fn header(path: &Path) -> Result<Map<String, Value>> {
    let bad = |message: String| {
        Error::Core(serial_lora::Error::Safetensors {
            path: path.to_path_buf(),
            message,
        })
    };
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| bad(e.to_string()))?;
    let len = u64::from_le_bytes(len);
    if len > 100_000_000 {
        return Err(bad(format!("header length {len} is implausible")));
    }
    let mut text = vec![0u8; len as usize];
    file.read_exact(&mut text)
        .map_err(|e| bad(format!("header of {len} bytes: {e}")))?;
    serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))
}

fn kind_of(dtype: &str) -> Kind {
    match dtype {
        "I64" => Kind::Int64,
        "I32" => Kind::Int,
        "F16" => Kind::Half,
        "BF16" => Kind::BFloat16,
        "F64" => Kind::Double,
        _ => Kind::Float,
    }
}

/// Loads `path` into the store's base weights, file key `k` feeding variable `to_var(k)`, exactly like
/// `ModelStore::load_base` (every missing, unexpected or mis-shaped tensor reported at once), except
/// that file keys for which `ignored(k)` holds are read into throw-away tensors.
pub fn load_base(
    store: &ModelStore,
    path: &Path,
    to_var: impl Fn(&str) -> String,
    ignored: impl Fn(&str) -> bool,
) -> Result<()> {
    let mut variables: HashMap<String, Tensor> = store.base().variables();
    for (key, info) in header(path)?
        .iter()
        .filter(|(k, _)| k.as_str() != "__metadata__" && ignored(k))
    {
        let shape: Vec<i64> = info["shape"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .collect();
        let kind = kind_of(info["dtype"].as_str().unwrap_or_default());
        variables.insert(to_var(key), Tensor::zeros(shape, (kind, tch::Device::Cpu)));
    }
    Ok(checkpoint::load_into(&variables, path, to_var, None)?)
}
