//! Validation curves of selection runs and the schedule rule chosen from them.
//!
//! A selection run with `[select] validate_every` scores its validation split every that many
//! steps (`validation_curve.csv` in its folder; the last point is its finished score). The
//! schedule rule then takes, per (backbone, data set), the first scored step after which no
//! method's best candidate rises by more than a stated tolerance: the grid trains that long, and
//! each method's candidate is chosen by its score at that step.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::method::Method;
use crate::selection::{read_candidates, Candidate};

/// One selection run's curve: `<run>/validation_curve.csv` (`step`, `validation_<score>`).
pub const VALIDATION_CURVE_FILE: &str = "validation_curve.csv";
/// Every candidate's curve, collected: `<results>/<task>/validation_curves.csv`.
pub const VALIDATION_CURVES_FILE: &str = "validation_curves.csv";
/// The schedule rule's steps and outcome: `<results>/<task>/schedule.csv`.
pub const SCHEDULE_FILE: &str = "schedule.csv";

/// A validation curve: scores by step, ascending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Curve {
    /// (step, score) pairs, steps ascending and distinct.
    pub points: Vec<(usize, f64)>,
}

impl Curve {
    /// The curve in run folder `dir`, if it has one.
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(VALIDATION_CURVE_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let csv_error = |e: csv::Error| Error::parse(&path, e.to_string());
        let mut reader = csv::Reader::from_path(&path).map_err(csv_error)?;
        let mut points = Vec::new();
        for (line, record) in reader.records().enumerate() {
            let record = record.map_err(csv_error)?;
            let value = |i: usize| record.get(i).unwrap_or("");
            let step = value(0).parse::<usize>();
            let score = value(1).parse::<f64>();
            match (step, score) {
                (Ok(step), Ok(score)) => points.push((step, score)),
                _ => {
                    return Err(Error::parse(
                        &path,
                        format!("row {}: cannot read `{}`", line + 1, record.as_slice()),
                    ))
                }
            }
        }
        Ok(Some(Self { points }))
    }

    /// Records `score` at `step` in run folder `dir` (atomically), dropping any point at `step`
    /// or later first: a run resumed from an earlier checkpoint writes those again.
    pub fn record(dir: &Path, score_name: &str, step: usize, score: f64) -> Result<()> {
        let mut curve = Self::read(dir)?.unwrap_or_default();
        curve.points.retain(|&(s, _)| s < step);
        curve.points.push((step, score));
        let mut text = format!("step,validation_{score_name}\n");
        for (s, v) in &curve.points {
            text.push_str(&format!("{s},{v:.6}\n"));
        }
        write_atomic(&dir.join(VALIDATION_CURVE_FILE), text.as_bytes())
    }

    /// The score at `step` (NaN where the curve has none: the run diverged before it).
    pub fn at(&self, step: usize) -> f64 {
        self.points
            .iter()
            .find(|&&(s, _)| s == step)
            .map_or(f64::NAN, |&(_, v)| v)
    }
}

/// A score for ranking, higher is better; NaN (diverged, or absent) ranks below every number.
fn ranked(score: f64, minimise: bool) -> f64 {
    match (score.is_nan(), minimise) {
        (true, _) => f64::NEG_INFINITY,
        (false, true) => -score,
        (false, false) => score,
    }
}

/// One method's best candidate at one step of the rule.
#[derive(Debug, Clone, PartialEq)]
pub struct BestAt {
    /// The step.
    pub step: usize,
    /// The best candidate's score there.
    pub score: f64,
    /// Its learning rate and λ.
    pub lr: f64,
    /// λ (1 without a `+`).
    pub plus_ratio: f64,
    /// How far the method's best score still improves at any later step (0 if never).
    pub rise_after: f64,
}

/// The rule's outcome for one (backbone, data set).
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The chosen length: the first step after which no method's best rises by more than the
    /// tolerance.
    pub steps: usize,
    /// Per method, its best candidate at every scored step.
    pub best: BTreeMap<Method, Vec<BestAt>>,
}

