//! DINOv2 (transformers' `Dinov2Model`), loading checkpoints and PEFT adapters of either naming era.
//!
//! Checkpoint names are transformers' saved names: `encoder.layer.0.attention.attention.query.weight`,
//! `encoder.layer.0.attention.output.dense.weight`, `encoder.layer.0.layer_scale1.lambda1`, …; the
//! Serial adapter of a block sits on `attention.attention`, the module holding q, k and v.

mod config;
mod model;
pub mod names;

pub use config::Config;
pub use model::{Dinov2Model, Dinov2Output};
