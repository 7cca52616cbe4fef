//! Stable Diffusion 3's MMDiT (diffusers' `SD3Transformer2DModel`, `config.json` +
//! `diffusion_pytorch_model.safetensors`) and its flow-matching Euler sampler.
//!
//! Checkpoint names are diffusers': `pos_embed.proj`, `pos_embed.pos_embed`,
//! `time_text_embed.{timestep_embedder,text_embedder}.linear_{1,2}`, `context_embedder`,
//! `transformer_blocks.<i>.{norm1,norm1_context}.linear`, `….attn.{to_q,to_k,to_v,to_out.0}`,
//! `….attn.{add_q_proj,add_k_proj,add_v_proj,to_add_out}`, `….attn.norm_{q,k,added_q,added_k}`,
//! `….{ff,ff_context}.net.{0.proj,2}`, `norm_out.linear`, `proj_out`.
//!
//! Adapter sites are the image stream's attention by default (the paper's count): LoRA on
//! `attn.to_q`/`to_k`/`to_v`/`to_out.0` (roles q, k, v, o: `8·D·r` parameters per block) and Serial
//! LoRA at `attn` (one pair on the normalised image tokens before `to_q`/`to_k`/`to_v`: `2·D·r` per
//! block). Role `context` adds the context stream (diffusers' DreamBooth default): LoRA on
//! `attn.add_q_proj`/`add_k_proj`/`add_v_proj`/`to_add_out` (`8·D·r` per block, `6·D·r` in the last,
//! `context_pre_only` block, which has no `to_add_out`) and a second Serial pair at `attn.context`,
//! before `add_q/k/v_proj` (`2·D·r` per block, the last included). The feed-forwards are frozen.
//! diffusers' own LoRA files (`pytorch_lora_weights.safetensors`) load through [`diffusers_lora`].

mod attention;
mod block;
mod config;
pub mod diffusers_lora;
pub mod embeddings;
mod model;
mod norm;
pub mod sampler;
pub mod scheduler;
pub mod text;

pub use config::{Config, QkNorm, CLASS_NAME};
pub use model::SD3Transformer2DModel;
pub use sampler::sample;
pub use scheduler::{FlowMatchEulerDiscreteScheduler, Schedule};
pub use text::{PromptEmbeds, T5Embeds};

/// The weights file of a diffusers model directory.
pub const WEIGHTS_FILE: &str = crate::model::DIFFUSERS_WEIGHTS_FILE;
