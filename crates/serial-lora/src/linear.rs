//! [`AdaptedLinear`]: a frozen linear layer that may carry a LoRA pair.

use tch::{nn, Tensor};

use crate::error::{Error, Result};
use crate::lowrank::LowRank;
use crate::site::{MergeFlag, SitePath, Update};
use formats::Target;

/// `y = W x + b + s·B(A(drop(x)))`, the LoRA term present only when the plan targets this
/// projection and skipped once the model's adapters are merged into `W`.
///
/// LoRA at rank 8 on a 64 → 128 projection: `A` is `[8, 64]`, `B` is `[128, 8]` and zero, so the
/// layer starts exactly at the frozen one:
///
/// ```
/// use serial_lora::{AdaptedLinear, AdapterConfig, AdapterPlan, ModelStore, Target};
/// use tch::{Device, Kind, Tensor};
///
/// let mut config = AdapterConfig::lora(8);
/// config.targets.push(Target::Mlp);
/// let (store, fc) = ModelStore::build(Device::Cpu, Some(AdapterPlan::from(&config)), |p| {
///     AdaptedLinear::new(&(p / "fc1"), Target::Mlp, 64, 128, true)
/// })?;
/// assert_eq!(store.parameter_count().total, 8 * 64 + 128 * 8);
/// let x = Tensor::ones([3, 64], (Kind::Float, Device::Cpu));
/// let frozen = x.linear(&fc.weight, fc.bias.as_ref());
/// assert!(fc.forward_t(&x, false).equal(&frozen));
/// # Ok::<(), serial_lora::Error>(())
/// ```
#[derive(Debug)]
pub struct AdaptedLinear {
    /// Frozen weight `[d_out, d_in]`.
    pub weight: Tensor,
    /// Frozen bias `[d_out]`.
    pub bias: Option<Tensor>,
    lora: Option<LowRank>,
    merged: MergeFlag,
}

/// Checks that a pair of rank `rank` fits a `d_in → d_out` map.
pub(crate) fn check_rank(site: &SitePath, rank: i64, d_in: i64, d_out: i64) -> Result<()> {
    if rank < 1 || rank > d_in.min(d_out) {
        return Err(Error::Site {
            site: site.module_path(),
            message: format!(
                "rank {rank} must be between 1 and min(d_in, d_out) = {}",
                d_in.min(d_out)
            ),
        });
    }
    Ok(())
}

impl AdaptedLinear {
    /// The linear `p` (`p.weight`, `p.bias`) with role `role`, attaching LoRA if the plan says so.
    pub fn new(p: &SitePath, role: Target, d_in: i64, d_out: i64, bias: bool) -> Result<Self> {
        let base = nn::linear(
            p.base(),
            d_in,
            d_out,
            nn::LinearConfig {
                bias,
                ..Default::default()
            },
        );
        let wanted = p
            .plan()
            .filter(|plan| plan.wants_lora(&p.module_path(), role, p.layer_index()));
        let lora = match wanted {
            Some(plan) => {
                check_rank(p, plan.rank, d_in, d_out)?;
                let pair = LowRank::new(
                    p.adapters(),
                    ("lora_A", "lora_B"),
                    (d_in, d_out, plan.rank),
                    plan.scale(),
                    plan.dropout,
                    p.rng("lora"),
                );
                let update = Update::Parallel {
                    weight: base.ws.shallow_clone(),
                    rows: None,
                    pair: pair.shallow_clone(),
                };
                p.record(Some(role), Some(update));
                Some(pair)
            }
            None => {
                p.record(Some(role), None);
                None
            }
        };
        Ok(Self {
            weight: base.ws,
            bias: base.bs,
            lora,
            merged: p.merge_flag(),
        })
    }

    /// `W x + b (+ s·B A drop(x))`; dropout is active only when `train`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let y = x.linear(&self.weight, self.bias.as_ref());
        match &self.lora {
            Some(pair) if !self.merged.is_merged() => y + pair.delta(x, train),
            _ => y,
        }
    }
}
