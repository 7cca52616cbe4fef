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
    /// Take at most this many training steps in this invocation, then save a checkpoint and stop
    /// (run the same command again to continue).
    #[arg(long)]
    step_budget: Option<usize>,
    /// Run only shard K of N (`K/N`: every N-th run of the grid from the K-th), so N processes can
    /// share a grid; they share `summary.csv` safely.
    #[arg(long, value_parser = parse_shard, default_value = "0/1")]
    shard: (usize, usize),
}

fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (k, n) = s.split_once('/').ok_or("expected K/N, e.g. 0/2")?;
    let (k, n): (usize, usize) = (
        k.parse().map_err(|_| "bad K")?,
        n.parse().map_err(|_| "bad N")?,
    );
    if n == 0 || k >= n {
        return Err(format!("shard {k}/{n}: need 0 <= K < N"));
    }
    Ok((k, n))
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
    let (shard, shards) = args.shard;
    let runs: Vec<_> = experiment
        .runs(&std::env::current_dir()?)?
        .into_iter()
        .skip(shard)
        .step_by(shards)
        .collect();
    eprintln!(
        "{}: {} run(s) of {} on {:?}",
        args.config.display(),
        runs.len(),
        experiment.backbone,
        experiment.datasets
    );
    for (i, spec) in runs.iter().enumerate() {
        eprintln!("[{}/{}] {}", i + 1, runs.len(), spec.name());
        if run(spec, &args.results, args.step_budget)?.is_none() {
            eprintln!("stopped at the step budget; rerun the same command to resume");
            return Ok(());
        }
    }
    println!(
        "results: {}",
        args.results.join("classification/summary.csv").display()
    );
    Ok(())
}
