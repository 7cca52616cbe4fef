//! [`QkvProjection`]: the q/k/v projections of an attention block, separate or fused, with the
//! Serial LoRA adapter that sits in series before them.

use tch::{nn, Tensor};

use crate::error::Result;
use crate::linear::{check_rank, AdaptedLinear};
use crate::lowrank::LowRank;
use crate::site::{MergeFlag, SitePath, Update};
use formats::Target;

const ROLES: [(Target, &str); 3] = [(Target::Q, "q"), (Target::K, "k"), (Target::V, "v")];

/// Serial LoRA's shared pair: `x' = x + s·B_s(A_s(drop(x)))`, computed once per block and fed to
/// q, k and v. Its variables are `<attention>.serial_lora_A.weight` and `serial_lora_B.weight`.
#[derive(Debug)]
struct SerialAdapter {
    pair: LowRank,
    merged: MergeFlag,
}

impl SerialAdapter {
    fn apply(&self, x: &Tensor, train: bool) -> Tensor {
        if self.merged.is_merged() {
            x.shallow_clone()
        } else {
            x + self.pair.delta(x, train)
        }
    }
}

/// A fused `[3d, d]` qkv weight (OpenAI CLIP `in_proj`, SAM `attn.qkv`) with an optional LoRA pair
/// per slice; slice pairs live under the virtual sub-modules `<qkv>.q`, `<qkv>.k`, `<qkv>.v`.
#[derive(Debug)]
struct FusedQkv {
    weight: Tensor,
    bias: Option<Tensor>,
    slices: [Option<LowRank>; 3],
    merged: MergeFlag,
}

