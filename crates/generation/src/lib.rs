//! # generation: DreamBooth-style personalisation of SD3's MMDiT with LoRA and Serial LoRA
//!
//! The paper's generation task on the shared engine (`runner`): diffusers' SD3 DreamBooth protocol
//! (`train_dreambooth_lora_sd3.py`) for an `SD3Transformer2DModel` — rectified-flow loss with
//! logit-normal timesteps and preconditioned outputs ([`flow`]), an instance prompt with a rare
//! token, optional prior preservation ([`prior`]), AdamW with the LoRA+ ratio — with LoRA (image
//! stream q, k, v, o), Serial LoRA (one pair per joint block before q, k, v), their + variants,
//! full fine-tuning, and `pretrain` (a base model from scratch). A run samples the instance prompt
//! with fixed seeds and scores FD and KID on DINOv2 features against every real image of the class,
//! instance accuracy and preservation accuracy ([`eval`]).
//!
//! Each run writes `results/generation/<run>/{config.json, metrics.csv, summary.json,
//! samples.png, classes.png, samples.safetensors, adapter_model.safetensors, adapter_config.json}`
//! (`pretrain`: `model/`, the base model in diffusers' layout); `results/generation/summary.csv` is
//! collected from them. A killed run resumes from its checkpoint and ends the same.

pub mod base;
pub mod calibrate;
pub mod config;
pub mod data;
pub mod eval;
pub mod figure;
pub mod flow;
pub mod grid;
pub mod metrics;
pub mod models;
pub mod prior;
pub mod prompts;
pub mod sample;
pub mod sampling;
pub mod space;
pub mod summary;
pub mod task;
pub mod train_set;
pub mod trained;

pub use config::{Experiment, RunSpec};
pub use summary::Summary;
pub use task::Generation;
