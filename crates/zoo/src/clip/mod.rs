//! CLIP (transformers' `CLIPModel`, `CLIPVisionModel`, `CLIPTextModel`,
//! `CLIPTextModelWithProjection`) and its tokenizer.
//!
//! Checkpoint names are transformers': `vision_model.encoder.layers.0.self_attn.q_proj.weight`, …; the
//! Serial adapter of a block sits on its `self_attn`.

mod config;
mod model;
mod text;
mod tokenizer;
mod vision;
mod with_projection;

pub use config::{Config, TextConfig, VisionConfig};
pub use model::{ClipModel, ClipOutput, Tower};
pub use text::{TextOutput, TextTransformer};
pub use tokenizer::{ClipTokenizer, Encoded, CACHED_TOKENIZER, CONTEXT_LENGTH};
pub use vision::{VisionOutput, VisionTransformer};
pub use with_projection::TextModelWithProjection;
