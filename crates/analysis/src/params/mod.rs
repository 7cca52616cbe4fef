//! Trainable-parameter tables (`analysis params`): LoRA placements against Serial LoRA.

pub mod command;
pub mod count;
pub mod model_config;
pub mod short;

pub use command::{params, ParamsOptions};
pub use count::{presets, trainable_params, Component, Placement, Tower, RANKS};
pub use model_config::components_from_config;
pub use short::format_params;
