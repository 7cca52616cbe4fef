//! # analysis: spectra, rank sweeps and parameter tables for serial-lora-rs
//!
//! Reads run folders and adapter files directly (safetensors + JSON, no libtorch) and writes CSV
//! tables and PNG figures, every file atomically:
//!
//! * [`params`]: trainable parameters of LoRA (q,k,v,o / q,k,v / q,v) and Serial LoRA per model
//!   and rank → `results/params.csv`: 18,874,368 / 4,718,592 for SD3-medium's image stream at r = 64
//!   (Figure 1's generation row shows 19.32M / 4.83M) and for SAM ViT-B at r = 256 (its
//!   segmentation row, 18.87M / 4.72M).
//! * [`spectra`]: singular values of the pre-trained q/k/v weights (a ViT's, or an MMDiT's image
//!   stream in diffusers' layout), of each run's merged weights and of its update →
//!   `results/spectra/<backbone>.csv`, `figures/fig3_<backbone>.png` (Figure 3).
//! * [`sweep`]: accuracy against rank per method and data set, mean ± std over seeds →
//!   `results/rank_sweep/<backbone>.csv`, `figures/fig5_<backbone>.png` (Figure 5).
//! * [`report`]: a fair comparison from one task's `summary.csv`: mean ± std per cell, paired
//!   differences over seeds with 95 % t intervals, the chosen learning rates, the resolution study
//!   → `results/<task>/report/*.csv`, Markdown on stdout, and `figures/loss_<backbone>.png`; for
//!   generation (FD, lower is better) also `figures/fig5_<backbone>.png`, FD against rank.
//! * [`compare`]: the user's `summary.csv` against the committed reference, cell by cell →
//!   `results/comparison/<task>.csv` and a table on stdout.
//! * [`bench_scaling`]: median step time of the ViT-B/16 benchmark against batch and image size
//!   (`results/bench/vit_b16_scaling.csv`, from `make bench`) → `figures/bench_scaling.png` and
//!   the rows drawn on stdout.
//!
//! Without explicit inputs, `svd` and `rank-sweep` read the user's own runs under `results/<task>/`
//! and fall back to the committed reference under `results/reference/<task>/` ([`sources`]).
//! Method names, `adapter_config.json`, run headers, portable paths and atomic writes come from
//! the shared `formats` crate; a run's relative `model_dir` is taken from the repository root.
//!
//! Merges: LoRA `W + s·B A`; Serial LoRA `W (I + s·B_s A_s)` on each of W_q, W_k, W_v (a fused qkv
//! weight is split into its three row blocks); `s = lora_alpha / r`, or `lora_alpha / √r` with
//! `use_rslora`.

// Links the system OpenBLAS (Debian's libopenblas-dev) that ndarray-linalg's LAPACK calls need.
use openblas_src as _;

pub mod adapter;
pub mod bench_scaling;
pub mod compare;
pub mod error;
pub mod json;
pub mod merge;
pub mod params;
pub mod plot;
pub mod report;
pub mod run;
pub mod site;
pub mod sources;
pub mod spectra;
pub mod spectrum;
pub mod stats;
pub mod sweep;
pub mod tensors;
pub mod update;

pub use error::{Error, Result};
pub use formats::Method;
