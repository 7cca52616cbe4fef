//! Scoring a run's samples: Fréchet distance and KID between DINOv2 features of the samples and of
//! every real image of the personalised class (train and test pooled), instance accuracy (the share
//! of samples a pixel classifier assigns to that class) and preservation accuracy (the same for the
//! other classes' prompts). The real features and the classifier are computed once per results
//! folder and shared by its runs (`<results>/generation/eval/`, written atomically).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serial_lora::checkpoint::{read_tensors, save_tensors};
use serial_lora::precision::without_autocast;
use tch::{Device, Kind, Tensor};
use zoo::{ImageEncoder, Loaded};

use crate::data::Images;
use crate::metrics::{frechet_distance, kernel_inception_distance, PixelClassifier};

/// Images per feature-model call.
const FEATURE_BATCH: i64 = 250;

/// The shared evaluation files of a results folder.
fn eval_dir(results: &Path) -> PathBuf {
    results.join("generation").join("eval")
}

/// The classifier's record: how well it labels the real test images.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierRecord {
    /// Accuracy on the data set's test split (all classes).
    pub test_accuracy: f64,
    /// Full-batch steps it was fitted with.
    pub steps: usize,
}

/// The measuring instrument of FD and KID: a DINOv2 image encoder seeing images at one size.
pub struct FeatureModel {
    encoder: Loaded,
    size: i64,
    device: Device,
}

impl FeatureModel {
    /// The image encoder in `dir`, fed `size`-pixel images, on `device`.
    pub fn open(dir: &Path, size: i64, device: Device) -> Result<Self> {
        let encoder = zoo::build(dir, None, device)
            .with_context(|| format!("feature model {}", dir.display()))?;
        let check = encoder
            .model
            .image_encoder()
            .with_context(|| format!("feature model {}: not an image encoder", dir.display()))?;
        check.check_size(size)?;
        Ok(Self {
            encoder,
            size,
            device,
        })
    }

    fn encoder(&self) -> &dyn ImageEncoder {
        self.encoder
            .model
            .image_encoder()
            .expect("checked when the feature model was opened")
    }

    /// Features `[N, d]` (fp64, CPU) of images `[N, C, H, W]` in `[−1, 1]` (`encode`).
    pub fn features(&self, images: &Tensor) -> Tensor {
        encode(self.encoder(), self.size, self.device, images)
    }
}

/// The feature model, the real features of the personalised class and the classifier.
pub struct Evaluator {
    features: FeatureModel,
    real: Tensor,
    classifier: Option<PixelClassifier>,
    /// The classifier's accuracy on the real test images (none with a single class).
    pub classifier_accuracy: Option<f64>,
}

/// FD, KID and instance accuracy of one prompt's samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleScores {
    /// Fréchet distance on DINOv2 features to the real images of the class.
    pub fd_dinov2: f64,
    /// Kernel inception distance (unbiased MMD², cubic polynomial kernel) on the same features.
    pub kid: f64,
    /// Share of samples the classifier assigns to the class (none with a single class).
    pub accuracy: Option<f64>,
}

impl Evaluator {
    /// Loads the feature model in `feature_model` and the shared real features (of class `label`
    /// of `images`, at `size` pixels) and classifier, computing and saving them when absent.
    pub fn new(
        feature_model: &Path,
        images: &Images,
        label: i64,
        size: i64,
        classifier_steps: usize,
        results: &Path,
        device: Device,
    ) -> Result<Self> {
        let features = FeatureModel::open(feature_model, size, device)?;
        let dir = eval_dir(results);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let model_name = feature_model
            .file_name()
            .map_or_else(|| "features".into(), |n| n.to_string_lossy().into_owned());
        let real_file = dir.join(format!(
            "real_features_{}_class{label}_{model_name}_{size}px.safetensors",
            images.classnames.len()
        ));
        let real = match read_tensors(&real_file) {
            Ok(mut t) if t.contains_key("features") => t.remove("features").expect("checked"),
            _ => {
                let real = Tensor::cat(
                    &[images.train.of_class(label), images.test.of_class(label)],
                    0,
                );
                eprintln!(
                    "features of {} real images (once per results folder)",
                    real.size()[0]
                );
                let real = features.features(&real);
                save_tensors(&real_file, &[("features".into(), real.shallow_clone())])?;
                real
            }
        };
        let (classifier, classifier_accuracy) = if images.classnames.len() > 1 {
            let (c, record) = classifier(images, classifier_steps, &dir)?;
            (Some(c), Some(record.test_accuracy))
        } else {
            (None, None)
        };
        Ok(Self {
            features,
            real,
            classifier,
            classifier_accuracy,
        })
    }

