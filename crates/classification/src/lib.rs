//! # classification: the few-shot runner
//!
//! `cargo run --release -p classification -- --config experiments/X.toml [--dataset … --method …]`
//! runs every combination of an experiment file's data sets, shots, seeds, methods and ranks (the
//! overrides narrow each list to one value). CLIP follows the CLIP-LoRA protocol (text classifier,
//! adapters in both towers); a backbone without a text tower (DINOv2) trains a cosine head
//! initialised from the few-shot class means alongside its adapters. Each run writes
//! `results/classification/<run>/` and one row of `results/classification/summary.csv`.

pub mod classifier;
pub mod config;
pub mod datasets;
pub mod run;

pub use config::{Experiment, Method, Overrides, RunSpec};
pub use run::{run, Summary, SUMMARY_COLUMNS};
