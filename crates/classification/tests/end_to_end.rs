//! A tiny end-to-end run of the classification runner on the engine: the zoo's tiny random
//! DINOv2 fixture on the packaged faces data set (needs `make setup`), a few steps per method.
//! Nothing here draws from libtorch's global generator, so the tests run concurrently.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use classification::{Classification, Experiment, RunSpec, Summary};
use formats::{Method, Precision, SummaryRow};
use runner::{run_one, Outcome, RunLock};

mod common;

use common::{finished, grid, tiny_runs, write_tiny};
use runner::RunSpec as _;

/// Writes the tiny experiment with `iters` steps into `dir`; returns its path.
fn experiment_file(dir: &Path, iters: usize) -> PathBuf {
    write_tiny(dir, &[("iters = 4", &format!("iters = {iters}"))])
}

fn runs(iters: usize) -> Vec<RunSpec> {
    tiny_runs(&[("iters = 4", &format!("iters = {iters}"))])
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_method_writes_its_files_and_summary_row() {
    let results = tempfile::tempdir().unwrap();
    let runs = runs(4);
    assert_eq!(runs.len(), 5);
    for spec in &runs {
        let summary = finished(spec, results.path(), None).expect("finished");
        assert_eq!(summary.training.steps, 4);
        assert!((0.0..=1.0).contains(&summary.accuracy));
        let dir = results.path().join("classification").join(spec.name());
        for file in [
            "config.json",
            "metrics.csv",
            "summary.json",
            "fewshot.json",
            "numerics.json",
        ] {
            assert!(dir.join(file).exists(), "{} lacks {file}", spec.name());
        }
        // The numerics it computed under, complete: the same signature promises the same bits.
        let numerics = formats::Numerics::read(&dir).unwrap().unwrap();
        assert!(numerics.complete(), "{numerics:?}");
        assert_eq!(numerics.threads, Some(tch::get_num_threads() as usize));
        assert_eq!(numerics.precision, spec.precision);
        let adapter_files = dir.join("adapter_model.safetensors").exists()
            && dir.join("adapter_config.json").exists();
        assert_eq!(adapter_files, spec.method.has_adapter(), "{}", spec.name());
        assert!(
            !dir.join("checkpoint").exists(),
            "finished runs drop their checkpoint"
        );
        let config: serde_json::Value =
            serde_json::from_slice(&read(&dir.join("config.json"))).unwrap();
        for field in ["backbone", "model_dir", "method", "rank", "seed"] {
            assert!(
                config.get(field).is_some(),
                "config.json lacks `{field}` (analysis svd reads it)"
            );
        }
        assert_eq!(
            config["model_dir"], "crates/zoo/tests/fixtures/dinov2",
            "paths inside the repository are stored relative to its root"
        );
    }
    runner::collect::<Classification>(results.path()).unwrap();
    let mut reader =
        csv::Reader::from_path(results.path().join("classification/summary.csv")).unwrap();
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(header, Summary::COLUMNS);
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

    // A finished run is not repeated, and collecting again adds no row.
    let before = read(
        &results
            .path()
            .join("classification")
            .join(runs[1].name())
            .join("metrics.csv"),
    );
    finished(&runs[1], results.path(), None).unwrap();
    runner::collect::<Classification>(results.path()).unwrap();
    assert_eq!(
        before,
        read(
            &results
                .path()
                .join("classification")
                .join(runs[1].name())
                .join("metrics.csv")
        )
    );
    let again = csv::Reader::from_path(results.path().join("classification/summary.csv"))
        .unwrap()
        .records()
        .count();
    assert_eq!(again, 5);
}

#[test]
fn a_stopped_run_resumes_to_the_same_result() {
    let spec = runs(7)
        .into_iter()
        .find(|r| r.method == Method::SerialLoraPlus)
        .unwrap();
    let straight = tempfile::tempdir().unwrap();
    let a = finished(&spec, straight.path(), None).unwrap();
    let interrupted = tempfile::tempdir().unwrap();
    assert!(
        finished(&spec, interrupted.path(), Some(3)).is_none(),
        "stops after 3 of 7 steps"
    );
    let dir = interrupted.path().join("classification").join(spec.name());
    assert!(dir.join("checkpoint").exists());
    assert!(!dir.join("summary.json").exists());
    assert!(
        finished(&spec, interrupted.path(), Some(2)).is_none(),
        "5 of 7 steps"
    );
    let b = finished(&spec, interrupted.path(), None).unwrap();
    assert_eq!(a.accuracy, b.accuracy);
    assert_eq!(a.zero_shot_accuracy, b.zero_shot_accuracy);
    let straight_dir = straight.path().join("classification").join(spec.name());
    for file in [
        "adapter_model.safetensors",
        "metrics.csv",
        "fewshot.json",
        "numerics.json",
    ] {
        assert_eq!(
            read(&straight_dir.join(file)),
            read(&dir.join(file)),
            "{file} differs after resuming"
        );
    }
    // Started under other numerics (as if on 64 threads) and resumed here: marked mixed.
    let other = tempfile::tempdir().unwrap();
    assert!(finished(&spec, other.path(), Some(3)).is_none());
    let dir = other.path().join("classification").join(spec.name());
    let mut started = formats::Numerics::read(&dir).unwrap().unwrap();
    started.threads = Some(64);
    started.write(&dir).unwrap();
    assert!(finished(&spec, other.path(), None).is_some());
    let numerics = formats::Numerics::read(&dir).unwrap().unwrap();
    assert!(numerics.mixed && !numerics.complete(), "{numerics:?}");
}

#[test]
fn bad_experiment_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "backbone = \"x\"\nmodel_dir = \"m\"\ncolour = 1\n").unwrap();
    let err = format!("{:#}", runner::read_toml::<Experiment>(&path).unwrap_err());
    assert!(
        err.contains("bad.toml") && err.contains("unknown field `colour` (line 3)"),
        "{err}"
    );
    // A wrong value, of a shared field or of the task's, is shown with its line and key.
    let good = std::fs::read_to_string(
        formats::paths::repo_root().join("experiments/dinov2_packaged_quick.toml"),
    )
    .unwrap();
    for (field, bad) in [
        ("seeds", "seeds = \"x\""),
        ("batch_size", "batch_size = \"x\""),
    ] {
        let line = good
            .lines()
            .position(|l| l.starts_with(&format!("{field} =")))
            .unwrap();
        let text: Vec<&str> = good
            .lines()
            .enumerate()
            .map(|(i, l)| if i == line { bad } else { l })
            .collect();
        std::fs::write(&path, text.join("\n")).unwrap();
        let err = format!("{:#}", runner::read_toml::<Experiment>(&path).unwrap_err());
        let at = format!("line {}", line + 1);
        assert!(
            err.contains("bad.toml") && err.contains(&at) && err.contains(bad),
            "{err}"
        );
    }

    let mut spec = runs(2).remove(0);
    spec.dataset = "imagenet-21k".into();
    let err = format!(
        "{:#}",
        run_one::<Classification>(&spec, dir.path(), None).unwrap_err()
    );
    assert!(err.contains("unknown data set `imagenet-21k`"), "{err}");
}