    /// Features `[N, d]` (fp64, CPU) of images `[N, 1, H, W]` in `[−1, 1]` (`encode`).
    pub fn features(&self, images: &Tensor) -> Tensor {
        self.features.features(images)
    }

    /// FD, KID and the share labelled `label` of `samples` `[N, 1, H, W]`.
    pub fn score(&self, samples: &Tensor, label: i64) -> Result<SampleScores> {
        let features = self.features(samples);
        Ok(SampleScores {
            fd_dinov2: frechet_distance(&features, &self.real)?,
            kid: kernel_inception_distance(&features, &self.real)?,
            accuracy: self.accuracy(samples, label),
        })
    }

    /// The share of `samples` the classifier labels `label` (none without a classifier).
    pub fn accuracy(&self, samples: &Tensor, label: i64) -> Option<f64> {
        self.classifier.as_ref().map(|c| c.share_of(samples, label))
    }
}

/// Features `[N, d]` (fp64, CPU) of images `[N, C, H, W]` in `[−1, 1]`: to `[0, 1]`, grey repeated
/// to RGB, bicubic resize to `size`, the encoder's pixel statistics, in batches on `device`. In
/// fp32 whatever the run's precision: the measuring instrument stays the same for every run.
fn encode(encoder: &dyn ImageEncoder, size: i64, device: Device, images: &Tensor) -> Tensor {
    without_autocast(device, || encode_fp32(encoder, size, device, images))
}

fn encode_fp32(encoder: &dyn ImageEncoder, size: i64, device: Device, images: &Tensor) -> Tensor {
    let (mean, std) = encoder.pixel_stats();
    let stat = |v: [f32; 3]| Tensor::from_slice(&v).view([1, 3, 1, 1]).to_device(device);
    let (mean, std) = (stat(mean), stat(std));
    let n = images.size()[0];
    let mut out = Vec::new();
    tch::no_grad(|| {
        for start in (0..n).step_by(FEATURE_BATCH as usize) {
            let rows = FEATURE_BATCH.min(n - start);
            let x = (images.narrow(0, start, rows).to_device(device) + 1.0) / 2.0;
            let x = if x.size()[1] == 1 {
                x.repeat([1, 3, 1, 1])
            } else {
                x
            };
            let x = x.upsample_bicubic2d([size, size], false, None, None);
            let x = (x - &mean) / &std;
            out.push(
                encoder
                    .features(&x, false)
                    .to_kind(Kind::Double)
                    .to_device(Device::Cpu),
            );
        }
    });
    Tensor::cat(&out, 0)
}

/// The shared pixel classifier of `images` (fitted on the train split, scored on the test split),
/// read from `dir` or fitted and saved there.
fn classifier(
    images: &Images,
    steps: usize,
    dir: &Path,
) -> Result<(PixelClassifier, ClassifierRecord)> {
    let weights = dir.join(format!("classifier_{steps}steps.safetensors"));
    let record_file = dir.join(format!("classifier_{steps}steps.json"));
    if weights.is_file() && record_file.is_file() {
        let record: ClassifierRecord = formats::run::read_json(&record_file)?;
        return Ok((PixelClassifier::load(&weights)?, record));
    }
    let classes = images.classnames.len() as i64;
    let classifier =
        PixelClassifier::fit(&images.train.images, &images.train.labels, classes, steps)?;
    let record = ClassifierRecord {
        test_accuracy: classifier.accuracy(&images.test.images, &images.test.labels),
        steps,
    };
    classifier.save(&weights)?;
    formats::atomic::write_atomic(
        &record_file,
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;
    Ok((classifier, record))
}
