//! # segmentation: box-prompted or prompt-free segmentation with SAM / LiteMedSAM and adapters
//!
//! SAMed's protocol on a promptable segmenter, on the shared engine (`runner`): LoRA (q, v slices
//! of the encoder's fused qkv, or q, k, v, o), Serial LoRA before qkv, and their LoRA+ variants;
//! the mask decoder frozen or trained whole; loss `0.8·Dice + 0.2·BCE`; Dice and IoU per instance,
//! averaged, with the unadapted model's Dice first. With `prompt = "none"` (SAMed's own setting)
//! the decoder gets no prompt, trains whole and predicts the crop's semantic mask, scored per test
//! tile ([`config::Prompt`]). Data: the stardist nuclei image (or `images/` +
//! `masks/` folders), split by image half so no instance is in both train and test.
//!
//! Each run writes `results/segmentation/<run>/{config.json, metrics.csv, summary.json,
//! zero_shot.json, adapter_model.safetensors, adapter_config.json}`;
//! `results/segmentation/summary.csv` is collected from them. A killed run resumes from its
//! checkpoint and ends the same.

pub mod classes;
pub mod config;
pub mod drawing;
pub mod figure;
pub mod metrics;
pub mod predict;
pub mod samples;
pub mod scene_view;
pub mod scenes;
pub mod segment;
pub mod summary;
pub mod task;
pub mod trained;

pub use config::{Experiment, Normalize, Prompt, RunSpec};
pub use summary::Summary;
pub use task::Segmentation;
