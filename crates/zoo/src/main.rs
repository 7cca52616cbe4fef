//! `zoo forward`: runs a checkpoint directory's model on named input tensors and writes the outputs;
//! `zoo info`: what the linked libtorch sees (CUDA devices, cuDNN, threads, bf16, the CPU kernels
//! and the numerics signature runs record).
//!
//! ```text
//! zoo forward --model DIR --inputs IN.safetensors --out OUT.safetensors [--adapter ADIR] [--merge]
//!             [--device cpu|cuda[:N]] [--threads N] [--precision fp32|bf16|fp16|auto]
//!             [--numerics native|avx2|portable]
//! zoo merge --model DIR --adapter ADIR --out OUT   (or: zoo merge --run RUN_DIR --out OUT)
//! zoo info [--numerics native|avx2|portable]
//! ```
//! The architecture comes from `DIR/config.json` (`model_type`: clip, clip_vision_model,
//! clip_text_model, dinov2, bert, sam, lite_medsam; or diffusers' `_class_name`: SD3Transformer2DModel,
//! AutoencoderKL); sharded checkpoints (`<weights>.index.json`) load too;
//! inputs and outputs carry transformers' (diffusers') names (see `zoo::Model::forward`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serial_lora::checkpoint;
use serial_lora::precision::{self, Precision, PrecisionChoice};
use serial_lora::precision_probe;
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
        /// libtorch's intra-op threads (default: libtorch's choice, the machine's cores).
        #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
        threads: Option<i32>,
        /// Arithmetic: fp32, or bf16 / fp16 autocast with the frozen weights stored in that
        /// precision (after any merge), or auto (bf16 where a start-up probe finds the device's
        /// bf16 matrix product measurably faster, else fp32); outputs are written as fp32.
        #[arg(long, default_value = "fp32")]
        precision: PrecisionChoice,
        /// CPU kernels: native, avx2 or portable (the vendor-neutral baseline path); zoo starts
        /// itself again with the mode's variables set before libtorch starts.
        #[arg(long, default_value = "native")]
        numerics: formats::NumericsMode,
    },
    /// Writes a complete model folder in the base's own format (transformers or diffusers) with
    /// the adapter merged into its weights (LoRA: W + s·BA; Serial LoRA: W(I + s·BA)); every
    /// other tensor and file is the base's, byte for byte, in the base's dtype.
    Merge {
        /// The base model folder (as for `forward`); with `--run`, read from the run's config.json.
        #[arg(long, required_unless_present = "run", conflicts_with = "run")]
        model: Option<PathBuf>,
        /// The adapter folder (ours or PEFT's); with `--run`, the run folder itself.
        #[arg(long, required_unless_present = "run", conflicts_with = "run")]
        adapter: Option<PathBuf>,
        /// A finished run folder (classification, segmentation or generation): its base model
        /// and its adapter.
        #[arg(long)]
        run: Option<PathBuf>,
        /// The new model folder (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Prints what the linked libtorch sees: CUDA availability and devices, cuDNN, intra-op
    /// threads, whether a bf16 matrix product runs on each device, the processor, ATen's CPU
    /// capability, MKL and oneDNN, and the numerics signature runs record.
    Info {
        /// CPU kernels to report under: native, avx2 or portable (as `forward --numerics`).
        #[arg(long, default_value = "native")]
        numerics: formats::NumericsMode,
    },
}

/// `key: value` lines of what libtorch sees.
fn info() -> Vec<String> {
    let cuda = tch::Cuda::is_available();
    let count = tch::Cuda::device_count();
    let mut lines = vec![
        format!("cuda available: {cuda}"),
        format!("cuda devices: {count}"),
        format!("cudnn available: {}", tch::Cuda::cudnn_is_available()),
        format!("intra-op threads: {}", tch::get_num_threads()),
    ];
    let numerics = torch_ext::numerics::record(Precision::Fp32, Device::Cpu);
    lines.extend([
        format!(
            "cpu: {} ({}, family {} model {}, {})",
            numerics.cpu.model_name,
            numerics.cpu.vendor,
            numerics.cpu.family.unwrap_or_default(),
            numerics.cpu.model.unwrap_or_default(),
            numerics.cpu.isa
        ),
        format!("aten cpu capability: {}", numerics.aten_cpu_capability),
        format!("mkl: {}", numerics.mkl),
        format!("onednn: {}", numerics.onednn),
        format!("numerics mode: {}", numerics.mode),
        format!("numerics signature (fp32, cpu): {}", numerics.signature()),
    ]);
    let devices = std::iter::once(Device::Cpu).chain((0..count.max(0) as usize).map(Device::Cuda));
    for device in devices {
        let runs = std::panic::catch_unwind(|| {
            let x = Tensor::ones([4, 4], (Kind::BFloat16, device));
            x.matmul(&x).to_kind(Kind::Float).double_value(&[0, 0])
        });
        let verdict = match runs {
            Ok(4.0) => "yes".to_string(),
            Ok(v) => format!("wrong result {v}"),
            Err(_) => "no".to_string(),
        };
        lines.push(format!("bf16 matmul on {device:?}: {verdict}"));
    }
    lines
}

