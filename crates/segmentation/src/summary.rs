//! What a finished run reports: `summary.json` in its folder and one row of
//! `results/segmentation/summary.csv`.

use formats::SummaryRow;
use runner::TrainStats;
use serde::{Deserialize, Serialize};

use crate::classes::ClassScores;
use crate::metrics::Scores;

/// A finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Backbone.
    pub model: String,
    /// Data set.
    pub dataset: String,
    /// Method.
    pub method: String,
    /// Rank.
    pub rank: i64,
    /// Seed.
    pub seed: u64,
    /// Trainable parameters (adapters, plus the decoder when trained).
    pub trainable_params: i64,
    /// Test scores after training (multi-class: Dice the mean class Dice, IoU the mIoU).
    pub test: Scores,
    /// Per-class IoU, mIoU and pixel accuracy (multi-class runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<ClassScores>,
    /// Test scores of the unadapted model (none for multi-class runs: their class head is new).
    pub zero_shot: Option<Scores>,
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
        "trainable_params",
        "dice",
        "iou",
        "zero_shot_dice",
        "steps",
        "train_seconds",
        "peak_rss_mb",
        "pixel_accuracy",
    ];

    const SCORE: &'static str = "dice";

    fn score(&self) -> f64 {
        self.test.dice
    }

    fn row(&self) -> Vec<String> {
        let mut row = vec![
            self.model.clone(),
            self.dataset.clone(),
            self.method.clone(),
            self.rank.to_string(),
            self.seed.to_string(),
            self.trainable_params.to_string(),
            format!("{:.4}", self.test.dice),
            format!("{:.4}", self.test.iou),
            self.zero_shot
                .map_or_else(String::new, |z| format!("{:.4}", z.dice)),
        ];
        row.extend(self.training.cells());
        row.extend([self
            .classes
            .as_ref()
            .map_or_else(String::new, |c| format!("{:.4}", c.pixel_accuracy))]);
        row
    }
}
