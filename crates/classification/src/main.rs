//! Command line of the classification runner: run the experiment's grid (default), or `predict`
//! with a finished run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use classification::{Classification, Experiment};
use runner::GridArgs;
use tch::Device;

/// Few-shot classification with LoRA, Serial LoRA, their + variants and baselines.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    grid: GridArgs,
    /// Replace the experiment's input resolution (pixels, square); give the runs another
    /// `--backbone` name so that their folders differ from the file's own.
    #[arg(long)]
    resolution: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Classifies images with a finished run (its model, adapter, head and preprocessing):
    /// a CSV of the top-k classes per image, and the accuracy of images under class-named folders.
    Predict {
        /// The finished run folder.
        #[arg(long)]
        run: PathBuf,
        /// Image files, folders of images, or folders of class-named folders of images.
        #[arg(long, num_args = 1.., required = true)]
        images: Vec<PathBuf>,
        /// The CSV to write.
        #[arg(long)]
        out: PathBuf,
        /// Classes listed per image.
        #[arg(long, default_value_t = 3)]
        top_k: usize,
        /// Device: cpu, or cuda / cuda:N.
        #[arg(long, default_value = "cpu", value_parser = serial_lora::parse_device)]
        device: Device,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::Predict {
        run,
        images,
        out,
        top_k,
        device,
    }) = args.command
    {
        return match classification::predict::predict(&run, &images, &out, top_k, device) {
            Ok(p) => {
                let accuracy = p
                    .accuracy()
                    .map(|a| format!(", top-1 accuracy {:.4} on {} labelled", a, p.labelled))
                    .unwrap_or_default();
                println!("{}: {} image(s){accuracy}", out.display(), p.images);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let resolution = args.resolution;
    runner::engine::main::<Classification>(&args.grid, |e: &mut Experiment| {
        if let Some(r) = resolution {
            e.task.resolution = r;
        }
    })
}
