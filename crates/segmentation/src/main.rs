//! Command line of the segmentation runner: run the experiment's grid (default), draw `figure` 4,
//! or `predict` label maps and overlays of new images with a finished run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use runner::GridArgs;
use segmentation::segment::segment_images;
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
        /// The folder holding camvid/ (multi-class runs' test images).
        #[arg(long)]
        data_root: Option<PathBuf>,
    },
    /// Label maps (<stem>_labels.png) and overlays (<stem>_overlay.png) of new images with a
    /// finished run, segmented as it was evaluated.
    Predict {
        /// The run folder.
        #[arg(long)]
        run: PathBuf,
        /// Image files or folders of images.
        #[arg(long, num_args = 1.., required = true)]
        images: Vec<PathBuf>,
        /// Box prompts (box-prompted runs): JSON {"<file name>": [[x0, y0, x1, y1], …]}.
        #[arg(long)]
        boxes: Option<PathBuf>,
        /// Output folder (created; existing files are never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Device: cpu, cuda, cuda:N, mps.
        #[arg(long, default_value = "cpu", value_parser = serial_lora::parse_device)]
        device: tch::Device,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        Some(Command::Figure {
            runs,
            out,
            data_root,
        }) => {
            return runner::engine::report(
                figure::draw(&runs, data_root.as_deref(), &out)
                    .map(|()| format!("figure: {}", out.display())),
            )
        }
        Some(Command::Predict {
            run,
            images,
            boxes,
            out,
            device,
        }) => {
            return runner::engine::report(
                segment_images(&run, &images, boxes.as_deref(), &out, device).map(|files| {
                    format!(
                        "{} image(s): label maps and overlays in {}",
                        files.len() / 2,
                        out.display()
                    )
                }),
            )
        }
        None => {}
    }
    let train_decoder = args.train_decoder;
    runner::engine::main::<Segmentation>(&args.grid, |e: &mut Experiment| {
        if let Some(t) = train_decoder {
            e.task.train_decoder = t;
        }
    })
}
