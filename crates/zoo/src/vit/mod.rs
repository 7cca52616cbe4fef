//! Vision-transformer pieces shared by every family: the pre-LN [`Block`] and its [`Encoder`], the
//! [`PatchEmbedding`], position-embedding resizing and the MLP [`Activation`]s.

mod activation;
mod block;
mod patch;

pub use activation::Activation;
pub use block::{Block, BlockConfig, BlockNames, Encoder};
pub use patch::{resize_positions, PatchEmbedding};

use serial_lora::SitePath;

/// Descends a dotted checkpoint path (`attention.output.dense`) one module at a time.
pub fn descend<'a>(p: &SitePath<'a>, dotted: &str) -> SitePath<'a> {
    dotted.split('.').fold(p.clone(), |p, name| p / name)
}
