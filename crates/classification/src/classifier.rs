//! The classifier of a run: a zoo backbone and a head. CLIP classifies by cosine similarity to
//! the text features of "a photo of a {class}." (its text tower adapted too, as in CLIP-LoRA);
//! a backbone without a text tower gets a cosine head initialised from the few-shot class means.

use std::path::Path;

use anyhow::{bail, Context, Result};
use data::{eval_batches, Item, Preprocess};
use runner::images_to_tensor;
use tch::{nn, Device, Kind, Tensor};
use zoo::clip::{ClipTokenizer, CACHED_TOKENIZER, CONTEXT_LENGTH};
use zoo::{ImageEncoder, Loaded, Model};

/// `x / ‖x‖` on the last dimension.
fn unit(x: &Tensor) -> Tensor {
    x / x
        .square()
        .sum_dim_intlist(-1, true, None)
        .sqrt()
        .clamp_min(1e-12)
}

/// The model built from `model_dir` as an image encoder; the error names the folder and the model
/// type when it is none (not CLIP, a CLIP vision tower or DINOv2).
pub fn image_encoder<'a>(model: &'a Model, model_dir: &Path) -> Result<&'a dyn ImageEncoder> {
    model.image_encoder().with_context(|| {
        format!(
            "{}: a `{}` model is not an image-classification backbone (use clip, clip_vision_model or dinov2)",
            model_dir.display(),
            model.model_type()
        )
    })
}

enum Head {
    /// CLIP: tokenised prompts, one per class, encoded by the (adapted) text tower.
    Text {
        input_ids: Tensor,
        attention_mask: Tensor,
    },
    /// Cosine head `[classes, d]`, trainable, in its own var store.
    Cosine { vars: nn::VarStore, weight: Tensor },
}

/// The file a run's trained cosine head is saved in.
pub const HEAD_FILE: &str = "head.safetensors";
/// The head's tensor name in [`HEAD_FILE`].
const HEAD_KEY: &str = "classifier.weight";

/// Backbone + head, producing `logit_scale · cos(image, class)` logits.
pub struct Classifier {
    /// The backbone's weights and adapters.
    pub loaded: Loaded,
    head: Head,
    logit_scale: f64,
    device: Device,
}

