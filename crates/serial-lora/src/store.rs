//! [`ModelStore`]: the frozen base weights, the trainable adapters and the record of every adapter
//! site of one model, with merge/unmerge, parameter counts and adapter save/load.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tch::{nn::VarStore, Device, Kind, Tensor};

use crate::checkpoint;
use crate::error::{Error, Result, TensorProblem};
use crate::site::{SiteContext, SitePath, Update};
use formats::peft;
use formats::AdapterPlan;

/// File name of the adapter weights inside an adapter directory (PEFT's).
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// File name of the adapter configuration inside an adapter directory (PEFT's).
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// Prefix PEFT puts before every module path in adapter files.
pub const PEFT_PREFIX: &str = "base_model.model.";

/// Trainable parameters of one adapter site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteCount {
    /// Module path of the site.
    pub module: String,
    /// Parameters of its pair(s).
    pub params: i64,
}

/// Trainable adapter parameters, per site and in total.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterCount {
    /// One entry per adapted site, in construction order.
    pub sites: Vec<SiteCount>,
    /// Sum over all sites.
    pub total: i64,
}

/// Owns one model's variables: base weights (frozen) and adapters (trainable), in separate stores.
///
/// A model is built inside [`ModelStore::build`]; the store then merges, counts, saves and loads
/// its adapters. Serial LoRA on one attention block of width 32 at rank 4: one shared pair before
/// q, k, v (2·d·r parameters), merged losslessly, saved and reloaded bit for bit:
///
/// ```
/// use serial_lora::{
///     read_adapter_plan, AdaptedLinear, AdapterConfig, AdapterPlan, ModelStore, QkvProjection,
///     SelfAttention, Target,
/// };
/// use tch::{Device, Tensor};
///
/// let plan = AdapterPlan::from(&AdapterConfig::serial_lora(4));
/// let build = |plan| {
///     ModelStore::build(Device::Cpu, Some(plan), |p| {
///         let a = p / "attn";
///         let qkv = QkvProjection::separate(&a, ["q", "k", "v"], 32, true)?;
///         let out = AdaptedLinear::new(&(&a / "o"), Target::O, 32, 32, true)?;
///         Ok(SelfAttention::new(qkv, out, 4))
///     })
/// };
/// let (store, attn) = build(plan)?;
/// assert_eq!(store.parameter_count().total, 2 * 32 * 4);
///
/// // B starts at zero: give it values so the adapter changes the output.
/// tch::no_grad(|| {
///     for (name, mut t) in store.adapters().variables() {
///         if name.ends_with("lora_B.weight") {
///             t.copy_(&Tensor::full(t.size(), 0.01, (tch::Kind::Float, Device::Cpu)));
///         }
///     }
/// });
/// let x = Tensor::linspace(-1.0, 1.0, 2 * 5 * 32, (tch::Kind::Float, Device::Cpu)).view([2, 5, 32]);
/// let adapted = attn.forward_t(&x, None, false, false);
///
/// // W ← W (I + s·B A) for q, k, v: the same output without the adapter.
/// store.merge();
/// let merged = attn.forward_t(&x, None, false, false);
/// assert!((&adapted - &merged).abs().max().double_value(&[]) < 1e-5);
/// store.unmerge();
///
/// // A PEFT-style adapter folder, read back into a model built from its own config.
/// let dir = tempfile::tempdir().unwrap();
/// store.save_adapter(dir.path())?;
/// let (again, _) = build(read_adapter_plan(dir.path())?)?;
/// again.load_adapter(dir.path(), str::to_string)?;
/// let reloaded = again.adapters().variables();
/// for (name, saved) in store.adapters().variables() {
///     assert!(saved.equal(&reloaded[&name]), "{name}");
/// }
/// # Ok::<(), serial_lora::Error>(())
/// ```
#[derive(Debug)]
pub struct ModelStore {
    base: VarStore,
    adapters: VarStore,
    ctx: SiteContext,
}

impl ModelStore {
    /// Builds a model with `build`, attaching adapters as `plan` says (none when `None`), then
    /// freezes every base weight.
    pub fn build<M>(
        device: Device,
        plan: Option<AdapterPlan>,
        build: impl FnOnce(&SitePath) -> Result<M>,
    ) -> Result<(Self, M)> {
        let mut store = Self {
            base: VarStore::new(device),
            adapters: VarStore::new(device),
            ctx: SiteContext {
                plan,
                ..Default::default()
            },
        };
        let model = {
            let adapter_root = PEFT_PREFIX
                .trim_end_matches('.')
                .split('.')
                .fold(store.adapters.root(), |p, c| p / c);
            build(&SitePath::new(store.base.root(), adapter_root, &store.ctx))?
        };
        store.base.freeze();
        Ok((store, model))
    }

