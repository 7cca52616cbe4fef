//! Command line of the generation runner: run the experiment's grid (default), or draw `figure` 4.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use generation::{figure, Generation};
use runner::GridArgs;

/// DreamBooth-style personalisation (and pre-training) of an SD3 MMDiT with LoRA, Serial LoRA,
/// their + variants and full fine-tuning.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    grid: GridArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Figure 4: each run's instance samples, side by side, titled with its method, FD and
    /// instance accuracy.
    Figure {
        /// Run folders (e.g. the base model, a LoRA run, then a Serial LoRA run).
        #[arg(long, num_args = 1.., required = true)]
        runs: Vec<PathBuf>,
        /// Output PNG.
        #[arg(long, default_value = "figures/fig4_generation.png")]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Figure { runs, out }) = args.command {
        return match figure::draw(&runs, &out) {
            Ok(()) => {
                println!("figure: {}", out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    runner::engine::main::<Generation>(&args.grid, |_| {})
}
