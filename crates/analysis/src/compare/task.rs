//! The tasks `compare` and `report` know: which columns of their `summary.csv` name a cell and
//! which hold the metric and the untrained model's metric.

use std::fmt;
use std::str::FromStr;

/// A task whose runs write a `summary.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Few-shot classification (`results/classification/`).
    Classification,
    /// Segmentation (`results/segmentation/`).
    Segmentation,
}

impl Task {
    /// Every task.
    pub const ALL: [Task; 2] = [Task::Classification, Task::Segmentation];

    /// The folder name under `results/` (`classification`, `segmentation`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Classification => "classification",
            Self::Segmentation => "segmentation",
        }
    }

    /// The columns that name a cell, in table order (those missing from a summary's header are
    /// left out of the key).
    pub fn key_columns(self) -> &'static [&'static str] {
        match self {
            Self::Classification => &["backbone", "dataset", "shots", "method", "rank"],
            Self::Segmentation => &["model", "dataset", "method", "rank"],
        }
    }

    /// The column compared between the two summaries.
    pub fn metric(self) -> &'static str {
        match self {
            Self::Classification => "accuracy",
            Self::Segmentation => "dice",
        }
    }

    /// The column naming the pre-trained model (`backbone`, `model`).
    pub fn model_column(self) -> &'static str {
        match self {
            Self::Classification => "backbone",
            Self::Segmentation => "model",
        }
    }

    /// The column holding the untrained model's metric (`zero_shot_accuracy`, `zero_shot_dice`).
    pub fn zero_shot_column(self) -> &'static str {
        match self {
            Self::Classification => "zero_shot_accuracy",
            Self::Segmentation => "zero_shot_dice",
        }
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
            .ok_or_else(|| format!("unknown task `{s}` (classification or segmentation)"))
    }
}
