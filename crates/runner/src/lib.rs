//! # runner: the experiment engine every task shares
//!
//! A task (classification, segmentation, generation) implements [`Task`]: the fields of its
//! experiment file ([`TaskFields`]; the fields every file has are [`GridSection`], parsed and
//! checked once, and the two together are an [`ExperimentFile`], the only place a grid is
//! defined), its fully resolved runs ([`RunSpec`]) and a training [`Session`] per run.
//! [`engine::main`] does the rest, the same way for every task:
//!
//! * selection: the grid's runs, filtered by the shared flags ([`GridArgs`]: `--method --rank
//!   --seed --shots`, value overrides, `--shard K/N`, `--run-index`), `--list`, `--threads`;
//! * one owner per run ([`RunLock`]), and run identity: a run folder belongs to one full resolved
//!   configuration; a rerun with any setting changed is refused, naming the fields;
//! * training: AdamW with LoRA+ groups, dropout masks keyed by step (no global RNG), resumable
//!   [`Checkpoint`]s that also keep the training time, an optional moving average of the weights
//!   ([`ema::Ema`]), `metrics.csv` (each row: the step's loss and the mean loss over every step
//!   since the previous row), a progress bar per run, peak memory, a step budget;
//! * learning-rate selection (`--select`, an experiment's `[select]`): each method's candidates
//!   scored on a validation split, `lr_selection.csv`, and the grid trained with the chosen values;
//! * the grid goes on past a failed run and ends with the list of failures (non-zero exit);
//! * `summary.csv` is collected from the run folders (`--collect`), locally and after a Slurm job
//!   array ([`slurm`], `--slurm`);
//! * every committed experiment file keeps expanding to the same runs ([`check_config_digests`]).

mod args;
mod checkpoint;
mod config_digest;
pub mod ema;
pub mod engine;
mod experiment;
mod lock;
mod loss_mean;
mod memory;
pub mod precision_auto;
mod progress;
mod run_dir;
pub mod slurm;
mod task;
mod tensor;

pub use args::GridArgs;
pub use checkpoint::{Checkpoint, Progress};
pub use config_digest::{check_config_digests, config_digests, BLESS_VARIABLE};
pub use engine::{collect, collect_selection, run_one, run_one_on, select, Outcome};
pub use experiment::{
    read_toml, require_non_empty, ExperimentFile, GridContext, GridPoint, GridSection, RunPoint,
    TaskFields,
};
pub use lock::RunLock;
pub use loss_mean::LossMean;
pub use memory::{peak_rss_mb, reset_peak_rss};
pub use progress::run_bar;
pub use run_dir::{MetricsLog, RunDir};
pub use task::{
    Coords, Experiment, Overrides, RunContext, RunSpec, Session, Stage, StepOutput, Task,
    TrainStats,
};
pub use tensor::images_to_tensor;
