//! Sharded checkpoints as transformers and diffusers save them (`save_pretrained(max_shard_size=…)`):
//! `<weights file>.index.json` whose `weight_map` names the shard file holding each tensor.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::json::parse;

/// The index file next to the (absent) single weights file `weights`: `weights` + `.index.json`.
pub fn index_path(weights: &Path) -> PathBuf {
    let mut name = weights.as_os_str().to_owned();
    name.push(".index.json");
    PathBuf::from(name)
}

/// The part of the index file this crate reads.
#[derive(Debug, Deserialize)]
struct IndexFile {
    weight_map: BTreeMap<String, String>,
}

/// A read index: tensor name → shard file, every shard present.
#[derive(Debug)]
pub struct ShardIndex {
    /// The index file.
    pub path: PathBuf,
    /// Tensor name (as in the shards) → shard file name (relative to the index's folder).
    pub weight_map: BTreeMap<String, String>,
}

impl ShardIndex {
    /// Reads `path` and checks that every shard it names exists next to it; the error names the
    /// missing shard and a tensor it should hold.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let value = serde_json::from_str(&text).map_err(|e| Error::config(path, e.to_string()))?;
        let index: IndexFile = parse(value, path, "")?;
        let index = Self {
            path: path.to_path_buf(),
            weight_map: index.weight_map,
        };
        for shard in index.shards() {
            if !index.shard_path(shard).is_file() {
                let (tensor, _) = index
                    .weight_map
                    .iter()
                    .find(|(_, s)| s.as_str() == shard)
                    .expect("a shard of the map");
                return Err(Error::config(
                    path,
                    format!(
                        "shard `{shard}` (holding `{tensor}`, …) named by `weight_map` is missing from {}",
                        index.folder().display()
                    ),
                ));
            }
        }
        Ok(index)
    }

    /// The folder holding the index and its shards.
    fn folder(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The distinct shard file names, sorted.
    pub fn shards(&self) -> BTreeSet<&str> {
        self.weight_map.values().map(String::as_str).collect()
    }

    /// The full path of shard `shard`.
    pub fn shard_path(&self, shard: &str) -> PathBuf {
        self.folder().join(shard)
    }

    /// The tensor names the map assigns to `shard`.
    pub fn tensors_of<'a>(&'a self, shard: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.weight_map
            .iter()
            .filter(move |(_, s)| s.as_str() == shard)
            .map(|(name, _)| name.as_str())
    }
}
