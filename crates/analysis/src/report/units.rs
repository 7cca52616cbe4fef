//! How the report writes a task's numbers: accuracy in percent with one decimal, Dice with four,
//! Fréchet distances with two; and the names, units and direction of the metric and of the
//! learning-rate selection's score.

use crate::compare::Task;

/// How the task's numbers are written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Units {
    /// The task.
    pub task: Task,
    /// 100 for accuracies stored as fractions (written in percent), else 1.
    pub scale: f64,
}

impl Units {
    /// The units of `task` whose metric values are `scores`: accuracies all within [0, 1] are
    /// fractions, written in percent.
    pub fn of(task: Task, scores: impl IntoIterator<Item = f64>) -> Self {
        let fraction = scores.into_iter().all(|s| s.abs() <= 1.0);
        let scale = if task == Task::Classification && fraction {
            100.0
        } else {
            1.0
        };
        Self { task, scale }
    }

    /// `73.4` (accuracy), `0.9438` (Dice) or `212.57` (FD).
    pub fn score(self, v: f64) -> String {
        match self.task {
            Task::Classification => format!("{:.1}", v * self.scale),
            Task::Segmentation => format!("{v:.4}"),
            Task::Generation => format!("{v:.2}"),
        }
    }

    /// A signed difference: `+1.2`, `-0.0031` or `-12.40`.
    pub fn diff(self, v: f64) -> String {
        match self.task {
            Task::Classification => format!("{:+.1}", v * self.scale),
            Task::Segmentation => format!("{v:+.4}"),
            Task::Generation => format!("{v:+.2}"),
        }
    }

    /// The metric's short name: `accuracy`, `Dice`, `FD`.
    pub fn name(self) -> &'static str {
        match self.task {
            Task::Classification => "accuracy",
            Task::Segmentation => "Dice",
            Task::Generation => "FD",
        }
    }

    /// The metric's name with its unit (and direction where it improves downwards), e.g.
    /// `accuracy (%)`, `Dice`, `FD on DINOv2 features (lower is better)`.
    pub fn metric(self) -> &'static str {
        match (self.task, self.scale == 100.0) {
            (Task::Classification, true) => "accuracy (%)",
            (Task::Classification, false) => "accuracy",
            (Task::Segmentation, _) => "Dice",
            (Task::Generation, _) => "FD on DINOv2 features (lower is better)",
        }
    }

    /// The unit of differences and which sign favours `a`, e.g. `percentage points; positive:
    /// a is better`.
    pub fn diff_unit(self) -> String {
        let unit = match (self.task, self.scale == 100.0) {
            (Task::Classification, true) => "percentage points",
            (Task::Generation, _) => "in FD",
            _ => "in the metric's unit",
        };
        let better = if self.task.lower_is_better() {
            "negative"
        } else {
            "positive"
        };
        format!("{unit}; {better}: a is better")
    }

    /// The heading of the learning-rate selection's score, e.g. `validation accuracy (%)` or
    /// `validation loss (lower is better)`.
    pub fn selection_score(self) -> String {
        match self.task.selection_score() {
            (score, _) if score == self.task.metric() => format!("validation {}", self.metric()),
            (score, true) => format!("validation {score} (lower is better)"),
            (score, false) => format!("validation {score}"),
        }
    }

    /// A validation score as [`Units::score`] writes the metric, or with four decimals when the
    /// selection scores something else (generation's loss).
    pub fn selection_value(self, v: f64) -> String {
        if self.task.selection_score().0 == self.task.metric() {
            self.score(v)
        } else {
            format!("{v:.4}")
        }
    }
}
