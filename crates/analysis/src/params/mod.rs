//! Trainable-parameter tables (`analysis params`): LoRA placements against Serial LoRA.

pub mod command;
pub mod count;
pub mod model_config;
pub mod short;

pub use command::{params, ParamsOptions};
pub use count::{figure1_label, presets, trainable_params, Component, Placement, Tower, RANKS};
pub use model_config::{components_from_config, components_from_json, SD3_MEDIUM_CONFIG};
pub use short::format_params;
