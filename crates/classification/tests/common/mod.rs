//! What the classification tests share: the tiny experiment (the zoo's tiny random DINOv2 fixture on
//! the packaged faces, needs `make setup`), reading it, the shared command line, finishing a run.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use classification::{Classification, Experiment, RunSpec, Summary};
use runner::RunSpec as _;
use runner::{run_one, Experiment as _, GridArgs, Outcome};

/// Every method on the tiny model, 4 steps; tests edit it by text replacement.
pub const TINY: &str = r#"
backbone = "tiny-dinov2"
model_dir = "crates/zoo/tests/fixtures/dinov2"
datasets = ["faces"]
shots = [2]
seeds = [3]
methods = ["probe", "lora", "serial_lora", "lora_plus", "serial_lora_plus"]
ranks = [4]
iters = 4
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
"#;

/// Writes [`TINY`] with `edits` (`from`, `to` replacements; each `from` must occur) to
/// `dir/tiny.toml`.
pub fn write_tiny(dir: &Path, edits: &[(&str, &str)]) -> PathBuf {
    let text = edits.iter().fold(TINY.to_string(), |t, (from, to)| {
        assert!(t.contains(from), "the tiny experiment has no `{from}`");
        t.replace(from, to)
    });
    let path = dir.join("tiny.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes [`TINY`] with `edits` and only `methods` to `dir/tiny.toml`, `section` (e.g. a
/// `[select]` section) appended.
pub fn write_tiny_with(
    dir: &Path,
    methods: &str,
    edits: &[(&str, &str)],
    section: &str,
) -> PathBuf {
    let all = r#"methods = ["probe", "lora", "serial_lora", "lora_plus", "serial_lora_plus"]"#;
    let methods = format!("methods = {methods}");
    let mut edits = edits.to_vec();
    edits.push((all, &methods));
    let path = write_tiny(dir, &edits);
    let text = std::fs::read_to_string(&path).unwrap() + section;
    std::fs::write(&path, text).unwrap();
    path
}

/// The classification runner on the experiment file `config` with `--results results` and the
/// `extra` flags.
pub fn run(config: &Path, results: &Path, extra: &[&str]) -> ExitCode {
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "--results",
        results.to_str().unwrap(),
    ];
    args.extend(extra);
    runner::engine::main::<Classification>(&grid(&args), |_| {})
}

/// Reads and validates the experiment file at `path`.
pub fn read_experiment(path: &Path) -> Experiment {
    let e: Experiment = runner::read_toml(path).unwrap();
    e.validate().unwrap();
    e
}

/// The runs of [`TINY`] with `edits`.
pub fn tiny_runs(edits: &[(&str, &str)]) -> Vec<RunSpec> {
    let dir = tempfile::tempdir().unwrap();
    read_experiment(&write_tiny(dir.path(), edits))
        .grid_runs(&formats::paths::repo_root(), None)
        .unwrap()
}

/// Runs `spec` to its end (or its budget): its summary, `None` when paused.
pub fn finished(spec: &RunSpec, results: &Path, budget: Option<usize>) -> Option<Summary> {
    match run_one::<Classification>(spec, results, budget).unwrap() {
        Outcome::Finished(s) => Some(s),
        Outcome::Paused => None,
        Outcome::Busy => panic!("{} busy", spec.name()),
        Outcome::Diverged => panic!("{} diverged", spec.name()),
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    grid: GridArgs,
}

/// The runner's shared flags parsed from `args`.
pub fn grid(args: &[&str]) -> GridArgs {
    Cli::parse_from(std::iter::once("classification").chain(args.iter().copied())).grid
}
