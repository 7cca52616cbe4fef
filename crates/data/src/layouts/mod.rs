//! On-disk data set layouts: the CLIP few-shot sets (CoOp / CLIP-LoRA), plain class folders and
//! CamVid semantic segmentation.

mod aircraft;
pub mod camvid;
pub mod cifar10;
pub mod clip_sets;
mod coop_split;
pub mod folder;
pub mod fs;
mod imagenet;
