//! `report/loss_plateau.csv`: whether each loss-figure curve has levelled off, in numbers: per
//! seed, the mean training loss over the last fifth of the training steps against the fifth
//! before it; their relative change, its mean over seeds with a 95 % interval, and the verdict
//! `levelled` (the loss moved by at most [`LEVELLED`] of itself over the last fifth). The curve
//! follows `loss_mean` (every step) where the runs logged it, else `loss` (one step in ten, whose
//! windows hold few batches: the change is then mostly which batches those were).

use std::path::Path;

use crate::error::Result;
use crate::plot::loss::curve_label;
use crate::report::loss::{Curve, LossColumn};
use crate::report::write::{optional, write_csv};
use crate::stats::{mean_std, MeanInterval};

/// The share of the training steps in each window.
pub const WINDOW: f64 = 0.2;

/// The largest relative change of the mean loss over the last window (mean over seeds) that
/// counts as levelled off: 2 %.
pub const LEVELLED: f64 = 0.02;

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
    /// The `metrics.csv` column the windows average.
    pub column: LossColumn,
    /// The last logged step.
    pub steps: u64,
    /// Mean over seeds of each seed's mean loss over the steps in `(1 − 2·WINDOW, 1 − WINDOW]`
    /// of `steps`.
    pub earlier: f64,
    /// The same over the steps in `(1 − WINDOW, 1]`.
    pub last: f64,
    /// Each seed's `last / earlier − 1`: its mean over seeds and 95 % interval (`n`: seeds).
    pub change: MeanInterval,
}

impl Plateau {
    /// Whether the loss has levelled off: `|change| ≤ LEVELLED` (mean over seeds).
    pub fn levelled(&self) -> bool {
        self.change.mean.abs() <= LEVELLED
    }
}

/// The mean of `points` over the steps in `(from·steps, to·steps]`, or `None` when none lies there.
fn window_mean(points: &[(u64, f64)], steps: u64, from: f64, to: f64) -> Option<f64> {
    let losses: Vec<f64> = points
        .iter()
        .filter(|&&(s, _)| s as f64 > from * steps as f64 && s as f64 <= to * steps as f64)
        .map(|&(_, loss)| loss)
        .collect();
    (!losses.is_empty()).then(|| mean_std(&losses).0)
}

/// The plateau of `curve`, or `None` when a seed's window holds no logged point.
pub fn plateau(curve: &Curve) -> Option<Plateau> {
    let steps = curve.points.iter().map(|&(s, _)| s).max()?;
    let mut windows = Vec::new();
    for points in curve.by_seed.values() {
        let earlier = window_mean(points, steps, 1.0 - 2.0 * WINDOW, 1.0 - WINDOW)?;
        let last = window_mean(points, steps, 1.0 - WINDOW, 1.0)?;
        windows.push((earlier, last));
    }
    let mean_of =
        |f: fn(&(f64, f64)) -> f64| mean_std(&windows.iter().map(f).collect::<Vec<_>>()).0;
    let changes: Vec<f64> = windows.iter().map(|(e, l)| l / e - 1.0).collect();
    Some(Plateau {
        model: curve.group.backbone.clone(),
        dataset: curve.group.dataset.clone(),
        shots: curve.group.shots,
        label: curve_label(curve),
        column: curve.column,
        steps,
        earlier: mean_of(|w| w.0),
        last: mean_of(|w| w.1),
        change: MeanInterval::of(&changes),
    })
}

