//! Stable Diffusion 3's VAE: diffusers' `AutoencoderKL` (`config.json` +
//! `diffusion_pytorch_model.safetensors`), any size from its config: encoder to the latent mean,
//! decoder back to pixels, `scaling_factor` / `shift_factor` between the VAE's latents and the
//! diffusion model's.
//!
//! Checkpoint names are diffusers': `{encoder,decoder}.conv_in`, `encoder.down_blocks.<i>.resnets.<j>.
//! {norm1,conv1,norm2,conv2,conv_shortcut}`, `….downsamplers.0.conv`, `decoder.up_blocks.<i>.…`,
//! `….upsamplers.0.conv`, `{encoder,decoder}.mid_block.{resnets.{0,1},attentions.0.{group_norm,to_q,
//! to_k,to_v,to_out.0}}`, `{encoder,decoder}.{conv_norm_out,conv_out}`, `quant_conv`,
//! `post_quant_conv`. The VAE is frozen: it has no adapter sites.

mod attention;
mod blocks;
mod coder;
mod config;
mod model;
mod resnet;

pub use config::{Config, CLASS_NAME};
pub use model::AutoencoderKL;
