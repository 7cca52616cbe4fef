//! Command line of the classification runner.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use classification::{run, Experiment, Method, Overrides};

/// Few-shot classification with LoRA, Serial LoRA and their + variants.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Experiment file (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Results root.
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// Only this data set.
    #[arg(long)]
    dataset: Option<String>,
    /// Only this shot count.
    #[arg(long)]
    shots: Option<usize>,
    /// Only this method (zero_shot, probe, lora, serial_lora, lora_plus, serial_lora_plus, full).
    #[arg(long, value_parser = parse_method)]
    method: Option<Method>,
    /// Only this rank.
    #[arg(long)]
    rank: Option<i64>,
    /// Only this seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Training iterations per run.
    #[arg(long)]
    iters: Option<usize>,
    /// Model directory (transformers layout).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Root of the CoOp data sets.
    #[arg(long)]
    data_root: Option<PathBuf>,
}

fn parse_method(s: &str) -> Result<Method, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("unknown method `{s}`"))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let overrides = Overrides {
        dataset: args.dataset,
        shots: args.shots,
        method: args.method,
        rank: args.rank,
        seed: args.seed,
        iters: args.iters,
        model_dir: args.model_dir,
        data_root: args.data_root,
    };
    let experiment = Experiment::from_file(&args.config)?.narrow(&overrides);
    let runs = experiment.runs(&std::env::current_dir()?)?;
    eprintln!(
        "{}: {} run(s) of {} on {:?}",
        args.config.display(),
        runs.len(),
        experiment.backbone,
        experiment.datasets
    );
    for (i, spec) in runs.iter().enumerate() {
        eprintln!("[{}/{}] {}", i + 1, runs.len(), spec.name());
        run(spec, &args.results)?;
    }
    println!(
        "results: {}",
        args.results.join("classification/summary.csv").display()
    );
    Ok(())
}