    /// The frozen base weights.
    pub fn base(&self) -> &VarStore {
        &self.base
    }

    /// Makes the base weights trainable (full fine-tuning, the reference method).
    pub fn unfreeze_base(&mut self) {
        self.base.unfreeze();
    }

    /// The trainable adapter variables (PEFT names).
    pub fn adapters(&self) -> &VarStore {
        &self.adapters
    }

    /// Sets the training step the next forward passes belong to (it keys the dropout masks, so a
    /// resumed run draws the masks an uninterrupted one would).
    pub fn set_step(&self, step: u64) {
        self.ctx.clock.set(step);
    }

    /// The plan the adapters were attached with.
    pub fn plan(&self) -> Option<&AdapterPlan> {
        self.ctx.plan.as_ref()
    }

    /// Loads the base weights from a safetensors checkpoint; file key `k` feeds variable `to_var(k)`.
    pub fn load_base(&self, path: &Path, to_var: impl Fn(&str) -> String) -> Result<()> {
        checkpoint::load_into(&self.base.variables(), path, to_var, None)
    }

    fn for_each_update(&self, mut f: impl FnMut(&Update)) {
        let records = self.ctx.records.lock().expect("site registry poisoned");
        records
            .iter()
            .filter_map(|r| r.update.as_ref())
            .for_each(&mut f);
    }

    /// True while the adapters are folded into the base weights.
    pub fn is_merged(&self) -> bool {
        self.ctx.merged.is_merged()
    }

    /// Folds every adapter into its weights (LoRA: `W += s·BA`; Serial: `W ← W(I + s·BA)`), after
    /// which the forward costs exactly the base model's. A no-op when already merged.
    pub fn merge(&self) {
        if self.is_merged() {
            return;
        }
        tch::no_grad(|| {
            self.for_each_update(|u| match u {
                Update::Parallel { weight, rows, pair } => {
                    let _ = rows_of(weight, *rows).g_add_(&pair.product());
                }
                Update::Serial { weights, pair } => {
                    for w in weights {
                        // In the pair's fp32 even when the frozen weight is stored in bf16.
                        let w32 = w.to_kind(pair.a.kind());
                        let folded = &w32 + w32.matmul(&pair.b).matmul(&pair.a) * pair.scale;
                        w.shallow_clone().copy_(&folded);
                    }
                }
            })
        });
        self.ctx.merged.set(true);
    }

    /// Undoes [`merge`](Self::merge) up to fp32 rounding (Serial: `W ← W(I + s·BA)⁻¹` by the
    /// Woodbury identity, an r×r solve). A no-op when not merged.
    pub fn unmerge(&self) {
        if !self.is_merged() {
            return;
        }
        tch::no_grad(|| {
            self.for_each_update(|u| match u {
                Update::Parallel { weight, rows, pair } => {
                    let _ = rows_of(weight, *rows).g_sub_(&pair.product());
                }
                Update::Serial { weights, pair } => {
                    let r = pair.a.size()[0];
                    let eye = Tensor::eye(r, (pair.a.kind(), pair.a.device()));
                    let inner = (eye + pair.a.matmul(&pair.b) * pair.scale).inverse();
                    for w in weights {
                        let w32 = w.to_kind(pair.a.kind());
                        let unfolded =
                            &w32 - w32.matmul(&pair.b).matmul(&inner).matmul(&pair.a) * pair.scale;
                        w.shallow_clone().copy_(&unfolded);
                    }
                }
            })
        });
        self.ctx.merged.set(false);
    }

    /// Trainable adapter parameters per site and in total.
    pub fn parameter_count(&self) -> ParameterCount {
        let records = self.ctx.records.lock().expect("site registry poisoned");
        let sites: Vec<SiteCount> = records
            .iter()
            .filter_map(|r| {
                let pair = match r.update.as_ref()? {
                    Update::Parallel { pair, .. } | Update::Serial { pair, .. } => pair,
                };
                Some(SiteCount {
                    module: r.module.clone(),
                    params: pair.numel(),
                })
            })
            .collect();
        let total = sites.iter().map(|s| s.params).sum();
        ParameterCount { sites, total }
    }

