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
//! none is made up where the counts differ); Serial LoRA − LoRA (q,k,v) at the same rank; and, for
//! segmentation, every adapter at each rank − the mask decoder trained alone (`probe`, the
//! baseline of SAMed's protocol).
//!
//! [`pairs`] compares the task's metric or one of its further measures ([`Measure`]); the report
//! writes the metric's to `paired.csv` and segmentation's IoU (mIoU) to `paired_iou.csv`.
//!
//! CSV columns: `backbone` (`model`), `dataset`, `shots` (classification), `comparison`, `a`,
//! `a_rank`, `b`, `b_rank`, `params_a`, `params_b`, `n`, `left_out`, `mean_diff`, `std_diff`,
//! `ci95_low`, `ci95_high` (the last three empty for one pair), in the summary's unit, then
//! `margin` (the equivalence margin, [`Task::equivalence_margin`]; empty where none is stated),
//! `ci90_low`, `ci90_high` (the 90 % interval of two one-sided 5 % tests) and `verdict`
//! (`equivalent`, `better`, `worse` or `undecided`, [`PairVerdict`]; empty for one pair). A
//! positive difference favours `a` for accuracy and Dice, a negative one for generation's FD (lower
//! is better; [`Task::lower_is_better`]).

use std::collections::BTreeSet;
use std::path::Path;

use formats::Method;

use crate::compare::Task;
use crate::error::Result;
use crate::report::cells::{params, Cells};
use crate::report::rows::{Group, Row};
use crate::report::write::{optional, write_csv};
use crate::stats::{MeanInterval, PairVerdict};

/// Which ranks a comparison pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Comparison {
    /// Both at the same rank.
    SameRank,
    /// `a` (Serial) at the rank whose trainable parameters equal `b`'s (LoRA) at its rank.
    ParameterMatched,
    /// Serial LoRA against LoRA on q,k,v only, at the same rank.
    VersusQkv,
    /// Each adapter method, at each of its ranks, against the decoder trained alone (`probe`;
    /// segmentation only).
    VersusDecoder,
}

/// What a paired difference is taken of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    /// The task's metric.
    Metric,
    /// The task's further measure at this index ([`Task::extra_metrics`]).
    Extra(usize),
}

impl Measure {
    fn of(self, row: &Row) -> Option<f64> {
        match self {
            Self::Metric => Some(row.score),
            Self::Extra(i) => row.extras.get(i).copied().flatten(),
        }
    }
}

impl Comparison {
    /// The name written in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Self::SameRank => "same_rank",
            Self::ParameterMatched => "parameter_matched",
            Self::VersusQkv => "vs_lora_qkv",
            Self::VersusDecoder => "vs_decoder_only",
        }
    }

    /// The name in the Markdown table.
    pub fn label(self) -> &'static str {
        match self {
            Self::SameRank => "same rank",
            Self::ParameterMatched => "same parameters",
            Self::VersusQkv => "vs LoRA (q,k,v)",
            Self::VersusDecoder => "vs the decoder alone",
        }
    }

    /// The (a, b) method pairs compared.
    fn pairs(self) -> &'static [(Method, Method)] {
        const SERIAL_VS_LORA: [(Method, Method); 2] = [
            (Method::SerialLora, Method::Lora),
            (Method::SerialLoraPlus, Method::LoraPlus),
        ];
        const ADAPTERS_VS_DECODER: [(Method, Method); 5] = [
            (Method::Lora, Method::Probe),
            (Method::LoraQkv, Method::Probe),
            (Method::SerialLora, Method::Probe),
            (Method::LoraPlus, Method::Probe),
            (Method::SerialLoraPlus, Method::Probe),
        ];
        match self {
            Self::SameRank | Self::ParameterMatched => &SERIAL_VS_LORA,
            Self::VersusQkv => &[(Method::SerialLora, Method::LoraQkv)],
            Self::VersusDecoder => &ADAPTERS_VS_DECODER,
        }
    }
}

