//! A finished run's model, as `figure` and `predict` use it: the base model with the run's adapter
//! and, when it trained it, its mask decoder; multi-class runs rebuild the decoder's class head
//! first ([`zoo::build_semantic`]) so the saved decoder fits.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use formats::paths::{repo_root, resolve};
use serial_lora::checkpoint::load_into;
use serial_lora::read_adapter_plan;
use tch::{Device, Tensor};

use crate::config::RunSpec;
use crate::task::{DECODER, DECODER_FILE};

/// The run's configuration (`config.json`); the error names the file.
pub fn read_spec(run: &Path) -> Result<RunSpec> {
    let path = run.join("config.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a segmentation run config", path.display()))
}

/// The run's model with its adapter (if any) and, when it trained it, its mask decoder.
pub fn load_run(run_dir: &Path, spec: &RunSpec, device: Device) -> Result<zoo::Loaded> {
    let model_dir = resolve(&spec.model_dir, &repo_root());
    let context = || format!("loading {} with {}", model_dir.display(), run_dir.display());
    let loaded = if spec.multiclass() {
        let plan = match spec.adapter {
            Some(_) => Some(read_adapter_plan(run_dir).with_context(context)?),
            None => None,
        };
        let classes = data::CAMVID_CLASSES.len() as i64;
        let loaded = zoo::build_semantic(
            &model_dir,
            plan,
            device,
            classes,
            spec.image_size,
            spec.seed,
        )
        .with_context(context)?;
        if spec.adapter.is_some() {
            let arch = &loaded.architecture;
            loaded
                .store
                .load_adapter(run_dir, |k| arch.var_name(k))
                .with_context(context)?;
        }
        loaded
    } else {
        zoo::load(&model_dir, Some(run_dir), device).with_context(context)?
    };
    if spec.train_decoder {
        let file = run_dir.join(DECODER_FILE);
        if !file.is_file() {
            bail!(
                "{}: missing; the run trained its mask decoder, so it cannot segment without it \
                 (rerun the run to keep it)",
                file.display()
            );
        }
        let decoder: HashMap<String, Tensor> = loaded
            .store
            .base()
            .variables()
            .into_iter()
            .filter(|(name, _)| name.starts_with(DECODER))
            .collect();
        load_into(
            &decoder,
            &file,
            str::to_string,
            Some("restoring the run's mask decoder"),
        )?;
    }
    Ok(loaded)
}