/// The schedule rule over `curves` (each candidate's curve; candidates of one backbone and data
/// set): at each step every method's best score over its candidates, and the first step after
/// which none rises by more than `tolerance` (in the better direction: down when `minimise`).
/// Only steps that every curve was scored at (or diverged before) count. `None` without curves.
pub fn plateau(
    curves: &[(&Candidate, &Curve)],
    tolerance: f64,
    minimise: bool,
) -> Option<Schedule> {
    let steps: BTreeSet<usize> = curves
        .iter()
        .flat_map(|(_, c)| c.points.iter().map(|&(s, _)| s))
        .collect();
    let longest = curves
        .iter()
        .filter_map(|(_, c)| c.points.last())
        .map(|p| p.0)
        .max()?;
    let steps: Vec<usize> = steps
        .into_iter()
        .filter(|&s| {
            curves.iter().all(|(_, c)| {
                c.points.iter().any(|&(p, _)| p == s)
                    || c.points.last().is_some_and(|&(p, _)| p < s && p < longest)
            })
        })
        .collect();
    let mut best: BTreeMap<Method, Vec<BestAt>> = BTreeMap::new();
    for &step in &steps {
        let mut at: BTreeMap<Method, (&Candidate, f64)> = BTreeMap::new();
        for (candidate, curve) in curves {
            let score = curve.at(step);
            let entry = at.entry(candidate.method).or_insert((candidate, score));
            if ranked(score, minimise) > ranked(entry.1, minimise) {
                *entry = (candidate, score);
            }
        }
        for (method, (candidate, score)) in at {
            best.entry(method).or_default().push(BestAt {
                step,
                score,
                lr: candidate.lr,
                plus_ratio: candidate.plus_ratio,
                rise_after: 0.0,
            });
        }
    }
    for points in best.values_mut() {
        let mut later = f64::NEG_INFINITY;
        for point in points.iter_mut().rev() {
            let here = ranked(point.score, minimise);
            point.rise_after = if later > here { later - here } else { 0.0 };
            later = later.max(here);
        }
    }
    let chosen = steps
        .iter()
        .copied()
        .find(|&s| {
            best.values().all(|points| {
                points
                    .iter()
                    .find(|p| p.step == s)
                    .is_some_and(|p| p.rise_after <= tolerance)
            })
        })
        .unwrap_or(longest);
    Some(Schedule {
        steps: chosen,
        best,
    })
}

/// Writes `path` (atomically): every candidate's curve, one row per (candidate, step).
pub fn write_curves(path: &Path, score_name: &str, curves: &[(Candidate, Curve)]) -> Result<()> {
    let mut text =
        format!("backbone,dataset,method,rank,seed,lr,plus_ratio,step,validation_{score_name}\n");
    for (c, curve) in curves {
        for (step, score) in &curve.points {
            text.push_str(&format!(
                "{},{},{},{},{},{},{},{step},{score:.6}\n",
                c.backbone, c.dataset, c.method, c.rank, c.seed, c.lr, c.plus_ratio
            ));
        }
    }
    write_atomic(path, text.as_bytes())
}

/// Reads `path` as [`write_curves`] writes it: every candidate (its `score` NaN) with its curve,
/// in the file's order; errors name the file and row.
pub fn read_curves(path: &Path) -> Result<Vec<(Candidate, Curve)>> {
    let (_, rows) = read_candidates(path, |row| row.number::<usize>("step"))?;
    let mut curves: Vec<(Candidate, Curve)> = Vec::new();
    for (mut candidate, step) in rows {
        let point = (step, candidate.score);
        candidate.score = f64::NAN;
        match curves.last_mut() {
            Some((last, curve)) if same_candidate(last, &candidate) => curve.points.push(point),
            _ => curves.push((
                candidate,
                Curve {
                    points: vec![point],
                },
            )),
        }
    }
    Ok(curves)
}

/// Whether `a` and `b` are the same candidate (every setting equal; scores aside).
fn same_candidate(a: &Candidate, b: &Candidate) -> bool {
    (&a.backbone, &a.dataset, a.method, a.rank, a.seed)
        == (&b.backbone, &b.dataset, b.method, b.rank, b.seed)
        && a.lr == b.lr
        && a.plus_ratio == b.plus_ratio
}

