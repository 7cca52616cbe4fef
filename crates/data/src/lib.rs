//! Images, preprocessing, augmentation, data sets and few-shot sampling for serial-lora-rs.
//!
//! libtorch-free: batches come out as `ndarray` arrays (`Array4<f32>` NCHW, labels `Vec<i64>`)
//! that a runner turns into tensors. The usual flow:
//!
//! 1. load a [`Dataset`]: [`ClipDataset::load`] (CoOp / CLIP-LoRA layout), [`load_image_folder`]
//!    (`root/{train,test}/<class>/*`), [`load_cifar10`] (CIFAR-10 under a data root), or a packaged set ([`fashion_mnist::load`],
//!    [`digits::load`], [`faces::load`] from [`default_assets_dir`]);
//! 2. draw the k-shot training subset with [`FewShot::sample`] (record its `indices`);
//! 3. build a [`Preprocess`] for the backbone and size;
//! 4. train on [`TrainLoader::next_batch`], evaluate on [`eval_batches`] over `dataset.test`.
//!
//! Semantic segmentation: [`load_camvid`] gives one checked split of CamVid (image / label-map
//! pairs), each decoded by [`LabelledImage::load`].

#![warn(missing_docs)]

mod augment;
mod batch;
mod checksum;
mod dataset;
mod error;
mod fewshot;
pub mod instances;
mod layouts;
mod loader;
mod normalize;
pub mod packaged;
mod preprocess;
mod source;
mod split;

pub use augment::{Augment, CropBox};
pub use batch::{eval_batch, eval_batches, train_batch, Batch};
pub use checksum::{sha256_file, verify_sha256};
pub use dataset::{class_counts, Dataset};
pub use error::{DataError, Result};
pub use fewshot::FewShot;
pub use instances::{
    check_box, load_grey_image, load_instance_folder, load_instance_image, stardist_nuclei,
    GreyImage, Instance, InstanceImage, RegionSplit,
};
pub use layouts::camvid::{
    camvid_dir, load_camvid, LabelledImage, SegmentationSample, SegmentationSplit, CAMVID,
    CAMVID_CLASSES, CAMVID_SPLITS, CAMVID_VOID,
};
pub use layouts::cifar10::{cifar10_dir, load_cifar10, CIFAR10, CIFAR10_CLASSES};
pub use layouts::clip_sets::ClipDataset;
pub use layouts::folder::load_image_folder;
pub use layouts::fs::{image_files, subfolders};
pub use loader::TrainLoader;
pub use normalize::{Backbone, Normalization};
pub use packaged::{default_assets_dir, digits, faces, fashion_mnist};
pub use preprocess::Preprocess;
pub use source::{ImageSource, Item};
pub use split::stratified_split;
