//! Command line of the segmentation runner: run the experiment's grid (default), or draw `figure` 4.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use runner::GridArgs;
use segmentation::{figure, Experiment, Segmentation};

/// Box-prompted or prompt-free segmentation with LoRA, Serial LoRA and their + variants (SAM,
/// LiteMedSAM).
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    grid: GridArgs,
    /// Train the mask decoder fully (true) or keep it frozen (false).
    #[arg(long)]
    train_decoder: Option<bool>,
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
    let train_decoder = args.train_decoder;
    runner::engine::main::<Segmentation>(&args.grid, |e: &mut Experiment| {
        if let Some(t) = train_decoder {
            e.train_decoder = t;
        }
    })
}
