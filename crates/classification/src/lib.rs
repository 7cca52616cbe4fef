//! # classification: the few-shot runner
//!
//! `cargo run --release -p classification -- --config experiments/X.toml [--method … --rank …]`
//! runs the runs of an experiment file's grid (data sets × shots × seeds × methods × ranks) that
//! the flags select, on the shared engine (`runner`). CLIP follows the CLIP-LoRA protocol (text
//! classifier, adapters in both towers); a backbone without a text tower (DINOv2) trains a cosine
//! head initialised from the few-shot class means alongside its adapters. Each run writes
//! `results/classification/<run>/`; `results/classification/summary.csv` is collected from them.
//! `classification predict --run RUN --images PATH…` classifies new images with a finished run
//! ([`predict`]).

pub mod classifier;
pub mod config;
pub mod datasets;
pub mod predict;
pub mod summary;
pub mod task;

pub use config::{Experiment, RunSpec};
pub use summary::Summary;
pub use task::Classification;
