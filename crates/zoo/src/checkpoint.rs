//! Strict base-weight loading, single-file or sharded (`<weights>.index.json`), that tolerates
//! buffers older checkpoints saved but models no longer hold (CLIP's `*.embeddings.position_ids`), on
//! top of `serial_lora::checkpoint::load_into`.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

use serde_json::{Map, Value};
use serial_lora::{checkpoint, ModelStore, TensorProblem};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::shards::{index_path, ShardIndex};

/// The header of a safetensors file: tensor name → `{dtype, shape, data_offsets}`.
pub(crate) fn header(path: &Path) -> Result<Map<String, Value>> {
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
/// that file keys for which `ignored(k)` holds are read into throw-away tensors. When `path` is absent
/// and `path.index.json` exists, the shards it names are loaded instead (`load_sharded`).
pub fn load_base(
    store: &ModelStore,
    path: &Path,
    to_var: impl Fn(&str) -> String,
    ignored: impl Fn(&str) -> bool,
) -> Result<()> {
    load_base_except(store, path, to_var, ignored, |_| false)
}

/// [`load_base`], except the variables (and file keys) for which `fresh(name)` holds: those are
/// neither read nor required, and keep what the caller gives them.
pub fn load_base_except(
    store: &ModelStore,
    path: &Path,
    to_var: impl Fn(&str) -> String,
    ignored: impl Fn(&str) -> bool,
    fresh: impl Fn(&str) -> bool,
) -> Result<()> {
    let mut variables = store.base().variables();
    variables.retain(|name, _| !fresh(name));
    let ignored = |k: &str| ignored(k) || fresh(k);
    let index = index_path(path);
    if !path.exists() && index.exists() {
        return load_sharded(variables, &ShardIndex::read(&index)?, to_var, ignored);
    }
    load_file(variables, path, &to_var, &ignored)
}

/// Fills `variables` from one file, adding throw-away tensors for its `ignored` keys.
fn load_file(
    mut variables: HashMap<String, Tensor>,
    path: &Path,
    to_var: &impl Fn(&str) -> String,
    ignored: &impl Fn(&str) -> bool,
) -> Result<()> {
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

/// Loads every shard of `index` into the variables its `weight_map` assigns to it. A variable of the
/// model the map does not name is reported (with the index file) before any shard is read; within a
/// shard, a mapped tensor it lacks or a tensor it holds that the map puts elsewhere is reported with
/// the shard file.
fn load_sharded(
    mut variables: HashMap<String, Tensor>,
    index: &ShardIndex,
    to_var: impl Fn(&str) -> String,
    ignored: impl Fn(&str) -> bool,
) -> Result<()> {
    let mapped: HashSet<String> = index.weight_map.keys().map(|k| to_var(k)).collect();
    let mut unmapped: Vec<TensorProblem> = variables
        .iter()
        .filter(|(name, _)| !mapped.contains(*name))
        .map(|(name, var)| TensorProblem::Missing {
            name: name.clone(),
            expected_shape: var.size(),
        })
        .collect();
    if !unmapped.is_empty() {
        unmapped.sort_by_key(|p| p.to_string());
        return Err(Error::Core(serial_lora::Error::Mismatch {
            path: index.path.clone(),
            context: Some("its weight_map names no shard for these".into()),
            problems: unmapped,
        }));
    }
    for shard in index.shards() {
        let own: HashMap<String, Tensor> = index
            .tensors_of(shard)
            .filter_map(|key| variables.remove_entry(&to_var(key)))
            .collect();
        load_file(own, &index.shard_path(shard), &to_var, &ignored)?;
    }
    Ok(())
}
