//! Merged exports: a model folder with an adapter folded into its weights, written in the base's
//! own layout (transformers' `config.json` + `model.safetensors`, diffusers'
//! `diffusion_pytorch_model.safetensors`), so any tool that reads the base reads the result.
//! LoRA merges as `W + s·B A`, Serial LoRA as `W (I + s·B A)`; every other tensor and every other
//! file of the base is copied byte for byte, and the weights keep the base's dtype.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serial_lora::checkpoint::rewrite_tensors;
use tch::{Device, Kind, Tensor};

use crate::error::{Error, Result};
use crate::model::load;

/// What [`export_merged`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// The new model folder.
    pub out: PathBuf,
    /// The weight tensors the adapter changed (checkpoint names), sorted.
    pub merged: Vec<String>,
    /// Tensors copied unchanged.
    pub copied: usize,
}

/// Writes `out` as the model of `model_dir` with the adapter in `adapter` (ours or PEFT's, or a
/// run folder holding one) merged into its weights. `out` must not exist yet: the folder is
/// assembled beside it and renamed into place, so it appears whole or not at all.
pub fn export_merged(model_dir: &Path, adapter: &Path, out: &Path) -> Result<Export> {
    if out.exists() {
        return Err(Error::config(
            out,
            "already exists: choose a new folder for the merged model (nothing is overwritten)",
        ));
    }
    let loaded = load(model_dir, Some(adapter), Device::Cpu)?;
    let weights_name = loaded.architecture.weights_file();
    let weights = model_dir.join(weights_name);
    if !weights.is_file() {
        return Err(Error::config(
            &weights,
            "missing: merged exports are written from a single-file checkpoint (a sharded base \
             is not supported yet)",
        ));
    }
    let before: BTreeMap<String, Tensor> = loaded
        .store
        .base()
        .variables()
        .into_iter()
        .map(|(name, t)| (name, t.copy()))
        .collect();
    loaded.store.merge();
    let header = crate::checkpoint::header(&weights)?;
    let mut replace = BTreeMap::new();
    let mut copied = 0;
    for key in header.keys().filter(|k| k.as_str() != "__metadata__") {
        let var = loaded.architecture.var_name(key);
        let changed = loaded
            .store
            .base()
            .variables()
            .get(&var)
            .zip(before.get(&var))
            .filter(|(after, before)| !after.equal(before))
            .map(|(after, _)| after.to_kind(Kind::Float));
        match changed {
            Some(value) => {
                replace.insert(key.clone(), value);
            }
            None => copied += 1,
        }
    }
    let staging = staging_dir(out)?;
    let written = (|| {
        copy_other_files(model_dir, &staging, weights_name)?;
        rewrite_tensors(&weights, &staging.join(weights_name), &replace)?;
        std::fs::rename(&staging, out).map_err(|e| Error::io(out, e))
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    written?;
    Ok(Export {
        out: out.to_path_buf(),
        merged: replace.into_keys().collect(),
        copied,
    })
}

/// A new, empty hidden sibling of `out` to assemble the folder in.
fn staging_dir(out: &Path) -> Result<PathBuf> {
    let name = out
        .file_name()
        .ok_or_else(|| Error::config(out, "is not a folder name"))?
        .to_string_lossy();
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty());
    let staging = parent
        .unwrap_or(Path::new("."))
        .join(format!(".{name}.tmp-{}", std::process::id()));
    if let Some(parent) = parent {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging).map_err(|e| Error::io(&staging, e))?;
    Ok(staging)
}

/// Copies every file of `from` (not its sub-folders) into `to`, except the weights file.
fn copy_other_files(from: &Path, to: &Path, weights_name: &str) -> Result<()> {
    for entry in std::fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let path = entry.map_err(|e| Error::io(from, e))?.path();
        let Some(name) = path.file_name() else {
            continue;
        };
        if path.is_file() && name != weights_name {
            std::fs::copy(&path, to.join(name)).map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}
