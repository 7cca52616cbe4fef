//! Bad input and faults end in one clear error, before any work where possible, and never in a
//! silently wrong result: range checks, a patch-size misfit, non-finite weights and a diverging
//! run, an adapter made for another model, an unwritable results folder, no backtraces.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use classification::Classification;
use runner::RunSpec as _;
use runner::{run_one, GridArgs, Outcome};

mod common;

/// The tiny experiment as these tests use it: LoRA only, a checkpoint every step, with `edits`.
fn file(dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let mut all = vec![
        (
            r#"methods = ["probe", "lora", "serial_lora", "lora_plus", "serial_lora_plus"]"#,
            r#"methods = ["lora"]"#,
        ),
        ("checkpoint_every = 2", "checkpoint_every = 1"),
    ];
    all.extend_from_slice(edits);
    common::write_tiny(dir, &all)
}

fn grid(config: &Path, results: &Path, extra: &[&str]) -> GridArgs {
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    common::grid(&args)
}

fn select_error(edits: &[(&str, &str)], extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let args = grid(&file(dir.path(), edits), dir.path(), extra);
    let err = runner::select::<Classification>(&args, |_| {}).unwrap_err();
    format!("{err:#}")
}

fn spec(edits: &[(&str, &str)]) -> classification::RunSpec {
    let dir = tempfile::tempdir().unwrap();
    common::read_experiment(&file(dir.path(), edits))
        .grid_runs(&formats::paths::repo_root(), None)
        .unwrap()
        .remove(0)
}

#[test]
fn every_numeric_setting_is_range_checked_at_once() {
    let err = select_error(
        &[
            ("logit_scale = 10.0", "logit_scale = -30.0"),
            ("weight_decay = 0.01", "weight_decay = -5.0"),
            ("test_limit = 20", "test_limit = 0"),
            ("alpha = 4.0", "alpha = 0.0"),
        ],
        &[],
    );
    for part in [
        "field `logit_scale` = -30 is outside (0, ∞)",
        "field `optim.weight_decay` = -5 is outside [0, ∞)",
        "field `test_limit` = 0 is outside [1, ∞)",
        "field `adapter.alpha` = 0 is outside (0, ∞)",
        "tiny.toml",
    ] {
        assert!(err.contains(part), "{err}\nlacks: {part}");
    }
    let err = select_error(&[], &["--iters", "0"]);
    assert!(err.contains("field `iters` = 0 is outside [1, ∞)"), "{err}");
}

#[test]
fn an_input_smaller_than_a_patch_is_a_clear_error_and_the_fixed_run_goes_ahead() {
    let results = tempfile::tempdir().unwrap();
    let bad = spec(&[("resolution = 12", "resolution = 3")]);
    let err = format!(
        "{:#}",
        run_one::<Classification>(&bad, results.path(), None).unwrap_err()
    );
    assert!(
        err.contains("`resolution = 3` does not suit") && err.contains("H ≥ 4"),
        "{err}"
    );
    // The failed run made no progress, so the corrected configuration takes its folder over.
    let fixed = spec(&[]);
    assert_eq!(fixed.name(), bad.name());
    assert!(matches!(
        run_one::<Classification>(&fixed, results.path(), None).unwrap(),
        Outcome::Finished(_)
    ));
}

#[test]
fn a_diverging_run_stops_and_keeps_no_non_finite_checkpoint() {
    let results = tempfile::tempdir().unwrap();
    let spec = spec(&[
        ("lr = 1e-3", "lr = 1e30"),
        ("min_lr = 1e-6", "min_lr = 0.0"),
    ]);
    let err = format!(
        "{:#}",
        run_one::<Classification>(&spec, results.path(), None).unwrap_err()
    );
    assert!(err.contains("lower the learning rate"), "{err}");
    let dir = results.path().join("classification").join(spec.name());
    assert!(!dir.join("summary.json").exists());
    for file in ["variables.safetensors", "optimizer.safetensors"] {
        let path = dir.join("checkpoint").join(file);
        if path.exists() {
            for (name, t) in serial_lora::checkpoint::read_tensors(&path).unwrap() {
                assert_eq!(
                    serial_lora::checkpoint::non_finite(&t),
                    None,
                    "{file}: {name}"
                );
            }
        }
    }
}