/// Writes `rows` to `path` atomically: `model, dataset, shots, curve, loss_column, seeds, steps,
/// loss_earlier, loss_last, change, change_ci95_low, change_ci95_high, levelled`.
pub fn write(path: &Path, rows: &[Plateau]) -> Result<()> {
    let header = [
        "model",
        "dataset",
        "shots",
        "curve",
        "loss_column",
        "seeds",
        "steps",
        "loss_earlier",
        "loss_last",
        "change",
        "change_ci95_low",
        "change_ci95_high",
        "levelled",
    ]
    .map(String::from);
    let lines = rows.iter().map(|p| {
        vec![
            p.model.clone(),
            p.dataset.clone(),
            optional(p.shots),
            p.label.clone(),
            p.column.name().to_string(),
            p.change.n.to_string(),
            p.steps.to_string(),
            p.earlier.to_string(),
            p.last.to_string(),
            p.change.mean.to_string(),
            optional(p.change.ci95.map(|(lo, _)| lo)),
            optional(p.change.ci95.map(|(_, hi)| hi)),
            p.levelled().to_string(),
        ]
    });
    write_csv(path, &header, lines)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use formats::Method;

    use super::*;
    use crate::report::loss::Logged;
    use crate::report::rows::Group;

    fn group() -> Group {
        Group {
            backbone: "m".into(),
            dataset: "d".into(),
            shots: None,
        }
    }

    /// A curve of one seed per entry of `seeds`, each logging `loss_mean`.
    fn curve(seeds: Vec<Vec<(u64, f64)>>) -> Curve {
        let logged: BTreeMap<u64, Logged> = (1..)
            .zip(seeds)
            .map(|(seed, points)| {
                let logged = Logged {
                    step_loss: points.clone(),
                    interval_mean: Some(points),
                };
                (seed, logged)
            })
            .collect();
        Curve::of(group(), (Method::SerialLora, 8, None), logged)
    }

    #[test]
    fn windows_are_the_last_two_fifths() {
        // Steps 10..=100: the earlier window is 70, 80; the last 90, 100.
        let points = (1..=10).map(|k| (10 * k, k as f64)).collect();
        let p = plateau(&curve(vec![points])).unwrap();
        assert_eq!((p.steps, p.earlier, p.last), (100, 7.5, 9.5));
        assert!((p.change.mean - (9.5 / 7.5 - 1.0)).abs() < 1e-12);
        assert_eq!((p.change.n, p.change.ci95), (1, None));
        assert_eq!(p.label, "Serial LoRA r=8");
        assert_eq!(p.column, LossColumn::IntervalMean);
    }

    #[test]
    fn the_change_is_averaged_over_seeds_with_its_interval() {
        // Seed changes −10 %, 0 %, +5.5 %: mean −1.5 %, sd √0.006175 = 0.07858, half-width
        // t(0.975, 2)·sd/√3 = 4.3027·0.07858/1.7321 = 0.19521.
        let seed = |last: f64| {
            (1..=10)
                .map(|k| (k, if k > 8 { last } else { 1.0 }))
                .collect()
        };
        let p = plateau(&curve(vec![seed(0.9), seed(1.0), seed(1.055)])).unwrap();
        assert!((p.change.mean + 0.015).abs() < 1e-12, "{:?}", p.change);
        let (lo, hi) = p.change.ci95.unwrap();
        assert!((lo + 0.015 + 0.19521).abs() < 1e-4 && (hi + 0.015 - 0.19521).abs() < 1e-4);
        assert_eq!(p.earlier, 1.0);
        assert!((p.last - (0.9 + 1.0 + 1.055) / 3.0).abs() < 1e-12);
        assert!(p.levelled(), "a 1.5 % mean fall is within LEVELLED");
        assert!(!plateau(&curve(vec![seed(0.9)])).unwrap().levelled());
    }

    #[test]
    fn a_flat_tail_has_no_change() {
        let points = (1..=20)
            .map(|k| (k, if k <= 10 { 2.0 } else { 1.0 }))
            .collect();
        let p = plateau(&curve(vec![points])).unwrap();
        assert_eq!(p.change.mean, 0.0);
        assert!(p.levelled());
    }

    #[test]
    fn an_empty_window_gives_none() {
        assert_eq!(plateau(&curve(vec![vec![(100, 1.0)]])), None);
        assert_eq!(plateau(&curve(vec![vec![]])), None);
    }

    #[test]
    fn written_csv_has_one_line_per_curve() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss_plateau.csv");
        let flat: Vec<(u64, f64)> = (1..=10).map(|k| (10 * k, 1.0)).collect();
        write(&path, &[plateau(&curve(vec![flat.clone(), flat])).unwrap()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "model,dataset,shots,curve,loss_column,seeds,steps,loss_earlier,loss_last,change,\
             change_ci95_low,change_ci95_high,levelled\n\
             m,d,,Serial LoRA r=8,loss_mean,2,100,1,1,0,0,0,true\n"
        );
    }
}
