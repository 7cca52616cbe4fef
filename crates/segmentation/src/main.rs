//! Command line of the segmentation runner: `run` (default) a grid, or draw `figure` 4.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use segmentation::{figure, run, Experiment, Method, Overrides};

/// Box-prompted segmentation with LoRA, Serial LoRA and their + variants (SAM, LiteMedSAM).
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Figure 4: a test tile, its ground truth and each run's masks, side by side.
    Figure {
        /// Run folders (e.g. a LoRA run, then a Serial LoRA run).
        #[arg(long, num_args = 1.., required = true)]
        runs: Vec<PathBuf>,
        /// Output PNG.
        #[arg(long, default_value = "figures/fig4_segmentation.png")]
        out: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Experiment file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Results root.
    #[arg(long, default_value = "results")]
    results: PathBuf,
    /// Only this method (lora, serial_lora, lora_plus, serial_lora_plus).
    #[arg(long, value_parser = parse_method)]
    method: Option<Method>,
    /// Only this rank.
    #[arg(long)]
    rank: Option<i64>,
    /// Only this seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Training steps per run.
    #[arg(long)]
    iters: Option<usize>,
    /// Model directory (config.json + model.safetensors; model_type sam or lite_medsam).
    #[arg(long)]
    model_dir: Option<PathBuf>,
    /// Backbone name in reports.
    #[arg(long)]
    backbone: Option<String>,
    /// Data set: stardist, or folder:<path> holding images/ and masks/.
    #[arg(long)]
    dataset: Option<String>,
    /// Train the mask decoder fully (true) or keep it frozen (false).
    #[arg(long)]
    train_decoder: Option<bool>,
    /// Take at most this many steps in this invocation, then checkpoint and stop.
    #[arg(long)]
    step_budget: Option<usize>,
}

fn parse_method(s: &str) -> Result<Method, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
        format!("unknown method `{s}` (lora, serial_lora, lora_plus, serial_lora_plus)")
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(Command::Figure { runs, out }) = args.command {
        figure::draw(&runs, &out)?;
        println!("figure: {}", out.display());
        return Ok(());
    }
    let a = args.run;
    let config = a
        .config
        .ok_or_else(|| anyhow::anyhow!("--config experiments/<name>.toml is required"))?;
    let overrides = Overrides {
        method: a.method,
        rank: a.rank,
        seed: a.seed,
        iters: a.iters,
        model_dir: a.model_dir,
        backbone: a.backbone,
        dataset: a.dataset,
        train_decoder: a.train_decoder,
    };
    let experiment = Experiment::from_file(&config)?.narrow(&overrides);
    let runs = experiment.runs(&runner::workspace_root())?;
    eprintln!(
        "{}: {} run(s) of {} on {}",
        config.display(),
        runs.len(),
        experiment.backbone,
        experiment.dataset
    );
    for (i, spec) in runs.iter().enumerate() {
        eprintln!("[{}/{}] {}", i + 1, runs.len(), spec.name());
        if run(spec, &a.results, a.step_budget)?.is_none() {
            eprintln!("stopped at the step budget; rerun the same command to resume");
            return Ok(());
        }
    }
    println!(
        "results: {}",
        a.results.join("segmentation/summary.csv").display()
    );
    Ok(())
}