/// Every comparison, in table order.
pub const COMPARISONS: [Comparison; 4] = [
    Comparison::SameRank,
    Comparison::ParameterMatched,
    Comparison::VersusQkv,
    Comparison::VersusDecoder,
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
    /// The equivalence margin the verdict used, if one is stated for the measure.
    pub margin: Option<f64>,
    /// What the intervals say (`None` for one pair).
    pub verdict: Option<PairVerdict>,
}

/// Every comparison of the `task` that the `cells` allow (both cells present with at least one
/// common seed recording `measure`), ordered by group, comparison, pair and rank.
pub fn pairs(cells: &Cells, task: Task, measure: Measure) -> Vec<Pair> {
    let mut out = Vec::new();
    let groups: BTreeSet<&Group> = cells.keys().map(|(g, _, _)| g).collect();
    let comparisons = COMPARISONS
        .into_iter()
        .filter(|&c| c != Comparison::VersusDecoder || task == Task::Segmentation);
    // The margin is stated for the task's metric only; further measures get no equivalence test.
    let judge = Judge {
        margin: match measure {
            Measure::Metric => task.equivalence_margin(),
            Measure::Extra(_) => None,
        },
        lower_is_better: task.lower_is_better() && measure == Measure::Metric,
    };
    for group in groups {
        for comparison in comparisons.clone() {
            for &(a, b) in comparison.pairs() {
                let b_ranks = cells.iter().filter(|((g, m, _), _)| g == group && *m == b);
                for ((_, _, b_rank), sb) in b_ranks {
                    let b_rank = *b_rank;
                    let a_ranks: Vec<usize> = match comparison {
                        Comparison::ParameterMatched => cells
                            .iter()
                            .find(|((g, m, r), sa)| {
                                g == group && *m == a && *r != b_rank && params(sa) == params(sb)
                            })
                            .map(|((_, _, r), _)| *r)
                            .into_iter()
                            .collect(),
                        Comparison::SameRank | Comparison::VersusQkv => vec![b_rank],
                        Comparison::VersusDecoder => cells
                            .keys()
                            .filter(|(g, m, _)| g == group && *m == a)
                            .map(|(_, _, r)| *r)
                            .collect(),
                    };
                    for a_rank in a_ranks {
                        let Some(sa) = cells.get(&(group.clone(), a, a_rank)) else {
                            continue;
                        };
                        push_pair(
                            &mut out,
                            (group, comparison),
                            (a, a_rank, sa),
                            (b, b_rank, sb),
                            measure,
                            judge,
                        );
                    }
                }
            }
        }
    }
    out
}

/// Seeds of one cell, seed → row.
type Seeds = std::collections::BTreeMap<u64, Row>;

/// How a pair's verdict is reached: the measure's margin and direction.
#[derive(Debug, Clone, Copy)]
struct Judge {
    margin: Option<f64>,
    lower_is_better: bool,
}

/// Appends the pair `a − b` of `measure` when the two cells share a seed that records it.
fn push_pair(
    out: &mut Vec<Pair>,
    (group, comparison): (&Group, Comparison),
    (a, a_rank, sa): (Method, usize, &Seeds),
    (b, b_rank, sb): (Method, usize, &Seeds),
    measure: Measure,
    judge: Judge,
) {
    let diffs: Vec<f64> = sa
        .iter()
        .filter_map(|(seed, ra)| Some(measure.of(ra)? - measure.of(sb.get(seed)?)?))
        .collect();
    if diffs.is_empty() {
        return;
    }
    let seeds: BTreeSet<&u64> = sa.keys().chain(sb.keys()).collect();
    let diff = MeanInterval::of(&diffs);
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
        verdict: PairVerdict::of(&diff, judge.margin, judge.lower_is_better),
        margin: judge.margin,
        diff,
    });
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
        "margin",
        "ci90_low",
        "ci90_high",
        "verdict",
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
            optional(p.margin),
            optional(p.diff.ci90().map(|c| c.0)),
            optional(p.diff.ci90().map(|c| c.1)),
            p.verdict.map(|v| v.name().to_string()).unwrap_or_default(),
        ]);
        line
    });
    write_csv(path, &header, lines)
}
