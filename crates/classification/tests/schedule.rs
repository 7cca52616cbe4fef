//! The step-wise validation scoring of a selection run and the schedule it chooses: each point of
//! a run's `validation_curve.csv` equals the validation score of the same run stopped at that step
//! (scoring in between changes nothing), and the grid then trains for the length the rule chose,
//! each method with its candidate best at that length.

use std::path::Path;
use std::process::ExitCode;

use classification::RunSpec;
use formats::schedule::{Curve, SCHEDULE_FILE, VALIDATION_CURVES_FILE};
use formats::selection::{Table, LR_SELECTION_FILE};
use formats::{Method, Selected};
use runner::{Experiment as _, Stage};

mod common;

use common::{finished, read_experiment, run, write_tiny_with};
use runner::RunSpec as _;

/// Every candidate trains 6 steps on the whole pool at a constant learning rate (so a shorter run
/// is the longer one stopped early) and is scored on 3 more images per class every 2 steps.
const SELECT: &str = r#"
[select]
lrs = [1e-3, 3e-3]
plus_ratios = [4.0]
rank = 4
seed = 5
outside_pool_per_class = 3
iters = 6
validate_every = 2
plateau = 0.0
"#;

/// The tiny experiment with LoRA and Serial LoRA at a constant learning rate and `[select]`.
fn experiment(dir: &Path) -> std::path::PathBuf {
    // min_lr at the largest candidate: each candidate's rate is its own floor (constant).
    let constant = [
        ("lr = 1e-3\n", "lr = 3e-3\n"),
        ("min_lr = 1e-6", "min_lr = 3e-3"),
    ];
    write_tiny_with(dir, r#"["lora", "serial_lora"]"#, &constant, SELECT)
}

/// `spec` stopped after `steps` (same data order, same constant learning rate), scored once.
fn stopped_at(spec: &RunSpec, steps: usize) -> RunSpec {
    let mut short = spec.clone();
    short.iters = steps;
    short.optim.total_steps = steps;
    short.validate_every = None;
    short
}

#[test]
fn each_scored_step_equals_the_run_stopped_there_and_the_grid_trains_that_long() {
    let dir = tempfile::tempdir().unwrap();
    let config = experiment(dir.path());
    let results = dir.path().join("results");
    assert_eq!(run(&config, &results, &["--select"]), ExitCode::SUCCESS);
    let task = results.join("classification");

    let experiment = read_experiment(&config);
    let root = formats::paths::repo_root();
    let select = experiment.grid.select.clone().unwrap();
    let candidates = runner::Experiment::runs(&experiment, &root, Stage::Select(&select)).unwrap();
    assert_eq!(candidates.len(), 4);
    for spec in &candidates {
        assert_eq!((spec.iters, spec.validation_outside_pool), (6, Some(3)));
        let curve = Curve::read(&task.join(spec.name())).unwrap().unwrap();
        let steps: Vec<usize> = curve.points.iter().map(|p| p.0).collect();
        assert_eq!(steps, vec![2, 4, 6], "{}", spec.name());
        for (step, score) in &curve.points {
            let alone = dir.path().join(format!("stopped-{step}"));
            let summary = finished(&stopped_at(spec, *step), &alone, None).unwrap();
            assert_eq!(summary.evaluated_on, "validation");
            // The curve stores six digits; the run's own score is the same number unrounded.
            assert_eq!(
                format!("{score:.6}"),
                format!("{:.6}", summary.accuracy),
                "{} at step {step}",
                spec.name()
            );
        }
    }

    // The rule (tolerance 0: no later rise at all) chose one length for both methods, written
    // in schedule.csv and beside each chosen candidate; every candidate is scored at it.
    let schedule = std::fs::read_to_string(task.join(SCHEDULE_FILE)).unwrap();
    let chosen_steps: Vec<usize> = schedule
        .lines()
        .skip(1)
        .filter(|l| l.ends_with(",true"))
        .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        chosen_steps.len(),
        2,
        "one chosen row per method: {schedule}"
    );
    let steps = chosen_steps[0];
    assert_eq!(chosen_steps[1], steps);
    assert!(task.join(VALIDATION_CURVES_FILE).is_file());
    let table = Table::read(&task.join(LR_SELECTION_FILE)).unwrap();
    for (candidate, _) in &table.rows {
        assert_eq!(candidate.steps, Some(steps));
        let spec = candidates
            .iter()
            .find(|s| s.method == candidate.method && s.optim.lr == candidate.lr)
            .unwrap();
        let curve = Curve::read(&task.join(spec.name())).unwrap().unwrap();
        assert_eq!(candidate.score, curve.at(steps));
    }

    // Collecting the same folder again with an experiment that states no tolerance (another
    // experiment sharing the results folder) keeps the schedule and the choices.
    let table_before = std::fs::read(task.join(LR_SELECTION_FILE)).unwrap();
    let other = dir.path().join("other.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&other, text.replace("plateau = 0.0\n", "")).unwrap();
    assert_eq!(
        run(&other, &results, &["--select", "--collect"]),
        ExitCode::SUCCESS
    );
    assert_eq!(
        std::fs::read(task.join(LR_SELECTION_FILE)).unwrap(),
        table_before
    );
    assert_eq!(
        std::fs::read_to_string(task.join(SCHEDULE_FILE)).unwrap(),
        schedule
    );

    // The grid's runs train for that length with their method's choice.
    let selected = Selected::read(&task.join(LR_SELECTION_FILE)).unwrap();
    let runs = experiment.grid_runs(&root, Some(&selected)).unwrap();
    assert_eq!(runs.len(), 2);
    for spec in &runs {
        assert_eq!(spec.iters, steps);
        assert_eq!(spec.optim.total_steps, steps);
        assert_eq!(
            (spec.validation_outside_pool, spec.validate_every),
            (None, None)
        );
        let chosen = selected.get("tiny-dinov2", "faces", spec.method).unwrap();
        assert_eq!(spec.optim.lr, chosen.lr);
        assert!(matches!(spec.method, Method::Lora | Method::SerialLora));
    }
}

#[test]
fn a_tolerance_without_scored_steps_and_two_validation_splits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = experiment(dir.path());
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("validate_every = 2\n", "validation_fraction = 0.5\n");
    std::fs::write(&config, text).unwrap();
    let e: classification::Experiment = runner::read_toml(&config).unwrap();
    let msg = format!("{:#}", e.validate().unwrap_err());
    assert!(
        msg.contains("`select.plateau` needs `select.validate_every`"),
        "{msg}"
    );
    assert!(
        msg.contains("exactly one of `validation_fraction` and `outside_pool_per_class`"),
        "{msg}"
    );
}
