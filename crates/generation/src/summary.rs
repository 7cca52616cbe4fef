//! What a finished run reports: `summary.json` in its folder and one row of
//! `results/generation/summary.csv`.

use formats::SummaryRow;
use runner::TrainStats;
use serde::{Deserialize, Serialize};

/// A finished run. Selection runs score only `validation_loss` (the sample measures are absent,
/// empty cells in the table); the grid's runs score the samples (no `validation_loss`: every
/// instance image trains).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Base model.
    pub model: String,
    /// Data set.
    pub dataset: String,
    /// Method.
    pub method: String,
    /// Rank (0 without adapters).
    pub rank: i64,
    /// Seed.
    pub seed: u64,
    /// Peak learning rate.
    pub lr: f64,
    /// λ of the `+` variants (1 otherwise).
    pub plus_ratio: f64,
    /// Trainable parameters.
    pub trainable_params: i64,
    /// Fréchet distance of the instance prompt's samples to the real class images (DINOv2-S
    /// features).
    pub fd_dinov2: Option<f64>,
    /// KID on the same features.
    pub kid: Option<f64>,
    /// Share of the instance prompt's samples the classifier assigns to the personalised class.
    pub instance_accuracy: Option<f64>,
    /// Share of the other classes' samples the classifier assigns to their prompt's class.
    pub preservation_accuracy: Option<f64>,
    /// Flow-matching loss on the held-out instance images (selection runs).
    pub validation_loss: Option<f64>,
    /// Samples scored for FD and KID.
    pub samples: usize,
    /// Training steps, seconds and peak memory (`steps`, `train_seconds`, `peak_rss_mb`).
    #[serde(flatten)]
    pub training: TrainStats,
}

impl SummaryRow for Summary {
    const COLUMNS: &'static [&'static str] = &[
        "model",
        "dataset",
        "method",
        "rank",
        "seed",
        "lr",
        "plus_ratio",
        "trainable_params",
        "fd_dinov2",
        "kid",
        "instance_accuracy",
        "preservation_accuracy",
        "validation_loss",
        "samples",
        "steps",
        "train_seconds",
        "peak_rss_mb",
    ];

    const SCORE: &'static str = "loss";

    const MINIMISE: bool = true;

    fn score(&self) -> f64 {
        self.validation_loss.unwrap_or(f64::NAN)
    }

    fn row(&self) -> Vec<String> {
        let mut row = vec![
            self.model.clone(),
            self.dataset.clone(),
            self.method.clone(),
            self.rank.to_string(),
            self.seed.to_string(),
            self.lr.to_string(),
            self.plus_ratio.to_string(),
            self.trainable_params.to_string(),
            cell(self.fd_dinov2, 3),
            cell(self.kid, 5),
            cell(self.instance_accuracy, 4),
            cell(self.preservation_accuracy, 4),
            cell(self.validation_loss, 6),
            self.samples.to_string(),
        ];
        row.extend(self.training.cells());
        row
    }
}

/// A measure with `digits` decimals, or an empty cell when the run did not score it.
fn cell(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(String::new, |v| format!("{v:.digits$}"))
}
