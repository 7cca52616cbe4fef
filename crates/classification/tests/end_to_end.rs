//! A tiny end-to-end run of the classification runner: the zoo's tiny random DINOv2 fixture on the
//! packaged faces data set (needs `make setup`), a few steps per method.

use std::path::{Path, PathBuf};

use classification::{run, Experiment, Method, Overrides, SUMMARY_COLUMNS};

/// Runs seed libtorch's global RNG, so tests of this file must not run them concurrently.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn experiment(iters: usize) -> Experiment {
    let text = format!(
        r#"
backbone = "tiny-dinov2"
model_dir = "crates/zoo/tests/fixtures/dinov2"
datasets = ["faces"]
shots = [2]
seeds = [3]
methods = ["probe", "lora", "serial_lora", "lora_plus", "serial_lora_plus"]
ranks = [4]
iters = {iters}
batch_size = 4
resolution = 12
test_limit = 20
logit_scale = 10.0
checkpoint_every = 2

[adapter]
alpha = 4.0
targets = ["q", "k", "v", "o"]
plus_ratio = 16.0

[optim]
lr = 1e-3
full_lr = 1e-4
weight_decay = 0.01
min_lr = 1e-6
"#
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.toml");
    std::fs::write(&path, text).unwrap();
    Experiment::from_file(&path).unwrap()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_method_writes_its_files_and_summary_row() {
    let _guard = exclusive();
    let results = tempfile::tempdir().unwrap();
    let runs = experiment(4).runs(&root()).unwrap();
    assert_eq!(runs.len(), 5);
    for spec in &runs {
        let summary = run(spec, results.path(), None).unwrap().expect("finished");
        assert_eq!(summary.steps, 4);
        assert!((0.0..=1.0).contains(&summary.accuracy));
        let dir = results.path().join("classification").join(spec.name());
        for file in ["config.json", "metrics.csv", "summary.json", "fewshot.json"] {
            assert!(dir.join(file).exists(), "{} lacks {file}", spec.name());
        }
        let adapter_files = dir.join("adapter_model.safetensors").exists()
            && dir.join("adapter_config.json").exists();
        assert_eq!(adapter_files, spec.method.has_adapter(), "{}", spec.name());
        assert!(
            !dir.join("checkpoint").exists(),
            "finished runs drop their checkpoint"
        );
        let config: serde_json::Value =
            serde_json::from_slice(&read(&dir.join("config.json"))).unwrap();
        for field in ["backbone", "model_dir", "method", "rank"] {
            assert!(
                config.get(field).is_some(),
                "config.json lacks `{field}` (analysis svd reads it)"
            );
        }
    }
    let mut reader =
        csv::Reader::from_path(results.path().join("classification/summary.csv")).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header, SUMMARY_COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 5);
    let params = |method: &str| -> i64 {
        rows.iter().find(|r| &r[4] == method).unwrap()[6]
            .parse()
            .unwrap()
    };
    assert_eq!(params("probe"), 0);
    assert_eq!(
        params("lora"),
        8 * 48 * 4 * 2,
        "LoRA q,k,v,o: 8·d·r per block, 2 blocks"
    );
    assert_eq!(
        4 * params("serial_lora"),
        params("lora"),
        "Serial LoRA has 1/4 of LoRA's parameters"
    );
    assert_eq!(params("serial_lora_plus"), params("serial_lora"));

    // A finished run is not repeated and adds no row.
    run(&runs[1], results.path(), None).unwrap();
    let again = csv::Reader::from_path(results.path().join("classification/summary.csv"))
        .unwrap()
        .records()
        .count();
    assert_eq!(again, 5);
}

#[test]
fn a_stopped_run_resumes_to_the_same_result() {
    let _guard = exclusive();
    let narrow = Overrides {
        method: Some(Method::SerialLoraPlus),
        ..Default::default()
    };
    let spec = experiment(7)
        .narrow(&narrow)
        .runs(&root())
        .unwrap()
        .remove(0);
    let straight = tempfile::tempdir().unwrap();
    let a = run(&spec, straight.path(), None).unwrap().unwrap();
    let interrupted = tempfile::tempdir().unwrap();
    assert!(
        run(&spec, interrupted.path(), Some(3)).unwrap().is_none(),
        "stops after 3 of 7 steps"
    );
    let dir = interrupted.path().join("classification").join(spec.name());
    assert!(dir.join("checkpoint").exists());
    assert!(!dir.join("summary.json").exists());
    assert!(
        run(&spec, interrupted.path(), Some(2)).unwrap().is_none(),
        "5 of 7 steps"
    );
    let b = run(&spec, interrupted.path(), None).unwrap().unwrap();
    assert_eq!(a.accuracy, b.accuracy);
    assert_eq!(a.zero_shot_accuracy, b.zero_shot_accuracy);
    let straight_dir = straight.path().join("classification").join(spec.name());
    for file in ["adapter_model.safetensors", "metrics.csv", "fewshot.json"] {
        assert_eq!(
            read(&straight_dir.join(file)),
            read(&dir.join(file)),
            "{file} differs after resuming"
        );
    }
}

#[test]
fn bad_experiment_files_are_named() {
    let _guard = exclusive();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "backbone = \"x\"\nmodel_dir = \"m\"\ncolour = 1\n").unwrap();
    let err = format!("{:#}", Experiment::from_file(&path).unwrap_err());
    assert!(err.contains("bad.toml") && err.contains("colour"), "{err}");

    let spec = experiment(2)
        .narrow(&Overrides {
            dataset: Some("imagenet-21k".into()),
            ..Default::default()
        })
        .runs(&root())
        .unwrap()
        .remove(0);
    let err = format!("{:#}", run(&spec, dir.path(), None).unwrap_err());
    assert!(err.contains("unknown data set `imagenet-21k`"), "{err}");
}
