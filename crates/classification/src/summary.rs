//! What a finished run reports: `summary.json` in its folder and one row of
//! `results/classification/summary.csv`.

use formats::SummaryRow;
use runner::TrainStats;
use serde::{Deserialize, Serialize};

/// A finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Backbone name.
    pub backbone: String,
    /// Data set.
    pub dataset: String,
    /// Shots per class.
    pub shots: usize,
    /// Seed.
    pub seed: u64,
    /// Method name.
    pub method: String,
    /// Rank (0 without adapters).
    pub rank: i64,
    /// Trainable adapter parameters (all backbone weights for `full`; 0 otherwise).
    pub trainable_params: i64,
    /// Top-1 test accuracy after the last step.
    pub accuracy: f64,
    /// Accuracy before training (CLIP: zero-shot; cosine head: class means).
    pub zero_shot_accuracy: f64,
    /// Training steps, seconds and peak memory (`steps`, `train_seconds`, `peak_rss_mb`).
    #[serde(flatten)]
    pub training: TrainStats,
    /// Parameters of the cosine head, trained alongside (0 for CLIP's text head).
    pub head_params: i64,
    /// Input resolution, pixels.
    pub resolution: u32,
    /// Peak learning rate.
    pub lr: f64,
    /// λ of the `+` variants (1 otherwise).
    pub plus_ratio: f64,
    /// What `accuracy` was measured on: `test`, or `validation` (a selection run).
    pub evaluated_on: String,
}

impl SummaryRow for Summary {
    const COLUMNS: &'static [&'static str] = &[
        "backbone",
        "dataset",
        "shots",
        "seed",
        "method",
        "rank",
        "trainable_params",
        "accuracy",
        "zero_shot_accuracy",
        "steps",
        "train_seconds",
        "peak_rss_mb",
        "head_params",
        "resolution",
        "lr",
        "plus_ratio",
        "evaluated_on",
    ];
    const SCORE: &'static str = "accuracy";

    fn score(&self) -> f64 {
        self.accuracy
    }

    fn row(&self) -> Vec<String> {
        let mut row = vec![
            self.backbone.clone(),
            self.dataset.clone(),
            self.shots.to_string(),
            self.seed.to_string(),
            self.method.clone(),
            self.rank.to_string(),
            self.trainable_params.to_string(),
            format!("{:.6}", self.accuracy),
            format!("{:.6}", self.zero_shot_accuracy),
        ];
        row.extend(self.training.cells());
        row.extend([
            self.head_params.to_string(),
            self.resolution.to_string(),
            self.lr.to_string(),
            self.plus_ratio.to_string(),
            self.evaluated_on.clone(),
        ]);
        row
    }
}
