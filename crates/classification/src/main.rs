//! Command line of the classification runner.

use std::process::ExitCode;

use clap::Parser;
use classification::Classification;
use runner::GridArgs;

/// Few-shot classification with LoRA, Serial LoRA, their + variants and baselines.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    grid: GridArgs,
}

fn main() -> ExitCode {
    runner::engine::main::<Classification>(&Args::parse().grid, |_| {})
}
