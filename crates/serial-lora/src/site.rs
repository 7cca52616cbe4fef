//! [`SitePath`]: the pair of var-store paths (frozen base, trainable adapters) a model passes down
//! while it is built, and the record of every adapter site it creates.

use std::ops::Div;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tch::{nn, Tensor};

use formats::{AdapterPlan, Target};

use crate::lowrank::LowRank;
use crate::rng::{SiteRng, StepClock};

/// Whether the adapters of one model are folded into its weights; shared by all its sites.
#[derive(Debug, Clone, Default)]
pub struct MergeFlag(Arc<AtomicBool>);

impl MergeFlag {
    /// True once the adapters are merged: sites then skip their adapter path.
    pub fn is_merged(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    pub(crate) fn set(&self, merged: bool) {
        self.0.store(merged, Ordering::Release)
    }
}

/// How one adapter changes the frozen weights when merged.
#[derive(Debug)]
pub(crate) enum Update {
    /// LoRA: `W[rows] += s·B A`; `rows` is a slice of a fused qkv weight, or all rows.
    Parallel {
        weight: Tensor,
        rows: Option<(i64, i64)>,
        pair: LowRank,
    },
    /// Serial LoRA: `W ← W (I + s·B A)` for each of the q/k/v (or fused qkv) weights.
    Serial { weights: Vec<Tensor>, pair: LowRank },
}

/// One adaptable place of a model: a projection (LoRA) or an attention input (Serial LoRA).
#[derive(Debug)]
pub(crate) struct SiteRecord {
    /// Module path, as in the checkpoint (e.g. `vision_model.encoder.layers.0.self_attn.q_proj`).
    pub module: String,
    /// Role of the projection; `None` for a Serial site.
    pub role: Option<Target>,
    /// The adapter attached there, if the plan asked for one.
    pub update: Option<Update>,
}

/// State shared by every site of one model.
#[derive(Debug, Default)]
pub(crate) struct SiteContext {
    pub plan: Option<AdapterPlan>,
    pub records: Mutex<Vec<SiteRecord>>,
    pub merged: MergeFlag,
    pub clock: StepClock,
}

/// Where a module's frozen weights and its adapters live, mirroring the checkpoint's names.
///
/// `p / "layers" / 3` descends in both stores. Base variables are named as in the checkpoint;
/// adapter variables are named as PEFT names them, `base_model.model.<module>.lora_A.weight`.
#[derive(Debug, Clone)]
pub struct SitePath<'a> {
    base: nn::Path<'a>,
    adapters: nn::Path<'a>,
    ctx: &'a SiteContext,
    layer: Option<usize>,
}

impl<'a> SitePath<'a> {
    pub(crate) fn new(base: nn::Path<'a>, adapters: nn::Path<'a>, ctx: &'a SiteContext) -> Self {
        Self {
            base,
            adapters,
            ctx,
            layer: None,
        }
    }

    /// The path of frozen base weights (for LayerNorms, embeddings and other non-adapted modules).
    pub fn base(&self) -> &nn::Path<'a> {
        &self.base
    }

    /// Descends to sub-module `name` and marks it as transformer layer `layer` (for `blocks`).
    pub fn layer(&self, name: impl ToString, layer: usize) -> Self {
        Self {
            layer: Some(layer),
            ..self / name
        }
    }

    /// The module path, dot-separated, as in the checkpoint.
    pub fn module_path(&self) -> String {
        self.base.components().collect::<Vec<_>>().join(".")
    }

    pub(crate) fn adapters(&self) -> &nn::Path<'a> {
        &self.adapters
    }

    pub(crate) fn plan(&self) -> Option<&AdapterPlan> {
        self.ctx.plan.as_ref()
    }

    pub(crate) fn layer_index(&self) -> Option<usize> {
        self.layer
    }

    /// The random source of the pair `role` (e.g. `lora`, `serial_lora`) at this module.
    pub(crate) fn rng(&self, role: &str) -> SiteRng {
        let seed = self.plan().map_or(0, |p| p.seed);
        SiteRng::new(
            seed,
            &format!("{}:{role}", self.module_path()),
            self.ctx.clock.clone(),
        )
    }

    pub(crate) fn merge_flag(&self) -> MergeFlag {
        self.ctx.merged.clone()
    }

    pub(crate) fn record(&self, role: Option<Target>, update: Option<Update>) {
        let record = SiteRecord {
            module: self.module_path(),
            role,
            update,
        };
        self.ctx
            .records
            .lock()
            .expect("site registry poisoned")
            .push(record);
    }
}

impl<'a, T: ToString> Div<T> for &SitePath<'a> {
    type Output = SitePath<'a>;

    fn div(self, name: T) -> SitePath<'a> {
        let name = name.to_string();
        SitePath {
            base: &self.base / name.as_str(),
            adapters: &self.adapters / name.as_str(),
            ..self.clone()
        }
    }
}

impl<'a, T: ToString> Div<T> for SitePath<'a> {
    type Output = SitePath<'a>;

    fn div(self, name: T) -> SitePath<'a> {
        &self / name
    }
}
