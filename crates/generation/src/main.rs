//! Command line of the generation runner: run the experiment's grid (default), draw `figure` 4,
//! `sample` any prompt from a finished run, or `calibrate` a base model's sampling and FD floor.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use generation::calibrate::{calibrate, CalibrationRequest};
use generation::sample::{sample, SampleRequest};
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
    /// A run's progress grids (progress/step_<N>.png) side by side, titled with their steps.
    Progress {
        /// The run folder.
        #[arg(long)]
        run: PathBuf,
        /// Output PNG.
        #[arg(long)]
        out: PathBuf,
    },
    /// Images of a prompt from a finished run (its adapter on its base; a pretrain run's model;
    /// the base for zero_shot): sample_<seed>.png each and grid.png in --out.
    Sample {
        /// The run folder.
        #[arg(long)]
        run: PathBuf,
        /// The prompt.
        #[arg(long)]
        prompt: String,
        /// Number of images.
        #[arg(long, default_value_t = 16)]
        n: usize,
        /// Image i starts from the noise of seed SEED + i.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Euler steps (default: the run's).
        #[arg(long)]
        steps: Option<usize>,
        /// Guidance scale (default: the run's).
        #[arg(long)]
        guidance: Option<f64>,
        /// Output folder (created; existing files are never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// Device: cpu, cuda, cuda:N, mps.
        #[arg(long, default_value = "cpu", value_parser = serial_lora::parse_device)]
        device: tch::Device,
    },
    /// A base model's sampling settings (Euler steps where FD stops improving, then guidance,
    /// both on the seen classes against their train images) and the real-vs-real FD floor.
    Calibrate {
        /// The (pretrain) run folder.
        #[arg(long)]
        run: PathBuf,
        /// Candidate Euler step counts.
        #[arg(long, value_delimiter = ',', default_values_t = [10, 20, 50])]
        steps: Vec<usize>,
        /// Candidate guidance scales.
        #[arg(long, value_delimiter = ',', default_values_t = [1.5, 3.0, 5.0])]
        guidance: Vec<f64>,
        /// Samples (and real images of the floor) per class (300: the committed calibration's;
        /// one setting then draws 2,700 images).
        #[arg(long, default_value_t = 300)]
        per_class: usize,
        /// Output folder.
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
        Some(Command::Figure { runs, out }) => runner::engine::report(
            figure::draw(&runs, &out).map(|()| format!("figure: {}", out.display())),
        ),
        Some(Command::Progress { run, out }) => runner::engine::report(
            figure::draw_progress(&run, &out).map(|()| format!("figure: {}", out.display())),
        ),
        Some(Command::Sample {
            run,
            prompt,
            n,
            seed,
            steps,
            guidance,
            out,
            device,
        }) => runner::engine::report((|| {
            let request = SampleRequest {
                prompt,
                n,
                seed,
                steps,
                guidance,
            };
            let files = sample(&run, &request, &out, device)?;
            Ok(format!(
                "{} image(s) and grid: {}",
                files.len() - 1,
                files.last().expect("the grid").display()
            ))
        })()),
        Some(Command::Calibrate {
            run,
            steps,
            guidance,
            per_class,
            out,
            device,
        }) => runner::engine::report((|| {
            let request = CalibrationRequest {
                steps,
                guidance,
                per_class,
            };
            calibrate(&run, &request, &out, device)?;
            Ok(format!(
                "calibration: {}",
                out.join("calibration.json").display()
            ))
        })()),
        None => runner::engine::main::<Generation>(&args.grid, |_| {}),
    }
}