    /// `target_modules` that select exactly the adapted sites: short names (`q_proj`, `qkv.q` for a
    /// fused slice, `to_out.0` for a list item, whose bare index would also match blocks and other
    /// lists in PEFT) when they pick no site the plan left out, else full module paths.
    fn target_modules(&self) -> Vec<String> {
        let records = self.ctx.records.lock().expect("site registry poisoned");
        let short = |m: &str| {
            let parts: Vec<&str> = m.split('.').collect();
            let last = parts[parts.len() - 1];
            let qualified = ["q", "k", "v"].contains(&last) || last.parse::<usize>().is_ok();
            parts[parts.len() - if qualified && parts.len() >= 2 { 2 } else { 1 }..].join(".")
        };
        let adapted: BTreeSet<String> = records
            .iter()
            .filter(|r| r.update.is_some())
            .map(|r| short(&r.module))
            .collect();
        let clash = records
            .iter()
            .any(|r| r.update.is_none() && r.role.is_some() && adapted.contains(&short(&r.module)));
        if clash {
            records
                .iter()
                .filter(|r| r.update.is_some())
                .map(|r| r.module.clone())
                .collect()
        } else {
            adapted.into_iter().collect()
        }
    }

    /// Writes `dir/adapter_model.safetensors` and `dir/adapter_config.json` atomically.
    pub fn save_adapter(&self, dir: &Path) -> Result<()> {
        let plan = self
            .plan()
            .ok_or_else(|| Error::config("adapter", "this model has no adapters to save"))?;
        let mut tensors: Vec<(String, Tensor)> = self.adapters.variables().into_iter().collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let tensors: Vec<(String, Tensor)> = tensors
            .into_iter()
            .map(|(n, t)| (n, t.detach().to_kind(Kind::Float).contiguous()))
            .collect();
        checkpoint::save_tensors(&dir.join(ADAPTER_WEIGHTS), &tensors)?;
        let config = peft::adapter_config_json(plan, &self.target_modules());
        let text = serde_json::to_string_pretty(&config).expect("JSON of plain values");
        Ok(checkpoint::write_atomic(
            &dir.join(ADAPTER_CONFIG),
            text.as_bytes(),
        )?)
    }

    /// Loads adapter weights saved by [`save_adapter`](Self::save_adapter) or by PEFT into this
    /// model, which must have been built with [`read_adapter_plan`] of the same directory. File key
    /// `k` feeds variable `to_var(k)` (identity for our own files; a model maps other naming eras).
    pub fn load_adapter(&self, dir: &Path, to_var: impl Fn(&str) -> String) -> Result<()> {
        let context = format!("expected from {}", dir.join(ADAPTER_CONFIG).display());
        let variables = self.adapters.variables();
        let result = checkpoint::load_into(
            &variables,
            &dir.join(ADAPTER_WEIGHTS),
            to_var,
            Some(&context),
        );
        match result {
            // No site of this model matches the adapter's target_modules, and every tensor of the
            // file is left over: the adapter belongs to another architecture.
            Err(Error::Mismatch { path, problems, .. })
                if variables.is_empty()
                    && problems
                        .iter()
                        .all(|p| matches!(p, TensorProblem::Unexpected { .. })) =>
            {
                let first = problems
                    .iter()
                    .find_map(|p| match p {
                        TensorProblem::Unexpected { name } => Some(name.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                Err(Error::config(
                    "adapter",
                    format!(
                        "{}: this adapter was made for another model: its target_modules match \
                         no module of this model, and none of its {} tensors (e.g. `{first}`) \
                         fits an adapter site here",
                        path.display(),
                        problems.len()
                    ),
                ))
            }
            other => other,
        }
    }
}

/// The rows `[start, start+len)` of `weight`, or all of it.
fn rows_of(weight: &Tensor, rows: Option<(i64, i64)>) -> Tensor {
    match rows {
        Some((start, len)) => weight.narrow(0, start, len),
        None => weight.shallow_clone(),
    }
}

/// Reads `dir/adapter_config.json` (ours or PEFT's) into the plan that rebuilds its sites.
pub fn read_adapter_plan(dir: &Path) -> Result<AdapterPlan> {
    let path: PathBuf = dir.join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    peft::parse_adapter_config(&text).map_err(|e| e.in_file(&path).into())
}
