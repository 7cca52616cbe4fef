//! `report/paired.csv`: paired differences over seeds. Runs of the same model, data set, shots and
//! seed see the same few-shot sample and initial head (generation: the same training draws), so
//! `a − b` per seed removes that shared variation; the mean difference gets a 95 % Student-t
//! interval over the paired seeds ([`MeanInterval`]). A seed that only one side has is left out
//! (`n` counts the pairs, `left_out` the seeds without a partner).
//!
//! The comparisons ([`Comparison`]): Serial LoRA − LoRA and Serial LoRA+ − LoRA+ at the same
//! rank; the same pairs parameter-matched: LoRA at rank r against the Serial rank with exactly
//! its trainable parameters, where both exist (with LoRA on q,k,v,o that is rank 4r: 2·d·4r =
//! 8·d·r per block; a model whose LoRA adapts fewer projections matches at another rank, and
//! none is made up where the counts differ); Serial LoRA − LoRA (q,k,v) at the same rank.
//!
//! CSV columns: `backbone` (`model`), `dataset`, `shots` (classification), `comparison`, `a`,
//! `a_rank`, `b`, `b_rank`, `params_a`, `params_b`, `n`, `left_out`, `mean_diff`, `std_diff`,
//! `ci95_low`, `ci95_high` (the last three empty for one pair), in the summary's unit. A positive
//! difference favours `a` for accuracy and Dice, a negative one for generation's FD (lower is
//! better; [`Task::lower_is_better`]).

use std::collections::BTreeSet;
use std::path::Path;

use formats::Method;

use crate::compare::Task;
use crate::error::Result;
use crate::report::cells::{params, Cells};
use crate::report::rows::Group;
use crate::report::write::{optional, write_csv};
use crate::stats::MeanInterval;

/// Which ranks a comparison pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Comparison {
    /// Both at the same rank.
    SameRank,
    /// `a` (Serial) at the rank whose trainable parameters equal `b`'s (LoRA) at its rank.
    ParameterMatched,
    /// Serial LoRA against LoRA on q,k,v only, at the same rank.
    VersusQkv,
}

impl Comparison {
    /// The name written in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Self::SameRank => "same_rank",
            Self::ParameterMatched => "parameter_matched",
            Self::VersusQkv => "vs_lora_qkv",
        }
    }

    /// The name in the Markdown table.
    pub fn label(self) -> &'static str {
        match self {
            Self::SameRank => "same rank",
            Self::ParameterMatched => "same parameters",
            Self::VersusQkv => "vs LoRA (q,k,v)",
        }
    }

    /// The (a, b) method pairs compared.
    fn pairs(self) -> &'static [(Method, Method)] {
        const SERIAL_VS_LORA: [(Method, Method); 2] = [
            (Method::SerialLora, Method::Lora),
            (Method::SerialLoraPlus, Method::LoraPlus),
        ];
        match self {
            Self::SameRank | Self::ParameterMatched => &SERIAL_VS_LORA,
            Self::VersusQkv => &[(Method::SerialLora, Method::LoraQkv)],
        }
    }
}

/// Every comparison, in table order.
pub const COMPARISONS: [Comparison; 3] = [
    Comparison::SameRank,
    Comparison::ParameterMatched,
    Comparison::VersusQkv,
];

/// One paired comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// Model, data set and shots.
    pub group: Group,
    /// Which comparison.
    pub comparison: Comparison,
    /// The method whose metric is subtracted from.
    pub a: Method,
    /// Its rank.
    pub a_rank: usize,
    /// The method subtracted.
    pub b: Method,
    /// Its rank.
    pub b_rank: usize,
    /// `a`'s trainable parameters.
    pub params_a: u64,
    /// `b`'s trainable parameters.
    pub params_b: u64,
    /// Seeds that only one side has.
    pub left_out: usize,
    /// `a − b` over the paired seeds: n, mean, std and the 95 % interval.
    pub diff: MeanInterval,
}

/// Every comparison the `cells` allow (both cells present with at least one common seed), ordered
/// by group, comparison, pair and rank.
pub fn pairs(cells: &Cells) -> Vec<Pair> {
    let mut out = Vec::new();
    let groups: BTreeSet<&Group> = cells.keys().map(|(g, _, _)| g).collect();
    for group in groups {
        for comparison in COMPARISONS {
            for &(a, b) in comparison.pairs() {
                let b_ranks = cells.iter().filter(|((g, m, _), _)| g == group && *m == b);
                for ((_, _, b_rank), sb) in b_ranks {
                    let b_rank = *b_rank;
                    let a_rank = match comparison {
                        Comparison::ParameterMatched => cells
                            .iter()
                            .find(|((g, m, r), sa)| {
                                g == group && *m == a && *r != b_rank && params(sa) == params(sb)
                            })
                            .map(|((_, _, r), _)| *r),
                        Comparison::SameRank | Comparison::VersusQkv => Some(b_rank),
                    };
                    let Some((a_rank, sa)) =
                        a_rank.and_then(|r| Some((r, cells.get(&(group.clone(), a, r))?)))
                    else {
                        continue;
                    };
                    let diffs: Vec<f64> = sa
                        .iter()
                        .filter_map(|(seed, ra)| sb.get(seed).map(|rb| ra.score - rb.score))
                        .collect();
                    if diffs.is_empty() {
                        continue;
                    }
                    let seeds: BTreeSet<&u64> = sa.keys().chain(sb.keys()).collect();
                    out.push(Pair {
                        group: group.clone(),
                        comparison,
                        a,
                        a_rank,
                        b,
                        b_rank,
                        params_a: params(sa),
                        params_b: params(sb),
                        left_out: seeds.len() - diffs.len(),
                        diff: MeanInterval::of(&diffs),
                    });
                }
            }
        }
    }
    out
}

/// Writes the `task`'s paired differences to `path` atomically.
pub fn write(path: &Path, task: Task, pairs: &[Pair]) -> Result<()> {
    let mut header = vec![task.model_column(), "dataset"];
    if task == Task::Classification {
        header.push("shots");
    }
    header.extend([
        "comparison",
        "a",
        "a_rank",
        "b",
        "b_rank",
        "params_a",
        "params_b",
        "n",
        "left_out",
        "mean_diff",
        "std_diff",
        "ci95_low",
        "ci95_high",
    ]);
    let header: Vec<String> = header.into_iter().map(String::from).collect();
    let lines = pairs.iter().map(|p| {
        let mut line = vec![p.group.backbone.clone(), p.group.dataset.clone()];
        if task == Task::Classification {
            line.push(optional(p.group.shots));
        }
        line.extend([
            p.comparison.name().to_string(),
            p.a.name().to_string(),
            p.a_rank.to_string(),
            p.b.name().to_string(),
            p.b_rank.to_string(),
            p.params_a.to_string(),
            p.params_b.to_string(),
            p.diff.n.to_string(),
            p.left_out.to_string(),
            p.diff.mean.to_string(),
            optional(p.diff.std),
            optional(p.diff.ci95.map(|c| c.0)),
            optional(p.diff.ci95.map(|c| c.1)),
        ]);
        line
    });
    write_csv(path, &header, lines)
}
