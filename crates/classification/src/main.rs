//! Command line of the classification runner.

use std::process::ExitCode;

use clap::Parser;
use classification::{Classification, Experiment};
use runner::GridArgs;

/// Few-shot classification with LoRA, Serial LoRA, their + variants and baselines.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    grid: GridArgs,
    /// Replace the experiment's input resolution (pixels, square); give the runs another
    /// `--backbone` name so that their folders differ from the file's own.
    #[arg(long)]
    resolution: Option<u32>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    runner::engine::main::<Classification>(&args.grid, |e: &mut Experiment| {
        if let Some(r) = args.resolution {
            e.resolution = r;
        }
    })
}