#[test]
fn a_run_is_its_configuration_a_changed_setting_is_refused() {
    let results = tempfile::tempdir().unwrap();
    let smoke = runs(2).remove(1);
    finished(&smoke, results.path(), None).unwrap();
    let real = runs(4).remove(1);
    assert_eq!(smoke.name(), real.name());
    let err = format!(
        "{:#}",
        run_one::<Classification>(&real, results.path(), None).unwrap_err()
    );
    assert!(
        err.contains("another configuration") && err.contains("`iters`: 2 there, 4 now"),
        "{err}"
    );
}

#[test]
fn a_run_held_by_another_process_is_skipped() {
    let results = tempfile::tempdir().unwrap();
    let spec = runs(2).remove(0);
    let dir = results.path().join("classification").join(spec.name());
    std::fs::create_dir_all(&dir).unwrap();
    let _held = RunLock::try_acquire(&dir).unwrap().unwrap();
    assert!(matches!(
        run_one::<Classification>(&spec, results.path(), None).unwrap(),
        Outcome::Busy
    ));
    assert!(!dir.join("summary.json").exists());
}

#[test]
fn the_grid_goes_on_past_a_failed_run_and_exits_non_zero() {
    let work = tempfile::tempdir().unwrap();
    let config = experiment_file(work.path(), 2);
    let results = work.path().join("results");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "--config",
            config.to_str().unwrap(),
            "--results",
            results.to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        grid(&a)
    };
    // --list names every selected run folder.
    let selected = runner::select::<Classification>(&args(&["--method", "lora"]), |_| {})
        .unwrap()
        .1;
    assert_eq!(selected.len(), 1);
    // The runs on a missing folder fail; the grid goes on with the faces runs, collects them and
    // exits non-zero.
    let code = runner::engine::main::<Classification>(&args(&[]), |e: &mut Experiment| {
        e.task.datasets = vec!["folder:does/not/exist".into(), "faces".into()];
        e.grid.methods = vec![Method::Lora, Method::SerialLora];
    });
    assert_eq!(code, ExitCode::FAILURE);
    let summary = std::fs::read_to_string(results.join("classification/summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 2, "{summary}");
    assert!(
        summary.lines().skip(1).all(|l| l.contains(",faces,")),
        "{summary}"
    );
    let err = format!(
        "{:#}",
        runner::select::<Classification>(&args(&["--rank", "99"]), |_| {}).unwrap_err()
    );
    assert!(err.contains("no run of its 5 matches --rank 99"), "{err}");
}

#[test]
fn two_data_set_paths_with_one_run_name_do_not_collide_silently() {
    let results = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    for sub in ["a/b", "a_b"] {
        for split in ["train", "test"] {
            for class in ["x", "y"] {
                let dir = data.path().join(sub).join(split).join(class);
                std::fs::create_dir_all(&dir).unwrap();
                for i in 0..2 {
                    image::RgbImage::from_pixel(8, 8, image::Rgb([i * 90, 40, 200]))
                        .save(dir.join(format!("{i}.png")))
                        .unwrap();
                }
            }
        }
    }
    let mut first = runs(2).remove(1);
    first.dataset = format!("folder:{}", data.path().join("a/b").display());
    let mut second = first.clone();
    second.dataset = format!("folder:{}", data.path().join("a_b").display());
    assert_eq!(first.name(), second.name(), "the names collide");
    finished(&first, results.path(), None).unwrap();
    let err = format!(
        "{:#}",
        run_one::<Classification>(&second, results.path(), None).unwrap_err()
    );
    assert!(
        err.contains("another configuration") && err.contains("`dataset`"),
        "{err}"
    );
}

/// How far a bf16 or fp16 run's logged loss may be from fp32's, relative. A single forward stays
/// within one bf16 round-off (serial-lora's tests/precision.rs); over 20 AdamW steps that rounding
/// feeds back through the updates, and fp16 skips its first steps while the loss scale settles:
/// measured drift 1.2 % (bf16) and 0.9 % (fp16). 2^-5 ≈ 3.1 % still tells a tracking run from a
/// broken one, since the loss itself moves by more than four times that over these steps.
const TRACKING: f64 = 1.0 / 32.0;

/// The logged training losses of a finished run.
fn logged_losses(results: &Path, spec: &RunSpec) -> Vec<f64> {
    let dir = results.join("classification").join(spec.name());
    let text = String::from_utf8(read(&dir.join("metrics.csv"))).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn bf16_and_fp16_runs_track_fp32_and_record_their_precision() {
    let fp32 = runs(20)
        .into_iter()
        .find(|r| r.method == Method::SerialLora)
        .unwrap();
    let reference = tempfile::tempdir().unwrap();
    finished(&fp32, reference.path(), None).unwrap();
    let fp32_losses = logged_losses(reference.path(), &fp32);
    let moved = (fp32_losses[0] - fp32_losses[1]).abs() / fp32_losses[1];
    assert!(
        moved > 4.0 * TRACKING,
        "the loss must move well past the tolerance: {fp32_losses:?}"
    );
    let config = |results: &Path| -> serde_json::Value {
        let dir = results.join("classification").join(fp32.name());
        serde_json::from_slice(&read(&dir.join("config.json"))).unwrap()
    };
    assert!(
        config(reference.path()).get("precision").is_none(),
        "an fp32 run's config.json is as before"
    );
    for precision in [Precision::Bf16, Precision::Fp16] {
        let spec = RunSpec {
            precision,
            ..fp32.clone()
        };
        let results = tempfile::tempdir().unwrap();
        finished(&spec, results.path(), None).unwrap();
        assert_eq!(config(results.path())["precision"], precision.as_str());
        let losses = logged_losses(results.path(), &spec);
        assert_eq!(losses.len(), fp32_losses.len());
        for (lower, full) in losses.iter().zip(&fp32_losses) {
            let gap = (lower - full).abs() / full.abs();
            assert!(gap < TRACKING, "{precision}: loss {lower} vs fp32 {full}");
        }
    }
}

#[test]
fn an_fp16_run_resumes_with_its_loss_scale() {
    let spec = RunSpec {
        precision: Precision::Fp16,
        ..runs(7)
            .into_iter()
            .find(|r| r.method == Method::Lora)
            .unwrap()
    };
    let straight = tempfile::tempdir().unwrap();
    finished(&spec, straight.path(), None).unwrap();
    let interrupted = tempfile::tempdir().unwrap();
    assert!(finished(&spec, interrupted.path(), Some(3)).is_none());
    finished(&spec, interrupted.path(), None).unwrap();
    let file = |root: &Path| {
        read(
            &root
                .join("classification")
                .join(spec.name())
                .join("adapter_model.safetensors"),
        )
    };
    assert_eq!(file(straight.path()), file(interrupted.path()));
}
