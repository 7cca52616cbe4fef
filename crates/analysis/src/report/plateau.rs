//! `report/loss_plateau.csv`: whether each loss-figure curve has levelled off, in one number: the
//! mean training loss (over seeds, as the figure plots it) over the last fifth of the training
//! steps against the fifth before it, and their relative change. A change near zero is a level
//! curve; a clearly negative one is a loss still falling when training stopped.

use std::path::Path;

use crate::error::Result;
use crate::plot::loss::curve_label;
use crate::report::loss::Curve;
use crate::report::write::{optional, write_csv};
use crate::stats::mean_std;

/// The share of the training steps in each window.
pub const WINDOW: f64 = 0.2;

/// One curve's last two windows.
#[derive(Debug, Clone, PartialEq)]
pub struct Plateau {
    /// Model.
    pub model: String,
    /// Data set.
    pub dataset: String,
    /// Shots per class, where the task has them.
    pub shots: Option<usize>,
    /// The curve's legend label (method, rank, parameter match).
    pub label: String,
    /// Seeds averaged.
    pub seeds: usize,
    /// The last logged step.
    pub steps: u64,
    /// Mean loss over the steps in `(1 − 2·WINDOW, 1 − WINDOW]` of `steps`.
    pub earlier: f64,
    /// Mean loss over the steps in `(1 − WINDOW, 1]` of `steps`.
    pub last: f64,
}

impl Plateau {
    /// `last / earlier − 1`: the loss's relative change over the last window.
    pub fn change(&self) -> f64 {
        self.last / self.earlier - 1.0
    }
}

/// The plateau of `curve`, or `None` when a window holds no logged point.
pub fn plateau(curve: &Curve) -> Option<Plateau> {
    let steps = curve.points.iter().map(|&(s, _)| s).max()?;
    let mean_over = |from: f64, to: f64| {
        let losses: Vec<f64> = curve
            .points
            .iter()
            .filter(|&&(s, _)| s as f64 > from * steps as f64 && s as f64 <= to * steps as f64)
            .map(|&(_, loss)| loss)
            .collect();
        (!losses.is_empty()).then(|| mean_std(&losses).0)
    };
    Some(Plateau {
        model: curve.group.backbone.clone(),
        dataset: curve.group.dataset.clone(),
        shots: curve.group.shots,
        label: curve_label(curve),
        seeds: curve.seeds,
        steps,
        earlier: mean_over(1.0 - 2.0 * WINDOW, 1.0 - WINDOW)?,
        last: mean_over(1.0 - WINDOW, 1.0)?,
    })
}

/// Writes `rows` to `path` atomically: `model, dataset, shots, curve, seeds, steps,
/// loss_earlier, loss_last, change`.
pub fn write(path: &Path, rows: &[Plateau]) -> Result<()> {
    let header = [
        "model",
        "dataset",
        "shots",
        "curve",
        "seeds",
        "steps",
        "loss_earlier",
        "loss_last",
        "change",
    ]
    .map(String::from);
    let lines = rows.iter().map(|p| {
        vec![
            p.model.clone(),
            p.dataset.clone(),
            optional(p.shots),
            p.label.clone(),
            p.seeds.to_string(),
            p.steps.to_string(),
            p.earlier.to_string(),
            p.last.to_string(),
            p.change().to_string(),
        ]
    });
    write_csv(path, &header, lines)
}

#[cfg(test)]
mod tests {
    use formats::Method;

    use super::*;
    use crate::report::rows::Group;

    fn curve(points: Vec<(u64, f64)>) -> Curve {
        Curve {
            group: Group {
                backbone: "m".into(),
                dataset: "d".into(),
                shots: None,
            },
            method: Method::SerialLora,
            rank: 8,
            matched: None,
            seeds: 3,
            points,
        }
    }

    #[test]
    fn windows_are_the_last_two_fifths() {
        // Steps 10..=100: the earlier window is 70, 80; the last 90, 100.
        let points = (1..=10).map(|k| (10 * k, k as f64)).collect();
        let p = plateau(&curve(points)).unwrap();
        assert_eq!((p.steps, p.earlier, p.last), (100, 7.5, 9.5));
        assert!((p.change() - (9.5 / 7.5 - 1.0)).abs() < 1e-12);
        assert_eq!(p.label, "Serial LoRA r=8");
    }

    #[test]
    fn a_flat_tail_has_no_change() {
        let points = (1..=20)
            .map(|k| (k, if k <= 10 { 2.0 } else { 1.0 }))
            .collect();
        assert_eq!(plateau(&curve(points)).unwrap().change(), 0.0);
    }

    #[test]
    fn an_empty_window_gives_none() {
        assert_eq!(plateau(&curve(vec![(100, 1.0)])), None);
        assert_eq!(plateau(&curve(vec![])), None);
    }

    #[test]
    fn written_csv_has_one_line_per_curve() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss_plateau.csv");
        let points = (1..=10).map(|k| (10 * k, 1.0)).collect();
        write(&path, &[plateau(&curve(points)).unwrap()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "model,dataset,shots,curve,seeds,steps,loss_earlier,loss_last,change\n\
             m,d,,Serial LoRA r=8,3,100,1,1,0\n"
        );
    }
}
