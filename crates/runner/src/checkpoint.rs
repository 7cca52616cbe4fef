//! Resumable training: trainable variables, optimiser state and step, saved together.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use formats::atomic::write_atomic;
use serial_lora::checkpoint::{load_into, non_finite, read_tensors, save_tensors};
use serial_lora::AdamW;

use crate::ema::Ema;
use crate::loss_mean::LossMean;
use serde::{Deserialize, Serialize};
use tch::{nn::VarStore, Tensor};

const VARS: &str = "variables.safetensors";
const OPTIMIZER: &str = "optimizer.safetensors";
const STEP: &str = "step.json";
const EMA: &str = "ema.safetensors";

/// Where a checkpointed run stands: steps done, training seconds spent and the logging interval's
/// losses so far.
/// Kept as `step.json`; the fields a checkpoint from before them lacks default to 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Steps done.
    pub step: usize,
    /// Training seconds spent.
    #[serde(default)]
    pub train_seconds: f64,
    /// The losses of the current logging interval (`metrics.csv`'s `loss_mean`).
    #[serde(flatten)]
    pub interval: LossMean,
}

/// `<run>/checkpoint/`: written into `checkpoint.tmp/` and swapped in by renames, so a kill at any
/// moment leaves either the previous or the new checkpoint whole (`checkpoint.old/` in between).
#[derive(Debug, Clone)]
pub struct Checkpoint {
    dir: PathBuf,
}

fn trainable(stores: &[&VarStore]) -> HashMap<String, Tensor> {
    stores
        .iter()
        .flat_map(|s| s.variables())
        .filter(|(_, t)| t.requires_grad())
        .collect()
}

/// Refuses to checkpoint a diverged run: every trainable variable and optimiser moment must be
/// finite, else the error names the first bad tensors (the previous checkpoint stays).
fn check_finite(step: usize, stores: &[&VarStore], optimizer: &AdamW) -> Result<()> {
    let mut bad: Vec<String> = trainable(stores)
        .into_iter()
        .chain(optimizer.state())
        .filter_map(|(name, t)| non_finite(&t).map(|n| format!("`{name}` ({n})")))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    bad.sort();
    let shown = bad.len().min(4);
    bail!(
        "training diverged by step {step}: NaN or infinite values in {} tensor(s): {}{}; no \
         checkpoint was written (the previous one is kept). Lower the learning rate and rerun \
         into another --results folder (or delete this run's folder)",
        bad.len(),
        bad[..shown].join(", "),
        if bad.len() > shown { ", …" } else { "" }
    )
}

impl Checkpoint {
    /// The checkpoint of the run in `run_dir`.
    pub fn new(run_dir: &Path) -> Self {
        Self {
            dir: run_dir.join("checkpoint"),
        }
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        self.dir.with_file_name(format!("checkpoint.{suffix}"))
    }

    /// Saves the trainable variables of `stores`, the optimiser state, the moving average when
    /// the run keeps one, and `progress`.
    pub fn save(
        &self,
        progress: &Progress,
        stores: &[&VarStore],
        optimizer: &AdamW,
        ema: Option<&Ema>,
    ) -> Result<()> {
        check_finite(progress.step, stores, optimizer)?;
        let tmp = self.sibling("tmp");
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let vars: Vec<(String, Tensor)> = trainable(stores)
            .into_iter()
            .map(|(n, t)| (n, t.detach()))
            .collect();
        save_tensors(&tmp.join(VARS), &vars)?;
        save_tensors(&tmp.join(OPTIMIZER), &optimizer.state())?;
        if let Some(ema) = ema {
            save_tensors(&tmp.join(EMA), &ema.state())?;
        }
        write_atomic(&tmp.join(STEP), &serde_json::to_vec(progress)?)?;
        let old = self.sibling("old");
        let _ = std::fs::remove_dir_all(&old);
        if self.dir.exists() {
            std::fs::rename(&self.dir, &old)
                .with_context(|| format!("moving {} aside", self.dir.display()))?;
        }
        std::fs::rename(&tmp, &self.dir)
            .with_context(|| format!("installing {}", self.dir.display()))?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    /// Restores the latest checkpoint into `stores`, `optimizer` and the moving average,
    /// returning its progress (a checkpoint from before `loss_mean` starts a fresh interval);
    /// `None` when there is none (a fresh run).
    pub fn load(
        &self,
        stores: &[&VarStore],
        optimizer: &mut AdamW,
        ema: Option<&mut Ema>,
    ) -> Result<Option<Progress>> {
        let dir = [self.dir.clone(), self.sibling("old")]
            .into_iter()
            .find(|d| d.join(STEP).exists());
        let Some(dir) = dir else { return Ok(None) };
        let step_path = dir.join(STEP);
        let text = std::fs::read_to_string(&step_path)
            .with_context(|| format!("reading {}", step_path.display()))?;
        let progress: Progress = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a checkpoint's progress", step_path.display()))?;
        load_into(
            &trainable(stores),
            &dir.join(VARS),
            str::to_string,
            Some("resuming training"),
        )?;
        let state: BTreeMap<String, Tensor> = read_tensors(&dir.join(OPTIMIZER))?;
        optimizer
            .load_state(&state)
            .with_context(|| format!("{}", dir.join(OPTIMIZER).display()))?;
        if let Some(ema) = ema {
            let path = dir.join(EMA);
            let state: BTreeMap<String, Tensor> = read_tensors(&path)?;
            ema.load_state(&state)
                .with_context(|| format!("{}", path.display()))?;
        }
        Ok(Some(progress))
    }

    /// Deletes the checkpoint once the run has finished (its results are in the run folder).
    pub fn remove(&self) -> Result<()> {
        for dir in [self.dir.clone(), self.sibling("old"), self.sibling("tmp")] {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
            }
        }
        Ok(())
    }
}