impl FusedQkv {
    fn new(p: &SitePath, dim: i64, bias: bool) -> Result<Self> {
        let base = nn::linear(
            p.base(),
            dim,
            3 * dim,
            nn::LinearConfig {
                bias,
                ..Default::default()
            },
        );
        let mut slices = [None, None, None];
        for (i, (role, name)) in ROLES.into_iter().enumerate() {
            let site = p / name;
            let wanted = site
                .plan()
                .filter(|plan| plan.wants_lora(&site.module_path(), role, site.layer_index()));
            let update = match wanted {
                Some(plan) => {
                    check_rank(&site, plan.rank, dim, dim)?;
                    let pair = LowRank::new(
                        site.adapters(),
                        ("lora_A", "lora_B"),
                        (dim, dim, plan.rank),
                        plan.scale(),
                        plan.dropout,
                        site.rng("lora"),
                    );
                    let rows = Some((i as i64 * dim, dim));
                    let update = Update::Parallel {
                        weight: base.ws.shallow_clone(),
                        rows,
                        pair: pair.shallow_clone(),
                    };
                    slices[i] = Some(pair);
                    Some(update)
                }
                None => None,
            };
            site.record(Some(role), update);
        }
        Ok(Self {
            weight: base.ws,
            bias: base.bs,
            slices,
            merged: p.merge_flag(),
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> [Tensor; 3] {
        let qkv = x.linear(&self.weight, self.bias.as_ref()).chunk(3, -1);
        let merged = self.merged.is_merged();
        let mut out = qkv
            .into_iter()
            .zip(&self.slices)
            .map(|(y, pair)| match pair {
                Some(pair) if !merged => y + pair.delta(x, train),
                _ => y,
            });
        [
            out.next().unwrap(),
            out.next().unwrap(),
            out.next().unwrap(),
        ]
    }
}

#[derive(Debug)]
enum Layout {
    Separate([AdaptedLinear; 3]),
    Fused(FusedQkv),
}

/// The q, k, v projections of one attention block and, under Serial LoRA, the shared adapter on
/// their common input. W_o is a separate [`AdaptedLinear`] that Serial LoRA never touches.
///
/// The same code gets LoRA on each of q, k, v (three pairs) or Serial LoRA (one shared pair, a
/// third of them), as the plan says; the adapter names are PEFT's:
///
/// ```
/// use serial_lora::{AdapterConfig, AdapterPlan, ModelStore, QkvProjection};
/// use tch::{Device, Kind, Tensor};
///
/// for (config, pairs) in [(AdapterConfig::lora(4), 3), (AdapterConfig::serial_lora(4), 1)] {
///     let (store, qkv) = ModelStore::build(Device::Cpu, Some(AdapterPlan::from(&config)), |p| {
///         QkvProjection::separate(&(p / "attention"), ["query", "key", "value"], 16, true)
///     })?;
///     assert_eq!(store.parameter_count().total, pairs * 2 * 16 * 4);
///     let (q, k, v) = qkv.forward_t(&Tensor::zeros([2, 7, 16], (Kind::Float, Device::Cpu)), false);
///     assert_eq!((q.size(), k.size(), v.size()), (vec![2, 7, 16], vec![2, 7, 16], vec![2, 7, 16]));
/// }
/// # Ok::<(), serial_lora::Error>(())
/// ```
#[derive(Debug)]
pub struct QkvProjection {
    layout: Layout,
    serial: Option<SerialAdapter>,
}

impl QkvProjection {
    /// Separate square projections `p/names[0..3]` (e.g. `q_proj`, `k_proj`, `v_proj`) of width `dim`.
    pub fn separate(p: &SitePath, names: [&str; 3], dim: i64, bias: bool) -> Result<Self> {
        let roles = ROLES.map(|(role, _)| role);
        Self::separate_with(p, p.clone(), None, roles, names, dim, bias)
    }

    /// Separate square projections `p/names[0..3]` of a second token stream whose q, k and v all
    /// play `role` (an MMDiT's context stream: `add_q_proj`, `add_k_proj`, `add_v_proj` as
    /// `Target::Context`); its Serial pair lives at the virtual sub-module `p/serial_at`.
    pub fn separate_as(
        p: &SitePath,
        role: Target,
        serial_at: &str,
        names: [&str; 3],
        dim: i64,
        bias: bool,
    ) -> Result<Self> {
        Self::separate_with(p, p / serial_at, Some(role), [role; 3], names, dim, bias)
    }

    fn separate_with(
        p: &SitePath,
        serial_site: SitePath,
        serial_role: Option<Target>,
        roles: [Target; 3],
        names: [&str; 3],
        dim: i64,
        bias: bool,
    ) -> Result<Self> {
        let [q, k, v] =
            [0, 1, 2].map(|i| AdaptedLinear::new(&(p / names[i]), roles[i], dim, dim, bias));
        let weights = |l: &[AdaptedLinear; 3]| l.iter().map(|x| x.weight.shallow_clone()).collect();
        let layout = [q?, k?, v?];
        let serial = Self::serial(&serial_site, serial_role, dim, weights(&layout))?;
        Ok(Self {
            layout: Layout::Separate(layout),
            serial,
        })
    }

    /// One fused projection `p/name` with weight `[3·dim, dim]` (q, k, v stacked in that order).
    pub fn fused(p: &SitePath, name: &str, dim: i64, bias: bool) -> Result<Self> {
        let fused = FusedQkv::new(&(p / name), dim, bias)?;
        let serial = Self::serial(p, None, dim, vec![fused.weight.shallow_clone()])?;
        Ok(Self {
            layout: Layout::Fused(fused),
            serial,
        })
    }

    fn serial(
        p: &SitePath,
        role: Option<Target>,
        dim: i64,
        weights: Vec<Tensor>,
    ) -> Result<Option<SerialAdapter>> {
        let Some(plan) = p
            .plan()
            .filter(|plan| plan.wants_serial(&p.module_path(), role, p.layer_index()))
        else {
            return Ok(None);
        };
        check_rank(p, plan.rank, dim, dim)?;
        let pair = LowRank::new(
            p.adapters(),
            ("serial_lora_A", "serial_lora_B"),
            (dim, dim, plan.rank),
            plan.scale(),
            plan.dropout,
            p.rng("serial_lora"),
        );
        p.record(
            None,
            Some(Update::Serial {
                weights,
                pair: pair.shallow_clone(),
            }),
        );
        Ok(Some(SerialAdapter {
            pair,
            merged: p.merge_flag(),
        }))
    }

    /// `(Q, K, V)` of `x` (the block's normalised input), through the Serial adapter if present.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> (Tensor, Tensor, Tensor) {
        self.forward_t_queries(x, None, train)
    }

    /// As [`forward_t`](Self::forward_t), but `Q` only for the first `queries` tokens (all when
    /// `None`): what attention needs when only those tokens' outputs are used.
    pub fn forward_t_queries(
        &self,
        x: &Tensor,
        queries: Option<i64>,
        train: bool,
    ) -> (Tensor, Tensor, Tensor) {
        let x = match &self.serial {
            Some(serial) => serial.apply(x, train),
            None => x.shallow_clone(),
        };
        let first = |t: Tensor| match queries {
            Some(n) => t.narrow(1, 0, n),
            None => t,
        };
        match &self.layout {
            Layout::Separate([q, k, v]) => (
                q.forward_t(&first(x.shallow_clone()), train),
                k.forward_t(&x, train),
                v.forward_t(&x, train),
            ),
            Layout::Fused(fused) => {
                let [q, k, v] = fused.forward_t(&x, train);
                (first(q), k, v)
            }
        }
    }
}
