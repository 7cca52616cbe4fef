//! What to adapt and how: [`AdapterConfig`] (the user-facing, validated configuration) and
//! [`AdapterPlan`] (the resolved rule every adapter site consults when a model is built).

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which adapter family to attach (the method of a run is [`crate::Method`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdapterKind {
    /// One pair `B A` beside each targeted projection: `y = W x + s·B A x`.
    Lora,
    /// One shared pair per attention block, in series before q/k/v: `x' = x + s·B A x`.
    SerialLora,
}

/// How the scale `s` of the low-rank update follows from `alpha` and the rank `r`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ScaleRule {
    /// `s = alpha / r` (PEFT, diffusers).
    #[default]
    #[serde(rename = "alpha/r")]
    AlphaOverRank,
    /// `s = alpha / sqrt(r)` (rsLoRA; CLIP-LoRA).
    #[serde(rename = "alpha/sqrt(r)")]
    AlphaOverSqrtRank,
    /// `s = alpha`, whatever the rank.
    #[serde(rename = "fixed")]
    Fixed,
}

impl ScaleRule {
    /// The scale `s` for this rule.
    pub fn scale(self, alpha: f64, rank: i64) -> f64 {
        match self {
            Self::AlphaOverRank => alpha / rank as f64,
            Self::AlphaOverSqrtRank => alpha / (rank as f64).sqrt(),
            Self::Fixed => alpha,
        }
    }
}

/// The role of a projection inside a transformer block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Query projection.
    Q,
    /// Key projection.
    K,
    /// Value projection.
    V,
    /// Attention output projection.
    O,
    /// Either linear of the block's MLP.
    Mlp,
    /// The context (text) stream of an MMDiT joint block: LoRA on `attn.add_q_proj`, `add_k_proj`,
    /// `add_v_proj` and `to_add_out`; Serial LoRA's second pair, before `add_q/k/v_proj`.
    Context,
}

fn default_targets() -> Vec<Target> {
    vec![Target::Q, Target::K, Target::V, Target::O]
}

fn default_lr_ratio() -> f64 {
    1.0
}

/// The user-facing adapter configuration, as written in `experiments/*.toml` (`[adapter]`).
///
/// Unknown keys are rejected. LoRA+ and Serial LoRA+ are LoRA and Serial LoRA with `lr_ratio > 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterConfig {
    /// `lora` or `serial_lora`.
    pub method: AdapterKind,
    /// Rank `r` of every low-rank pair.
    pub rank: i64,
    /// `alpha` of the scale rule.
    pub alpha: f64,
    /// How the scale follows from `alpha` and `rank`.
    #[serde(default)]
    pub scaling: ScaleRule,
    /// Dropout probability on the adapter input.
    #[serde(default)]
    pub dropout: f64,
    /// Projections that get a LoRA pair. Serial LoRA always sits before the (image) q/k/v and reads
    /// only `context` here: a second pair before an MMDiT's context q/k/v.
    #[serde(default = "default_targets")]
    pub targets: Vec<Target>,
    /// LoRA+ ratio λ: `B` trains at `lr·λ`. 1 is plain LoRA / Serial LoRA.
    #[serde(default = "default_lr_ratio")]
    pub lr_ratio: f64,
    /// Blocks (layer indices) to adapt; all when absent.
    #[serde(default)]
    pub blocks: Option<Vec<usize>>,
}

impl AdapterConfig {
    /// LoRA on q, k, v, o with `alpha = rank` (scale 1).
    pub fn lora(rank: i64) -> Self {
        Self {
            method: AdapterKind::Lora,
            rank,
            alpha: rank as f64,
            scaling: ScaleRule::AlphaOverRank,
            dropout: 0.0,
            targets: default_targets(),
            lr_ratio: 1.0,
            blocks: None,
        }
    }

    /// Serial LoRA with `alpha = rank` (scale 1).
    pub fn serial_lora(rank: i64) -> Self {
        Self {
            method: AdapterKind::SerialLora,
            ..Self::lora(rank)
        }
    }

    /// The same configuration trained with LoRA+ ratio `lr_ratio`.
    pub fn with_lr_ratio(self, lr_ratio: f64) -> Self {
        Self { lr_ratio, ..self }
    }

