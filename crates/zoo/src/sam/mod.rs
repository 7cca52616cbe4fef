//! SAM (transformers' `SamModel`, any size from `config.json`) and the parts LiteMedSAM shares.
//!
//! * [`VisionEncoder`]: patch embedding, absolute position embedding, pre-LN blocks with windowed
//!   (zero-padded) or global attention and decomposed relative position embeddings, conv neck.
//! * [`PromptEncoder`]: points (with labels), boxes and low-resolution masks.
//! * [`MaskDecoder`]: two-way transformer, mask upscaling, hypernetwork MLPs, IoU head.
//!
//! Checkpoint names are transformers 5's: `vision_encoder.layers.<i>.attn.qkv.weight`,
//! `prompt_encoder.point_embed.<i>.weight`, `mask_decoder.transformer.layers.<i>.self_attn.q_proj.weight`,
//! `shared_image_embedding.positional_embedding`, …. Adapter sites are the vision blocks'
//! attention: LoRA on the `q`/`k`/`v` slices of the fused `attn.qkv` (`<m>.qkv.q.lora_A.weight`),
//! on `attn.proj` (o) and `mlp.lin1`/`mlp.lin2` (mlp); Serial LoRA on `attn` before `qkv`.
//! The prompt encoder and mask decoder are never adapted (a runner freezes or trains them whole).

mod attention;
pub mod classes;
mod config;
mod decoder;
mod layers;
mod model;
mod prompt;
mod vision;

pub use config::{check_head, Config, MaskDecoderConfig, PromptEncoderConfig, VisionConfig};
pub use decoder::MaskDecoder;
pub use layers::{FeedForward, LayerNorm2d};
pub use model::{forward_named, PromptHead, Prompts, SamModel, SegmentationOutput, Segmenter};
pub use prompt::{PositionalEmbedding, PromptEncoder};
pub use vision::{window_partition, window_unpartition, Neck, VisionEncoder};

/// The tied copy of `shared_image_embedding.positional_embedding` that transformers may save.
pub const TIED_KEY: &str = "prompt_encoder.shared_embedding.positional_embedding";
