//! `analysis`: the command-line front end (`params`, `svd`, `rank-sweep`, `compare`, `noise`,
//! `report`, `bench-scaling`).

use std::path::PathBuf;
use std::process::ExitCode;

use analysis::bench_scaling::{bench_scaling, BenchScalingOptions};
use analysis::compare::{compare, noise, CompareOptions, NoiseOptions, Task};
use analysis::params::{params, ParamsOptions};
use analysis::report::{report, ReportOptions};
use analysis::spectra::{svd, SvdOptions};
use analysis::sweep::{rank_sweep, RankSweepOptions};
use clap::{Parser, Subcommand};

/// Spectra (Figure 3), rank sweeps (Figure 5), parameter tables and the comparison with the
/// committed reference for serial-lora-rs.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Trainable parameters of LoRA placements and Serial LoRA per model and rank → <results>/params.csv.
    Params {
        /// Model folder with a transformers/diffusers config.json (repeatable); default: embedded presets.
        #[arg(long = "config", value_name = "DIR")]
        configs: Vec<PathBuf>,
        /// Results folder.
        #[arg(long, default_value = "results")]
        results: PathBuf,
    },
    /// Singular values of pre-trained, merged and update q/k/v weights → <results>/spectra/<backbone>.csv
    /// and <figures>/fig3_<backbone>.png.
    Svd {
        /// Run folders (repeatable); default: the latest run of each (backbone, method) under
        /// <results>/classification, <results>/segmentation and <results>/generation, or, when
        /// there is none, under <results>/reference/<task>/ (the committed reference).
        #[arg(long = "runs", value_name = "RUN_DIR", num_args = 1..)]
        runs: Vec<PathBuf>,
        /// Blocks to plot, comma-separated; default: first, middle and last.
        #[arg(long, value_delimiter = ',')]
        blocks: Option<Vec<usize>>,
        /// Results folder.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Figures folder.
        #[arg(long, default_value = "figures")]
        figures: PathBuf,
        /// Repository root that a run's relative model_dir is taken from; default:
        /// $SERIAL_LORA_ROOT, else the checkout around the current folder.
        #[arg(long, value_name = "DIR")]
        root: Option<PathBuf>,
    },
    /// Accuracy against rank, mean ± std over seeds → <results>/rank_sweep/<backbone>.csv and
    /// <figures>/fig5_<backbone>.png.
    RankSweep {
        /// The classification summary; default: <results>/classification/summary.csv if it holds a
        /// row, else the committed <results>/reference/classification/summary.csv.
        #[arg(long)]
        summary: Option<PathBuf>,
        /// Shots per class to aggregate; default: the largest in the summary.
        #[arg(long)]
        shots: Option<usize>,
        /// Results folder.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Figures folder.
        #[arg(long, default_value = "figures")]
        figures: PathBuf,
    },
    /// Your summary against the committed reference, cell by cell (mean ± std over seeds) →
    /// a table on stdout and <results>/comparison/<task>.csv. Differences do not fail the command.
    Compare {
        /// classification, segmentation or generation.
        #[arg(long)]
        task: Task,
        /// Results folder.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// The reference summary; default: <results>/reference/<task>/summary.csv.
        #[arg(long, value_name = "CSV")]
        reference: Option<PathBuf>,
        /// Your summary; default: <results>/<task>/summary.csv.
        #[arg(long, value_name = "CSV")]
        ours: Option<PathBuf>,
    },
    /// The numerical noise between kernel levels, measured: the same grid run under several
    /// numerics settings on one machine (`--numerics native|avx2|portable`) → <out>/numerics_noise.csv
    /// (every value) and <out>/numerics_band.csv (per backbone, data set and stage: 2 × the
    /// largest spread between settings, at least one evaluated example for accuracies), which
    /// `compare` reads beside the reference summary.
    Noise {
        /// classification, segmentation or generation.
        #[arg(long)]
        task: Task,
        /// NAME=RESULTS_DIR: a setting's name and the results folder its grid ran into
        /// (repeatable, at least two).
        #[arg(long = "setting", value_name = "NAME=DIR", value_parser = parse_setting, required = true)]
        settings: Vec<(String, PathBuf)>,
        /// The folder the two files go to; default: <results>/reference/<task>.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Results folder (for the default --out).
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// The machine the settings ran on, in words (kept in the band file).
        #[arg(long, value_name = "TEXT")]
        measured_on: String,
    },
    /// A fair comparison from one task folder's summary.csv → <DIR>/report/table.csv (mean ± std
    /// per cell), paired.csv (paired differences over seeds, 95 % t intervals), selected.csv (the
    /// chosen learning rates), resolution.csv (the resolution study), <figures>/loss_<backbone>.png,
    /// <figures>/validation_<backbone>.png (where the selection scored its validation split every
    /// few steps), for generation <figures>/fig5_<backbone>.png (FD against rank, lower is better),
    /// and the tables as Markdown on stdout.
    Report {
        /// classification, segmentation or generation.
        #[arg(long)]
        task: Task,
        /// The task folder holding summary.csv; default: <results>/<task> when its summary.csv
        /// holds a row, else the committed <results>/reference/<task>.
        #[arg(long, value_name = "DIR")]
        from: Option<PathBuf>,
        /// Results folder (where the default task folder is found).
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Figures folder.
        #[arg(long, default_value = "figures")]
        figures: PathBuf,
    },
    /// Median step time of the ViT-B/16 benchmark against batch (at 224 px) and image size (at
    /// batch 8), from <results>/bench/vit_b16_scaling.csv (written by `make bench`) →
    /// <figures>/bench_scaling.png and the rows drawn as a table on stdout.
    BenchScaling {
        /// Results folder.
        #[arg(long, default_value = "results")]
        results: PathBuf,
        /// Figures folder.
        #[arg(long, default_value = "figures")]
        figures: PathBuf,
    },
}