    /// Parses and validates a JSON configuration.
    pub fn from_json(text: &str) -> Result<Self> {
        let config: Self =
            serde_json::from_str(text).map_err(|e| Error::config("adapter", e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The scale `s` of every low-rank update.
    pub fn scale(&self) -> f64 {
        self.scaling.scale(self.alpha, self.rank)
    }

    /// Checks every field; the error names the first field at fault.
    pub fn validate(&self) -> Result<()> {
        if self.rank < 1 {
            return Err(Error::config(
                "rank",
                format!("must be at least 1, got {}", self.rank),
            ));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(Error::config(
                "alpha",
                format!("must be a positive number, got {}", self.alpha),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::config(
                "dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            ));
        }
        if !(self.lr_ratio.is_finite() && self.lr_ratio > 0.0) {
            return Err(Error::config(
                "lr_ratio",
                format!("must be a positive number, got {}", self.lr_ratio),
            ));
        }
        if self.method == AdapterKind::Lora && self.targets.is_empty() {
            return Err(Error::config(
                "targets",
                "LoRA needs at least one of q, k, v, o, mlp, context",
            ));
        }
        if self.blocks.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::config(
                "blocks",
                "an empty list adapts nothing; omit it to adapt every block",
            ));
        }
        Ok(())
    }
}

/// Which modules a plan attaches LoRA pairs (or Serial adapters) to.
#[derive(Debug, Clone)]
pub enum TargetRule {
    /// By role (our configuration files).
    Roles(Vec<Target>),
    /// By module name, PEFT's list rule: a module whose path equals a name or ends in `.name`.
    ModuleNames(Vec<String>),
    /// By module path, PEFT's string rule: the regex must match the whole path.
    ModuleRegex(Regex),
}

impl TargetRule {
    fn matches_path(&self, module_path: &str) -> bool {
        match self {
            Self::Roles(_) => false,
            Self::ModuleNames(names) => names
                .iter()
                .any(|n| module_path == n || module_path.ends_with(&format!(".{n}"))),
            Self::ModuleRegex(re) => re
                .find(module_path)
                .is_some_and(|m| m.start() == 0 && m.end() == module_path.len()),
        }
    }
}

/// The resolved rule every adapter site consults while a model is built.
///
/// ```
/// use formats::{AdapterConfig, AdapterKind, AdapterPlan, Target};
///
/// let plan = AdapterPlan::from(&AdapterConfig::serial_lora(16));
/// assert_eq!((plan.method, plan.rank), (AdapterKind::SerialLora, 16));
/// // LoRA's default targets are the attention projections q, k, v, o; its scale alpha/r.
/// let lora = AdapterConfig::lora(8);
/// assert_eq!(lora.targets, [Target::Q, Target::K, Target::V, Target::O]);
/// assert_eq!(AdapterPlan::from(&lora).scale(), lora.alpha / 8.0);
/// ```
#[derive(Debug, Clone)]
pub struct AdapterPlan {
    /// Adapter family.
    pub method: AdapterKind,
    /// Rank of every pair.
    pub rank: i64,
    /// `alpha` of the scale rule.
    pub alpha: f64,
    /// The scale rule.
    pub scaling: ScaleRule,
    /// Dropout on the adapter input.
    pub dropout: f64,
    /// Which modules get adapters.
    pub targets: TargetRule,
    /// Which layer indices get adapters (all when `None`).
    pub blocks: Option<Vec<usize>>,
    /// Seed of every `A`'s initialisation and of the dropout masks (each site draws from its own
    /// generator, derived from this seed and its module path, so nothing depends on build order
    /// or on libtorch's global generator).
    pub seed: u64,
}

impl From<&AdapterConfig> for AdapterPlan {
    fn from(c: &AdapterConfig) -> Self {
        Self {
            method: c.method,
            rank: c.rank,
            alpha: c.alpha,
            scaling: c.scaling,
            dropout: c.dropout,
            targets: TargetRule::Roles(c.targets.clone()),
            blocks: c.blocks.clone(),
            seed: 0,
        }
    }
}

impl AdapterPlan {
    /// The same plan with initialisation and dropout seed `seed`.
    pub fn with_seed(self, seed: u64) -> Self {
        Self { seed, ..self }
    }

    /// The scale `s` of every low-rank update.
    pub fn scale(&self) -> f64 {
        self.scaling.scale(self.alpha, self.rank)
    }

    fn in_blocks(&self, layer: Option<usize>) -> bool {
        match (&self.blocks, layer) {
            (None, _) => true,
            (Some(blocks), Some(layer)) => blocks.contains(&layer),
            (Some(_), None) => false,
        }
    }

    /// Whether the projection at `module_path` with role `role` gets a LoRA pair.
    pub fn wants_lora(&self, module_path: &str, role: Target, layer: Option<usize>) -> bool {
        self.method == AdapterKind::Lora
            && self.in_blocks(layer)
            && match &self.targets {
                TargetRule::Roles(roles) => roles.contains(&role),
                rule => rule.matches_path(module_path),
            }
    }

    /// Whether the q/k/v input at `site_path` gets a Serial adapter: `role` `None` for a block's
    /// (image) attention, which every Serial plan adapts, or the role of another stream's q/k/v
    /// (`Target::Context`), adapted when the plan's roles include it.
    pub fn wants_serial(
        &self,
        site_path: &str,
        role: Option<Target>,
        layer: Option<usize>,
    ) -> bool {
        self.method == AdapterKind::SerialLora
            && self.in_blocks(layer)
            && match &self.targets {
                TargetRule::Roles(roles) => role.is_none_or(|r| roles.contains(&r)),
                rule => rule.matches_path(site_path),
            }
    }
}