#[test]
fn non_finite_weights_are_named_when_loading() {
    let fixture = formats::paths::repo_root().join("crates/zoo/tests/fixtures/dinov2");
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(fixture.join("config.json"), copy.path().join("config.json")).unwrap();
    let mut tensors =
        serial_lora::checkpoint::read_tensors(&fixture.join("model.safetensors")).unwrap();
    let (name, t) = tensors
        .iter_mut()
        .find(|(n, _)| n.ends_with("query.weight"))
        .unwrap();
    let name = name.clone();
    let _ = t.get(0).get(0).fill_(f64::NAN);
    let list: Vec<(String, tch::Tensor)> = tensors.into_iter().collect();
    serial_lora::checkpoint::save_tensors(&copy.path().join("model.safetensors"), &list).unwrap();
    let err = zoo::build(copy.path(), None, tch::Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("tensor `{name}` holds 1 NaN or infinite value(s)")),
        "{err}"
    );
}

#[test]
fn an_adapter_made_for_another_model_says_so() {
    let results = tempfile::tempdir().unwrap();
    let spec = spec(&[]);
    assert!(matches!(
        run_one::<Classification>(&spec, results.path(), None).unwrap(),
        Outcome::Finished(_)
    ));
    let adapter = results.path().join("classification").join(spec.name());
    let sam = formats::paths::repo_root().join("crates/zoo/tests/fixtures/sam_tiny");
    let err = zoo::load(&sam, Some(&adapter), tch::Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("this adapter was made for another model"),
        "{err}"
    );
}

#[test]
fn an_unwritable_results_folder_stops_the_grid_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = file(dir.path(), &[]);
    let not_a_folder = dir.path().join("results");
    std::fs::write(&not_a_folder, "a file").unwrap();
    let code = runner::engine::main::<Classification>(&grid(&config, &not_a_folder, &[]), |_| {});
    assert_eq!(code, ExitCode::FAILURE);
}

#[test]
fn errors_print_their_message_chain_without_a_backtrace() {
    let out = Command::new(env!("CARGO_BIN_EXE_classification"))
        .args(["--config", "no/such/experiment.toml"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: reading no/such/experiment.toml"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("backtrace") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn names_that_would_leave_the_results_folder_are_refused_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("deep/results");
    let config = file(dir.path(), &[]);
    let absolute = dir.path().join("elsewhere").display().to_string();
    for (backbone, reason) in [
        ("../../x", "path separator"),
        (absolute.as_str(), "path separator"),
        ("..", "outside"),
        ("", "is empty"),
        ("a\0b", "control character"),
        ("a\nb", "control character"),
    ] {
        // From the command line …
        let args = grid(&config, &results, &["--backbone", backbone]);
        let err = format!(
            "{:#}",
            runner::select::<Classification>(&args, |_| {}).unwrap_err()
        );
        assert!(
            err.contains("field `backbone`") && err.contains(reason),
            "{backbone:?}: {err}"
        );
        assert_eq!(
            runner::engine::main::<Classification>(&args, |_| {}),
            ExitCode::FAILURE
        );
        // … and from the experiment file.
        let escaped = backbone
            .replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\0', "\\u0000");
        let edited = file(
            dir.path(),
            &[(
                "backbone = \"tiny-dinov2\"",
                &format!("backbone = \"{escaped}\""),
            )],
        );
        let err = format!(
            "{:#}",
            runner::select::<Classification>(&grid(&edited, &results, &[]), |_| {}).unwrap_err()
        );
        assert!(err.contains("field `backbone`"), "{backbone:?}: {err}");
    }
    let written: Vec<_> = walk(dir.path())
        .into_iter()
        .filter(|p| !p.ends_with("tiny.toml"))
        .collect();
    assert!(written.is_empty(), "nothing is written: {written:?}");
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
