//! Learning-rate selection through the runner: `--select` trains every candidate on part of the
//! few-shot pool, scores it on the held-out rest and writes `lr_selection.csv`; the grid then
//! trains each method with its chosen values. A grid run whose choice is missing selects first,
//! for exactly the (data set, method) pairs it needs; listing or sharding refuses instead.

use std::path::Path;
use std::process::ExitCode;

use classification::{RunSpec, Summary};
use formats::run::read_json;

mod common;

use common::{run, write_tiny_with};

const SELECT: &str = r#"
[select]
lrs = [1e-3, 1e-2]
plus_ratios = [4.0, 16.0]
rank = 4
seed = 5
validation_fraction = 0.5
"#;

/// The tiny experiment with LoRA and LoRA+ only, 2 steps, and a `[select]` section.
fn experiment(dir: &Path) -> std::path::PathBuf {
    write_tiny_with(
        dir,
        r#"["lora", "lora_plus"]"#,
        &[("iters = 4", "iters = 2")],
        SELECT,
    )
}

#[derive(serde::Deserialize)]
struct Row {
    method: String,
    lr: f64,
    plus_ratio: f64,
    validation_accuracy: f64,
    chosen: bool,
}

#[test]
fn the_grid_trains_with_the_learning_rates_chosen_on_validation() {
    let dir = tempfile::tempdir().unwrap();
    let config = experiment(dir.path());
    let results = dir.path().join("results");

    assert_eq!(
        run(&config, &results, &["--method", "lora", "--list"]),
        ExitCode::FAILURE,
        "no selection yet: a listing cannot select first"
    );
    assert_eq!(
        run(&config, &results, &["--method", "lora", "--shard", "0/2"]),
        ExitCode::FAILURE,
        "nor can one shard of several"
    );
    // One method on new data in one command: its selection first, then its runs, nothing else.
    assert_eq!(
        run(&config, &results, &["--method", "lora"]),
        ExitCode::SUCCESS
    );
    let task = results.join("classification");
    let mut reader = csv::Reader::from_path(task.join("lr_selection.csv")).unwrap();
    let rows: Vec<Row> = reader.deserialize().map(Result::unwrap).collect();
    assert!(
        rows.len() == 2 && rows.iter().all(|r| r.method == "lora"),
        "only LoRA's two candidates were selected"
    );
    let lora_run = task.join("tiny-dinov2_faces_2shot_lora_r4_seed3");
    assert!(
        lora_run.join("summary.json").is_file(),
        "LoRA's run finished"
    );
    assert!(
        !task
            .join("tiny-dinov2_faces_2shot_lora_plus_r4_seed3")
            .exists(),
        "LoRA+ was not asked for"
    );

    assert_eq!(run(&config, &results, &["--select"]), ExitCode::SUCCESS);

    let mut reader = csv::Reader::from_path(task.join("lr_selection.csv")).unwrap();
    let rows: Vec<Row> = reader.deserialize().map(Result::unwrap).collect();
    assert_eq!(
        rows.len(),
        2 + 2 * 2,
        "LoRA: 2 learning rates; LoRA+: 2 × 2 ratios"
    );
    for method in ["lora", "lora_plus"] {
        let of = |r: &&Row| r.method == method;
        let chosen: Vec<&Row> = rows.iter().filter(of).filter(|r| r.chosen).collect();
        assert_eq!(chosen.len(), 1, "{method}: one chosen row");
        let best = rows
            .iter()
            .filter(of)
            .map(|r| r.validation_accuracy)
            .fold(f64::MIN, f64::max);
        assert_eq!(chosen[0].validation_accuracy, best, "{method}");
    }
    for entry in std::fs::read_dir(task.join("selection")).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        let summary: Summary = read_json(&path.join("summary.json")).unwrap();
        assert_eq!(summary.evaluated_on, "validation", "{}", path.display());
        let spec: RunSpec = read_json(&path.join("config.json")).unwrap();
        assert_eq!((spec.seed, spec.rank), (5, 4), "the [select] seed and rank");
        assert_eq!(spec.validation_per_class, Some(1), "half of 2 shots");
    }

    assert_eq!(run(&config, &results, &[]), ExitCode::SUCCESS);
    for method in ["lora", "lora_plus"] {
        let chosen = rows
            .iter()
            .find(|r| r.method == method && r.chosen)
            .unwrap();
        let run = task.join(format!("tiny-dinov2_faces_2shot_{method}_r4_seed3"));
        let spec: RunSpec = read_json(&run.join("config.json")).unwrap();
        assert_eq!(spec.optim.lr, chosen.lr, "{method}");
        assert_eq!(spec.optim.lr_ratio, chosen.plus_ratio, "{method}");
        assert_eq!(
            spec.validation_per_class, None,
            "the grid trains on every shot"
        );
        let summary: Summary = read_json(&run.join("summary.json")).unwrap();
        assert_eq!(summary.evaluated_on, "test");
        assert_eq!(summary.lr, chosen.lr);
    }
}

#[test]
fn a_validation_split_that_leaves_nothing_to_train_on_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = experiment(dir.path());
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("validation_fraction = 0.5", "validation_fraction = 0.9");
    std::fs::write(&config, text).unwrap();
    let e: classification::Experiment = runner::read_toml(&config).unwrap();
    let msg = format!("{:#}", runner::Experiment::validate(&e).unwrap_err());
    assert!(
        msg.contains("select.validation_fraction") && msg.contains("holds out 2 of 2"),
        "{msg}"
    );
}

#[test]
fn a_diverging_candidate_is_recorded_and_never_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let config = experiment(dir.path());
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("lrs = [1e-3, 1e-2]", "lrs = [1e-3, 1e30]")
        .replace(
            r#"methods = ["lora", "lora_plus"]"#,
            r#"methods = ["lora"]"#,
        );
    std::fs::write(&config, text).unwrap();
    let results = dir.path().join("results");
    for _ in 0..2 {
        // The second pass finds the record and does not train the candidate again.
        assert_eq!(run(&config, &results, &["--select"]), ExitCode::SUCCESS);
    }
    let task = results.join("classification");
    let diverged = task
        .join("selection/tiny-dinov2_faces_2shot_lora_r4_seed5_lr1000000000000000000000000000000");
    assert!(
        diverged.join("diverged.json").is_file(),
        "{}",
        diverged.display()
    );
    assert!(!diverged.join("summary.json").exists());
    let mut reader = csv::Reader::from_path(task.join("lr_selection.csv")).unwrap();
    let rows: Vec<Row> = reader.deserialize().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let bad = rows.iter().find(|r| r.lr == 1e30).unwrap();
    assert!(bad.validation_accuracy.is_nan() && !bad.chosen);
    assert!(rows.iter().any(|r| r.lr == 1e-3 && r.chosen));
}
