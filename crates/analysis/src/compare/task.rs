//! The tasks `compare` and `report` know: which columns of their `summary.csv` name a cell, which
//! hold the metric (and which way it improves), the untrained model's metric and the further
//! measures the report averages.

use std::fmt;
use std::str::FromStr;

/// A task whose runs write a `summary.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Few-shot classification (`results/classification/`).
    Classification,
    /// Segmentation (`results/segmentation/`).
    Segmentation,
    /// Personalised text-to-image generation (`results/generation/`): the `zero_shot` row is the
    /// base model, scored like the runs.
    Generation,
}

impl Task {
    /// Every task.
    pub const ALL: [Task; 3] = [Task::Classification, Task::Segmentation, Task::Generation];

    /// The folder name under `results/` (`classification`, `segmentation`, `generation`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Classification => "classification",
            Self::Segmentation => "segmentation",
            Self::Generation => "generation",
        }
    }

    /// The columns that name a cell, in table order (those missing from a summary's header are
    /// left out of the key).
    pub fn key_columns(self) -> &'static [&'static str] {
        match self {
            Self::Classification => &["backbone", "dataset", "shots", "method", "rank"],
            Self::Segmentation | Self::Generation => &["model", "dataset", "method", "rank"],
        }
    }

    /// The column compared between the two summaries.
    pub fn metric(self) -> &'static str {
        match self {
            Self::Classification => "accuracy",
            Self::Segmentation => "dice",
            Self::Generation => "fd_dinov2",
        }
    }

    /// Whether a smaller metric is better (generation's Fréchet distance); accuracy and Dice
    /// improve upwards.
    pub fn lower_is_better(self) -> bool {
        self == Self::Generation
    }

    /// The margin within which a paired difference of the metric counts as equivalent (two
    /// one-sided tests, `report/paired.csv`), stated before the runs it judges: one accuracy point
    /// for classification (the paper's tables resolve single points); none is stated for Dice or
    /// FD, whose pairs are judged better, worse or undecided only.
    pub fn equivalence_margin(self) -> Option<f64> {
        match self {
            Self::Classification => Some(0.01),
            Self::Segmentation | Self::Generation => None,
        }
    }

    /// `higher is better` or `lower is better`, for headings and axis labels.
    pub fn direction(self) -> &'static str {
        if self.lower_is_better() {
            "lower is better"
        } else {
            "higher is better"
        }
    }

    /// The column naming the pre-trained model (`backbone`, `model`).
    pub fn model_column(self) -> &'static str {
        match self {
            Self::Classification => "backbone",
            Self::Segmentation | Self::Generation => "model",
        }
    }

    /// The column holding the untrained model's metric (`zero_shot_accuracy`, `zero_shot_dice`);
    /// `None` for generation, whose `zero_shot` row is the base model.
    pub fn zero_shot_column(self) -> Option<&'static str> {
        match self {
            Self::Classification => Some("zero_shot_accuracy"),
            Self::Segmentation => Some("zero_shot_dice"),
            Self::Generation => None,
        }
    }

    /// Further measures the report averages over seeds besides the metric (segmentation: IoU,
    /// the mIoU of multi-class runs, and their pixel accuracy; generation: KID and the
    /// classifier's instance and preservation accuracies).
    pub fn extra_metrics(self) -> &'static [&'static str] {
        match self {
            Self::Classification => &[],
            Self::Segmentation => &["iou", "pixel_accuracy"],
            Self::Generation => &["kid", "instance_accuracy", "preservation_accuracy"],
        }
    }

    /// The score of the learning-rate selection (`validation_<score>` in `lr_selection.csv`) and
    /// whether a smaller one is better: the metric itself, or generation's flow-matching loss on
    /// held-out instance images.
    pub fn selection_score(self) -> (&'static str, bool) {
        match self {
            Self::Classification | Self::Segmentation => (self.metric(), self.lower_is_better()),
            Self::Generation => ("loss", true),
        }
    }

    /// Whether `analysis report` draws Figure 5 (the metric against rank) from its table:
    /// generation (`fig5_<backbone>.png`); classification has `analysis rank-sweep`.
    pub fn report_draws_rank_figure(self) -> bool {
        self == Self::Generation
    }
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Task {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|t| t.name()).collect();
                format!("unknown task `{s}` (one of {})", names.join(", "))
            })
    }
}
