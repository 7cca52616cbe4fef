//! `zoo forward`: runs a checkpoint directory's model on named input tensors and writes the outputs.
//!
//! ```text
//! zoo forward --model DIR --inputs IN.safetensors --out OUT.safetensors [--adapter ADIR] [--merge]
//! ```
//! The architecture comes from `DIR/config.json` (`model_type`: clip, clip_vision_model,
//! clip_text_model, dinov2, bert, sam, lite_medsam; or diffusers' `_class_name`: SD3Transformer2DModel,
//! AutoencoderKL); sharded checkpoints (`<weights>.index.json`) load too;
//! inputs and outputs carry transformers' (diffusers') names (see `zoo::Model::forward`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serial_lora::checkpoint;
use tch::{Device, Kind, Tensor};

/// Model zoo command line.
#[derive(Debug, Parser)]
#[command(
    name = "zoo",
    version,
    about = "Run zoo models (CLIP, DINOv2, BERT, SAM, SD3 MMDiT and VAE) on safetensors inputs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the model on named inputs and writes named outputs (atomically).
    Forward {
        /// Checkpoint directory: config.json + model.safetensors (transformers layout) or
        /// diffusion_pytorch_model.safetensors (diffusers' SD3Transformer2DModel, AutoencoderKL), either
        /// possibly sharded (…safetensors.index.json + shards).
        #[arg(long)]
        model: PathBuf,
        /// Inputs by transformers' names: pixel_values [B,3,H,W] f32, input_ids [B,T] i64, attention_mask, bool_masked_pos;
        /// SD3: hidden_states [B,C,H,W], encoder_hidden_states [B,T,J], pooled_projections [B,P], timestep [B] (σ·1000);
        /// AutoencoderKL: pixel_values → latent_mean, latents → decoded; BERT: input_ids, attention_mask, token_type_ids.
        #[arg(long)]
        inputs: PathBuf,
        /// Output safetensors file.
        #[arg(long)]
        out: PathBuf,
        /// Adapter directory (ours or PEFT's LoRA): adapter_config.json + adapter_model.safetensors; for
        /// SD3 also diffusers' pytorch_lora_weights.safetensors (the file or its folder).
        #[arg(long)]
        adapter: Option<PathBuf>,
        /// Merge the adapter into the weights before running.
        #[arg(long, requires = "adapter")]
        merge: bool,
        /// Device: cpu, or cuda / cuda:N.
        #[arg(long, default_value = "cpu", value_parser = serial_lora::parse_device)]
        device: Device,
    },
}

fn forward(
    model: PathBuf,
    inputs: PathBuf,
    out: PathBuf,
    adapter: Option<PathBuf>,
    merge: bool,
    device: Device,
) -> zoo::Result<()> {
    let loaded = zoo::load(&model, adapter.as_deref(), device)?;
    if merge {
        loaded.store.merge();
    }
    let inputs: zoo::Tensors = checkpoint::read_tensors(&inputs)?
        .into_iter()
        .map(|(k, v)| (k, v.to_device(device)))
        .collect();
    let outputs = loaded.model.forward(&inputs)?;
    let outputs: Vec<(String, Tensor)> = outputs
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                v.to_device(Device::Cpu).to_kind(Kind::Float).contiguous(),
            )
        })
        .collect();
    checkpoint::save_tensors(&out, &outputs)?;
    Ok(())
}

fn main() -> ExitCode {
    let Command::Forward {
        model,
        inputs,
        out,
        adapter,
        merge,
        device,
    } = Cli::parse().command;
    match forward(model, inputs, out, adapter, merge, device) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