fn forward(
    model: PathBuf,
    inputs: PathBuf,
    out: PathBuf,
    adapter: Option<PathBuf>,
    merge: bool,
    device: Device,
    precision: Precision,
) -> zoo::Result<()> {
    let loaded = zoo::load(&model, adapter.as_deref(), device)?;
    if merge {
        loaded.store.merge();
    }
    let _autocast = precision::autocast(precision, device)?;
    precision::store_frozen(&loaded.store, precision);
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

/// The base model folder and adapter of a run folder: `model_dir` of its config.json (relative
/// to the repository root when stored so; a diffusers pipeline folder's `transformer/`).
fn run_model(run: &Path) -> zoo::Result<(PathBuf, PathBuf)> {
    let config = run.join("config.json");
    let text = std::fs::read_to_string(&config).map_err(|e| zoo::Error::io(&config, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| zoo::Error::config(&config, e.to_string()))?;
    let stored = value["model_dir"].as_str().ok_or_else(|| {
        zoo::Error::config(&config, "field `model_dir`: missing (not a run folder?)")
    })?;
    let mut model = formats::paths::resolve(Path::new(stored), &formats::paths::repo_root());
    if !model.join("config.json").is_file() && model.join("transformer/config.json").is_file() {
        model = model.join("transformer");
    }
    if value["train_decoder"].as_bool() == Some(true) {
        return Err(zoo::Error::config(
            &config,
            "field `train_decoder`: the run also trained SAM's mask decoder, which its adapter \
             does not hold, so a merged export would lose it (not supported yet)",
        ));
    }
    if !run.join(serial_lora::ADAPTER_CONFIG).is_file() {
        return Err(zoo::Error::config(
            run,
            "holds no adapter (adapter_config.json): the run has not finished, or its method has none",
        ));
    }
    Ok((model, run.to_path_buf()))
}

fn merge(
    model: Option<PathBuf>,
    adapter: Option<PathBuf>,
    run: Option<PathBuf>,
    out: &Path,
) -> zoo::Result<()> {
    let (model, adapter) = match (run, model, adapter) {
        (Some(run), _, _) => run_model(&run)?,
        (None, Some(model), Some(adapter)) => (model, adapter),
        _ => unreachable!("clap requires --run or both --model and --adapter"),
    };
    let export = zoo::export::export_merged(&model, &adapter, out)?;
    println!(
        "{}: {} merged weight(s), {} tensor(s) copied from {}",
        export.out.display(),
        export.merged.len(),
        export.copied,
        model.display()
    );
    Ok(())
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Info { numerics } => {
            if let Err(e) = torch_ext::numerics::pin(numerics) {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            info().iter().for_each(|line| println!("{line}"));
            Ok(())
        }
        Command::Merge {
            model,
            adapter,
            run,
            out,
        } => merge(model, adapter, run, &out),
        Command::Forward {
            model,
            inputs,
            out,
            adapter,
            merge,
            device,
            threads,
            precision,
            numerics,
        } => {
            if let Err(e) = torch_ext::numerics::pin(numerics) {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            if let Some(n) = threads {
                tch::set_num_threads(n);
            }
            let (precision, probe) = precision_probe::resolve(precision, device);
            if let Some(p) = probe {
                eprintln!(
                    "precision auto: {precision} (fp32 {:.2} ms, bf16 {} per probe product)",
                    p.fp32_ms,
                    p.bf16_ms
                        .map_or("unavailable".to_string(), |b| format!("{b:.2} ms"))
                );
            }
            forward(model, inputs, out, adapter, merge, device, precision)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