/// `NAME=DIR` of `analysis noise --setting`.
fn parse_setting(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((name, dir)) if !name.is_empty() && !dir.is_empty() => {
            Ok((name.to_string(), PathBuf::from(dir)))
        }
        _ => Err(format!("`{s}`: expected NAME=RESULTS_DIR")),
    }
}

fn main() -> ExitCode {
    let written = match Cli::parse().command {
        Command::Params { configs, results } => {
            params(&ParamsOptions { configs, results }).map(|p| vec![p])
        }
        Command::Svd {
            runs,
            blocks,
            results,
            figures,
            root,
        } => svd(&SvdOptions {
            runs,
            blocks,
            results,
            figures,
            root,
        }),
        Command::RankSweep {
            summary,
            shots,
            results,
            figures,
        } => rank_sweep(&RankSweepOptions {
            summary,
            shots,
            results,
            figures,
        }),
        Command::Compare {
            task,
            results,
            reference,
            ours,
        } => compare(&CompareOptions {
            task,
            results,
            reference,
            ours,
        })
        .map(|comparison| {
            print!("{}", comparison.render());
            vec![comparison.csv]
        }),
        Command::Noise {
            task,
            settings,
            out,
            results,
            measured_on,
        } => noise(&NoiseOptions {
            task,
            settings,
            out: out
                .unwrap_or_else(|| analysis::sources::reference_root(&results).join(task.name())),
            measured_on,
        }),
        Command::Report {
            task,
            from,
            results,
            figures,
        } => report(&ReportOptions {
            task,
            from,
            results,
            figures,
        })
        .map(|report| {
            // stdout is the Markdown alone (it is pasted into the guide); the files go to stderr.
            print!("{}", report.markdown);
            for f in &report.written {
                eprintln!("wrote {}", f.display());
            }
            Vec::new()
        }),
        Command::BenchScaling { results, figures } => {
            bench_scaling(&BenchScalingOptions { results, figures }).map(|scaling| {
                print!("{scaling}");
                vec![scaling.figure]
            })
        }
    };
    match written {
        Ok(files) => {
            for f in files {
                println!("wrote {}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