/// One (backbone, data set)'s schedule with the tolerance the rule used.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSchedule {
    /// (backbone, data set).
    pub group: (String, String),
    /// The rule's tolerance.
    pub tolerance: f64,
    /// The rule's outcome.
    pub schedule: Schedule,
}

/// Writes `path` (atomically): per (backbone, data set), each method's best candidate at every
/// scored step, how much it still rises later, the tolerance and the chosen length.
pub fn write_schedules(path: &Path, score_name: &str, schedules: &[GroupSchedule]) -> Result<()> {
    let mut text = format!(
        "backbone,dataset,method,step,best_validation_{score_name},best_lr,best_plus_ratio,\
         rise_after,tolerance,chosen\n"
    );
    for g in schedules {
        let (backbone, dataset) = &g.group;
        for (method, points) in &g.schedule.best {
            for p in points {
                text.push_str(&format!(
                    "{backbone},{dataset},{method},{},{:.6},{},{},{:.6},{},{}\n",
                    p.step,
                    p.score,
                    p.lr,
                    p.plus_ratio,
                    p.rise_after,
                    g.tolerance,
                    p.step == g.schedule.steps
                ));
            }
        }
    }
    write_atomic(path, text.as_bytes())
}

/// The tolerance each (backbone, data set) of the `schedule.csv` at `path` was chosen with (none
/// where the file is absent): a later collection of the same folder by an experiment without
/// `[select] plateau` keeps those groups' schedules.
pub fn read_tolerances(path: &Path) -> Result<BTreeMap<(String, String), f64>> {
    let mut out = BTreeMap::new();
    if !path.is_file() {
        return Ok(out);
    }
    let csv_error = |e: csv::Error| Error::parse(path, e.to_string());
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let headers = reader.headers().map_err(csv_error)?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::parse(path, format!("has no `{name}` column")))
    };
    let (b, d, t) = (
        column("backbone")?,
        column("dataset")?,
        column("tolerance")?,
    );
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(csv_error)?;
        let value = |i: usize| record.get(i).unwrap_or("");
        let tolerance = value(t).parse::<f64>().map_err(|_| {
            Error::parse(
                path,
                format!("row {}, `tolerance`: cannot read `{}`", line + 1, value(t)),
            )
        })?;
        out.insert((value(b).to_string(), value(d).to_string()), tolerance);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(method: Method, lr: f64) -> Candidate {
        Candidate {
            backbone: "vit".into(),
            dataset: "cifar10".into(),
            method,
            rank: 8,
            seed: 1,
            lr,
            plus_ratio: 1.0,
            score: f64::NAN,
            steps: None,
        }
    }

    fn curve(points: &[(usize, f64)]) -> Curve {
        Curve {
            points: points.to_vec(),
        }
    }

    #[test]
    fn the_rule_waits_for_the_slowest_method_and_reads_the_best_candidate() {
        // LoRA levels at 200; Serial LoRA's best candidate (lr 1e-3) still rises by 0.10 after
        // 200 and by 0.005 after 300: the schedule is 300 at tolerance 0.01.
        let lora = [candidate(Method::Lora, 1e-4), candidate(Method::Lora, 1e-3)];
        let serial = [
            candidate(Method::SerialLora, 1e-4),
            candidate(Method::SerialLora, 1e-3),
        ];
        let curves = [
            curve(&[(100, 0.50), (200, 0.70), (300, 0.705), (400, 0.70)]),
            curve(&[(100, 0.60), (200, 0.65), (300, 0.66), (400, 0.66)]),
            curve(&[(100, 0.40), (200, 0.45), (300, 0.50), (400, 0.52)]),
            curve(&[(100, 0.45), (200, 0.55), (300, 0.65), (400, 0.655)]),
        ];
        let pairs: Vec<(&Candidate, &Curve)> =
            lora.iter().chain(&serial).zip(curves.iter()).collect();
        let schedule = plateau(&pairs, 0.01, false).unwrap();
        assert_eq!(schedule.steps, 300);
        let serial_best = &schedule.best[&Method::SerialLora];
        assert_eq!(serial_best[1].lr, 1e-3);
        assert!((serial_best[1].rise_after - 0.105).abs() < 1e-12);
        let lora_best = &schedule.best[&Method::Lora];
        assert_eq!(lora_best[0].lr, 1e-3, "at 100 the larger rate leads");
        assert_eq!(lora_best[1].lr, 1e-4, "at 200 the smaller one");
        assert!((lora_best[1].rise_after - 0.005).abs() < 1e-12);
        // A looser tolerance stops earlier; a zero one waits for the last rise.
        assert_eq!(plateau(&pairs, 0.2, false).unwrap().steps, 200);
        assert_eq!(plateau(&pairs, 0.25, false).unwrap().steps, 100);
        assert_eq!(plateau(&pairs, 0.0, false).unwrap().steps, 400);
    }

    #[test]
    fn a_minimised_score_rises_downward_and_a_diverged_curve_never_leads() {
        let a = candidate(Method::Lora, 1e-3);
        let b = candidate(Method::Lora, 1e-2);
        let slow = curve(&[(10, 0.9), (20, 0.5), (30, 0.49)]);
        // Diverged after step 10: absent later, so never the best there.
        let diverged = curve(&[(10, 0.95)]);
        let pairs = [(&a, &slow), (&b, &diverged)];
        let schedule = plateau(&pairs, 0.02, true).unwrap();
        // At 10 the best (0.9) still falls by 0.41; at 20 (0.5) by 0.01.
        assert_eq!(schedule.steps, 20);
        let best = &schedule.best[&Method::Lora];
        assert_eq!((best[0].lr, best[1].lr, best[2].lr), (1e-3, 1e-3, 1e-3));
        assert!((best[0].rise_after - 0.41).abs() < 1e-12);
        assert!(plateau(&[], 0.01, false).is_none());
    }

    #[test]
    fn a_resumed_run_records_its_steps_again_without_repeats() {
        let dir = tempfile::tempdir().unwrap();
        for (step, score) in [(2, 0.5), (4, 0.6), (6, 0.7)] {
            Curve::record(dir.path(), "accuracy", step, score).unwrap();
        }
        // Resumed from step 4's checkpoint: 4 again, then 6.
        Curve::record(dir.path(), "accuracy", 4, 0.6).unwrap();
        Curve::record(dir.path(), "accuracy", 6, 0.7).unwrap();
        let read = Curve::read(dir.path()).unwrap().unwrap();
        assert_eq!(read.points, vec![(2, 0.5), (4, 0.6), (6, 0.7)]);
        assert!(read.at(3).is_nan());
        let text = std::fs::read_to_string(dir.path().join(VALIDATION_CURVE_FILE)).unwrap();
        assert!(text.starts_with("step,validation_accuracy\n"), "{text}");
    }

    #[test]
    fn collected_curves_read_back_per_candidate_and_bad_rows_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VALIDATION_CURVES_FILE);
        let curves = vec![
            (
                candidate(Method::Lora, 1e-3),
                curve(&[(100, 0.5), (200, 0.625)]),
            ),
            (candidate(Method::Lora, 3e-3), curve(&[(100, 0.25)])),
            (
                candidate(Method::SerialLora, 1e-3),
                curve(&[(100, 0.375), (200, 0.75)]),
            ),
        ];
        write_curves(&path, "accuracy", &curves).unwrap();
        let read = read_curves(&path).unwrap();
        assert_eq!(read.len(), 3);
        for ((want, want_curve), (got, got_curve)) in curves.iter().zip(&read) {
            assert_eq!(
                (got.method, got.lr, got.steps),
                (want.method, want.lr, None)
            );
            assert_eq!(got_curve, want_curve);
            assert!(got.score.is_nan());
        }
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace(",200,", ",two,");
        std::fs::write(&path, text).unwrap();
        let msg = read_curves(&path).unwrap_err().to_string();
        assert!(
            msg.contains(VALIDATION_CURVES_FILE) && msg.contains("`step`"),
            "{msg}"
        );
    }
}
