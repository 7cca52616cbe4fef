//! The run's MMDiT: built from a seeded random initialisation (`pretrain`) or a checkpoint with
//! the run's adapter, every weight but the fixed position table unfrozen for `pretrain` and `full`;
//! a pre-trained model saved in diffusers' layout.

use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use formats::atomic::write_atomic;
use formats::Method;
use serial_lora::checkpoint::save_tensors;
use serial_lora::{AdapterPlan, ModelStore};
use tch::{Device, Tensor};
use zoo::mmdit::{self, SD3Transformer2DModel};
use zoo::{Architecture, Model};

use crate::config::RunSpec;

/// The fixed position table: a buffer in diffusers, never trained.
const POS_TABLE: &str = "pos_embed.pos_embed";
/// libtorch's initialisers draw from its process-global generator: a `pretrain` model is seeded
/// and built under this lock, so runs started together in one process get their seed's weights.
/// Nothing else in the task draws from that generator ([`serial_lora::rng::Draws`]).
static SEEDED_INIT: Mutex<()> = Mutex::new(());
/// Folder of a `pretrain` run's model, in diffusers' layout.
pub const MODEL_FOLDER: &str = "model";
/// Builds the run's model: random (seeded) for `pretrain`, else the checkpoint in `dir`; every
/// weight but the position table trains for `pretrain` and `full`.
pub fn build_model(spec: &RunSpec, dir: &Path, device: Device) -> Result<(ModelStore, Model)> {
    let architecture = Architecture::from_dir(dir)?;
    let Architecture::Sd3Transformer(_) = &architecture else {
        bail!(
            "{}: the generation task needs an {} (diffusers' `_class_name`)",
            dir.display(),
            mmdit::CLASS_NAME
        );
    };
    let (mut store, model) = match spec.method {
        Method::Pretrain => {
            let _init = SEEDED_INIT.lock().unwrap_or_else(|e| e.into_inner());
            tch::manual_seed(spec.seed as i64);
            ModelStore::build(device, None, |root| {
                architecture
                    .build(root)
                    .map_err(|e| serial_lora::Error::config("model", e.to_string()))
            })?
        }
        _ => {
            let plan = spec
                .adapter
                .as_ref()
                .map(|a| AdapterPlan::from(a).with_seed(spec.seed));
            let loaded = zoo::build(dir, plan, device)
                .with_context(|| format!("building {}", dir.display()))?;
            (loaded.store, loaded.model)
        }
    };
    if matches!(spec.method, Method::Pretrain | Method::Full) {
        store.unfreeze_base();
        for (name, var) in store.base().variables() {
            if name == POS_TABLE {
                let _ = var.set_requires_grad(false);
            }
        }
    }
    Ok((store, model))
}

/// Saves a `pretrain` run's model (`store`'s base weights and `model`'s configuration) in
/// diffusers' layout under `dir/model/`.
pub fn save_model(store: &ModelStore, model: &Model, dir: &Path) -> Result<()> {
    let out = dir.join(MODEL_FOLDER);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut vars: Vec<(String, Tensor)> = store
        .base()
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.detach().to_device(Device::Cpu).contiguous()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    save_tensors(&out.join(mmdit::WEIGHTS_FILE), &vars)?;
    let config = transformer(model).config.to_json();
    write_atomic(
        &out.join(zoo::model::CONFIG_FILE),
        serde_json::to_string_pretty(&config)?.as_bytes(),
    )?;
    Ok(())
}

/// The model of a run (checked to be an MMDiT when it was built).
pub fn transformer(model: &Model) -> &SD3Transformer2DModel {
    match model {
        Model::Sd3Transformer(m) => m,
        _ => unreachable!("build_model accepts only an SD3Transformer2DModel"),
    }
}