impl Classifier {
    /// The classifier for `loaded` (on `device`): a text head when it is a CLIP model, else a
    /// cosine head initialised from the class means of `train` features (eval preprocessing).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        loaded: Loaded,
        device: Device,
        classnames: &[String],
        template: &str,
        train: &[Item],
        pre: &Preprocess,
        logit_scale: f64,
        model_dir: &Path,
    ) -> Result<Self> {
        image_encoder(&loaded.model, model_dir)?;
        let head = match loaded.model.clip() {
            Some(_) => Self::text_head(classnames, template, model_dir, device)?,
            None => Head::Cosine {
                vars: nn::VarStore::new(device),
                weight: Tensor::new(),
            },
        };
        let mut classifier = Self {
            loaded,
            head,
            logit_scale,
            device,
        };
        if let Head::Cosine { .. } = classifier.head {
            let means = classifier.class_means(train, classnames.len(), pre)?;
            classifier.head = Self::cosine_head(&means, device);
        }
        Ok(classifier)
    }

    /// The classifier a finished run in `run_dir` trained: `loaded` (the backbone with the run's
    /// adapter) and, without a text tower, the cosine head it saved ([`Classifier::save_head`]).
    pub fn restore(
        loaded: Loaded,
        device: Device,
        classnames: &[String],
        template: &str,
        logit_scale: f64,
        model_dir: &Path,
        run_dir: &Path,
    ) -> Result<Self> {
        image_encoder(&loaded.model, model_dir)?;
        let head = match loaded.model.clip() {
            Some(_) => Self::text_head(classnames, template, model_dir, device)?,
            None => {
                let path = run_dir.join(HEAD_FILE);
                let weight = serial_lora::checkpoint::read_tensors(&path)?
                    .remove(HEAD_KEY)
                    .with_context(|| format!("{}: no `{HEAD_KEY}` tensor", path.display()))?;
                if weight.size() != [classnames.len() as i64, weight.size()[1]] {
                    bail!(
                        "{}: `{HEAD_KEY}` has {} rows for {} classes",
                        path.display(),
                        weight.size()[0],
                        classnames.len()
                    );
                }
                Self::cosine_head(&weight.to_device(device), device)
            }
        };
        Ok(Self {
            loaded,
            head,
            logit_scale,
            device,
        })
    }

    /// A trainable cosine head holding `weight` `[classes, d]`.
    fn cosine_head(weight: &Tensor, device: Device) -> Head {
        let vars = nn::VarStore::new(device);
        let weight = (vars.root() / "classifier").var_copy("weight", weight);
        Head::Cosine { vars, weight }
    }

    /// Saves the trained cosine head as `dir/head.safetensors` (nothing for CLIP's text head, which
    /// the text tower and the class names rebuild).
    pub fn save_head(&self, dir: &Path) -> Result<()> {
        if let Head::Cosine { weight, .. } = &self.head {
            serial_lora::checkpoint::save_tensors(
                &dir.join(HEAD_FILE),
                &[(HEAD_KEY.to_string(), weight.to_device(Device::Cpu).detach())],
            )?;
        }
        Ok(())
    }

    fn text_head(
        classnames: &[String],
        template: &str,
        model_dir: &Path,
        device: Device,
    ) -> Result<Head> {
        let local = model_dir.join("tokenizer.json");
        let path = if local.exists() {
            local
        } else {
            formats::paths::repo_root().join(CACHED_TOKENIZER)
        };
        let tokenizer = ClipTokenizer::from_file(&path, CONTEXT_LENGTH)
            .with_context(|| format!("CLIP tokenizer {}", path.display()))?;
        let prompts: Vec<String> = classnames
            .iter()
            .map(|c| template.replace("{}", &c.replace('_', " ")))
            .collect();
        let refs: Vec<&str> = prompts.iter().map(String::as_str).collect();
        let encoded = tokenizer.encode(&refs)?;
        Ok(Head::Text {
            input_ids: encoded.input_ids.to_device(device),
            attention_mask: encoded.attention_mask.to_device(device),
        })
    }

    /// Whether the backbone has a text tower (CLIP), which makes zero-shot classification possible.
    pub fn has_text(&self) -> bool {
        matches!(self.head, Head::Text { .. })
    }

    /// The head's trainable variables (none for CLIP).
    pub fn head_vars(&self) -> Option<&nn::VarStore> {
        match &self.head {
            Head::Cosine { vars, .. } => Some(vars),
            Head::Text { .. } => None,
        }
    }

    /// The backbone as an image encoder (checked in [`Classifier::new`]).
    pub fn encoder(&self) -> &dyn ImageEncoder {
        self.loaded
            .model
            .image_encoder()
            .expect("checked in Classifier::new")
    }

    /// Unit-norm image features `[B, d]`.
    pub fn image_features(&self, pixels: &Tensor, train: bool) -> Tensor {
        unit(&self.encoder().features(pixels, train))
    }

    /// Unit-norm class weights `[classes, d]` (CLIP: text features, re-encoded every call).
    pub fn class_weights(&self, train: bool) -> Tensor {
        match (&self.head, self.loaded.model.clip()) {
            (
                Head::Text {
                    input_ids,
                    attention_mask,
                },
                Some(m),
            ) => {
                m.text_features(input_ids, Some(attention_mask), train)
                    .embeds
            }
            (Head::Cosine { weight, .. }, _) => unit(weight),
            (Head::Text { .. }, None) => unreachable!("a text head only exists for CLIP"),
        }
    }

    /// A batch of decoded images as the model's input, on its device.
    pub fn pixels(&self, images: &ndarray::Array4<f32>) -> Tensor {
        images_to_tensor(images).to_device(self.device)
    }

    /// Labels as a tensor on the model's device.
    pub fn labels(&self, labels: &[i64]) -> Tensor {
        Tensor::from_slice(labels).to_device(self.device)
    }

    /// `logit_scale · cos(image, class)`, `[B, classes]`.
    pub fn logits(&self, pixels: &Tensor, train: bool) -> Tensor {
        self.image_features(pixels, train)
            .matmul(&self.class_weights(train).tr())
            * self.logit_scale
    }

    fn class_means(&self, items: &[Item], classes: usize, pre: &Preprocess) -> Result<Tensor> {
        let mut sums: Option<Tensor> = None;
        let mut counts = vec![0f64; classes];
        tch::no_grad(|| -> Result<()> {
            for batch in eval_batches(items, 64, pre)? {
                let batch = batch?;
                let features = self.image_features(&self.pixels(&batch.images), false);
                let labels = self.labels(&batch.labels);
                let onehot = labels.one_hot(classes as i64).to_kind(Kind::Float);
                let s = onehot.tr().matmul(&features);
                sums = Some(match sums.take() {
                    Some(acc) => acc + s,
                    None => s,
                });
                batch.labels.iter().for_each(|&l| counts[l as usize] += 1.0);
            }
            Ok(())
        })?;
        let sums = sums.context("no training images to initialise the classifier")?;
        Ok(unit(
            &(sums
                / Tensor::from_slice(&counts)
                    .to_kind(Kind::Float)
                    .to_device(self.device)
                    .unsqueeze(1)),
        ))
    }

    /// Top-1 accuracy on `items`.
    pub fn accuracy(&self, items: &[Item], pre: &Preprocess) -> Result<f64> {
        let mut correct = 0i64;
        tch::no_grad(|| -> Result<()> {
            let weights = self.class_weights(false);
            for batch in eval_batches(items, 64, pre)? {
                let batch = batch?;
                let logits = self
                    .image_features(&self.pixels(&batch.images), false)
                    .matmul(&weights.tr());
                let predicted = logits.argmax(-1, false);
                correct += predicted
                    .eq_tensor(&self.labels(&batch.labels))
                    .sum(Kind::Int64)
                    .int64_value(&[]);
            }
            Ok(())
        })?;
        Ok(correct as f64 / items.len().max(1) as f64)
    }
}
