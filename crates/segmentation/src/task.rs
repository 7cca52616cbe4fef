//! The segmentation task on the engine: a run builds the segmenter with its adapter, scores the
//! unadapted model, trains on box-prompted crops or, prompt-free, on crops' semantic masks
//! (`w·Dice + (1 − w)·BCE`), and reports test Dice and IoU. On a multi-class data set (CamVid) it
//! follows SAMed: one mask per class from a fresh class head, `(1 − w)·CE + w·Dice`, per-class IoU,
//! mIoU and pixel accuracy ([`crate::classes`]); there is no zero-shot score (the head is new).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use formats::atomic::write_atomic;
use formats::paths::resolve;
use runner::{RunContext, RunDir, RunSpec as _, StepOutput, TrainStats};
use serial_lora::checkpoint::save_tensors;
use serial_lora::{AdapterPlan, ModelStore};
use tch::{nn::VarStore, Device, Tensor};
use zoo::sam::Segmenter;
use zoo::Loaded;

use crate::classes::{class_loss, ClassScores};
use crate::config::{Experiment, Prompt, RunSpec};
use crate::metrics::{loss, Scores};
use crate::predict::{class_logits, decode, evaluate, evaluate_classes, segmenter};
use crate::samples::{Sample, SegData};
use crate::scenes::Scenes;
use crate::summary::Summary;

/// Prefix of the mask decoder's variables (trained whole when `train_decoder`).
pub(crate) const DECODER: &str = "mask_decoder.";
/// File of the trained mask decoder in a run folder (when `train_decoder`).
pub const DECODER_FILE: &str = "mask_decoder.safetensors";

/// The task: `results/segmentation/`.
pub struct Segmentation;

impl runner::Task for Segmentation {
    const NAME: &'static str = "segmentation";
    type Experiment = Experiment;
    type Spec = RunSpec;
    type Session = Run;

    fn start(spec: &RunSpec, ctx: &RunContext) -> Result<Run> {
        Run::start(spec, ctx)
    }
}

/// What a run trains and is scored on.
enum Data {
    /// Nuclei (instances or their semantic mask) with the test tiles.
    Nuclei { data: SegData, tests: Vec<Sample> },
    /// Multi-class scenes.
    Scenes(Scenes),
}

/// One segmentation run in training.
pub struct Run {
    spec: RunSpec,
    loaded: Loaded,
    data: Data,
    size: i64,
    zero_shot: Option<Scores>,
    decoder_params: i64,
    device: Device,
}

impl Run {
    fn start(spec: &RunSpec, ctx: &RunContext) -> Result<Self> {
        if spec.multiclass() {
            return Self::start_scenes(spec, ctx);
        }
        let model_dir = resolve(&spec.model_dir, ctx.root);
        let adapter = spec
            .adapter
            .as_ref()
            .with_context(|| format!("method `{}` trains no adapter", spec.method))?;
        let plan = AdapterPlan::from(adapter).with_seed(spec.seed);
        let loaded = zoo::build(&model_dir, Some(plan), ctx.device)
            .with_context(|| format!("building {}", model_dir.display()))?;
        let size = segmenter(&loaded.model, &model_dir)?.image_size();
        let data = SegData::load(&spec.dataset, ctx.root, spec.validation_fraction)
            .with_context(|| format!("data set `{}`", spec.dataset))?;
        let tests = match spec.prompt {
            Prompt::Box => data.test_samples(size as usize, spec.normalize)?,
            Prompt::Free => data.semantic_test_samples(size as usize, spec.normalize)?,
        };
        let tests: Vec<Sample> = tests.into_iter().map(|t| t.to_device(ctx.device)).collect();
        let zero_shot = match ctx.dir.read_json::<Scores>("zero_shot.json")? {
            Some(z) => z,
            None => {
                let seg = segmenter(&loaded.model, &model_dir)?;
                let z = zero_shot_scores(spec, ctx.results, || evaluate(seg, &tests))?;
                ctx.dir.write_json("zero_shot.json", &z)?;
                z
            }
        };
        let decoder_params = if spec.train_decoder {
            unfreeze_decoder(loaded.store.base())
        } else {
            0
        };
        let (train, test, dropped) = data.counts();
        let scored = match spec.prompt {
            Prompt::Box => format!("{train} train / {test} test instances, {dropped} dropped"),
            Prompt::Free => format!("prompt-free, {} test tiles", tests.len()),
        };
        eprintln!(
            "{}: zero-shot dice {:.3} ({scored})",
            spec.name(),
            zero_shot.dice
        );
        Ok(Self {
            spec: spec.clone(),
            loaded,
            data: Data::Nuclei { data, tests },
            size,
            zero_shot: Some(zero_shot),
            decoder_params,
            device: ctx.device,
        })
    }

    /// A multi-class run: the data (checked whole before anything trains), the segmenter with a
    /// fresh class head, the decoder trainable.
    fn start_scenes(spec: &RunSpec, ctx: &RunContext) -> Result<Self> {
        let data_root = spec
            .data_root
            .as_ref()
            .map(|d| resolve(d, ctx.root))
            .with_context(|| {
                format!(
                    "data set `{}` needs --data-root DIR (make: CAMVID=DIR)",
                    spec.dataset
                )
            })?;
        let model_dir = resolve(&spec.model_dir, ctx.root);
        let plan = spec
            .adapter
            .as_ref()
            .map(|a| AdapterPlan::from(a).with_seed(spec.seed));
        let classes = data::CAMVID_CLASSES.len() as i64;
        let loaded = zoo::build_semantic(
            &model_dir,
            plan,
            ctx.device,
            classes,
            spec.image_size,
            spec.seed,
        )
        .with_context(|| format!("building {}", model_dir.display()))?;
        let size = segmenter(&loaded.model, &model_dir)?.image_size();
        let scenes = Scenes::load(
            &data_root,
            size,
            spec.normalize,
            spec.validation_fraction.is_some(),
        )
        .with_context(|| format!("data set `{}`", spec.dataset))?;
        let decoder_params = unfreeze_decoder(loaded.store.base());
        eprintln!(
            "{}: {} training images, {} scored, at {size} px",
            spec.name(),
            scenes.train.names.len(),
            scenes.eval.names.len()
        );
        Ok(Self {
            spec: spec.clone(),
            loaded,
            data: Data::Scenes(scenes),
            size,
            zero_shot: None,
            decoder_params,
            device: ctx.device,
        })
    }

    fn segmenter(&self) -> &dyn Segmenter {
        self.loaded
            .model
            .segmenter()
            .expect("checked when the run started")
    }
}

/// The unadapted model's scores on the test tiles, shared by every run on the same model, data and
/// scaling, prompt mode and precision through `<results>/segmentation/zero_shot.json` (an adapter at
/// init is the base model; the box mode's key has no prompt part, as before the prompt-free mode,
/// and an fp32 run's no precision part).
fn zero_shot_scores(
    spec: &RunSpec,
    results: &Path,
    compute: impl FnOnce() -> Scores,
) -> Result<Scores> {
    let path = results.join("segmentation/zero_shot.json");
    let mut key = format!(
        "{}|{}|{:?}",
        spec.model_dir.display(),
        spec.dataset,
        spec.normalize
    );
    if spec.prompt == Prompt::Free {
        key.push_str("|none");
    }
    if let Some(share) = spec.validation_fraction {
        key.push_str(&format!("|validation{share}"));
    }
    if !spec.precision.is_fp32() {
        key.push_str(&format!("|{}", spec.precision));
    }
    let mut cache: BTreeMap<String, Scores> = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{}: invalid JSON", path.display()))?,
        Err(_) => BTreeMap::new(),
    };
    if let Some(z) = cache.get(&key) {
        return Ok(*z);
    }
    let z = compute();
    cache.insert(key, z);
    write_atomic(&path, serde_json::to_string_pretty(&cache)?.as_bytes())?;
    Ok(z)
}

/// Makes the mask decoder's base variables trainable; returns their parameter count.
fn unfreeze_decoder(base: &VarStore) -> i64 {
    base.variables()
        .into_iter()
        .filter(|(name, _)| name.starts_with(DECODER))
        .map(|(_, t)| {
            let _ = t.set_requires_grad(true);
            t.numel() as i64
        })
        .sum()
}

impl runner::Session for Run {
    type Summary = Summary;

    fn store(&self) -> &ModelStore {
        &self.loaded.store
    }

    fn trainable(&self) -> Vec<&VarStore> {
        vec![self.loaded.store.adapters(), self.loaded.store.base()]
    }

    fn step(&mut self, step: usize) -> Result<StepOutput> {
        let (seed, size, norm) = (self.spec.seed, self.size as usize, self.spec.normalize);
        let data = match &self.data {
            Data::Scenes(scenes) => {
                let sample = scenes.train_sample(seed, step);
                let seg = self.segmenter();
                let embedding = seg.embed_t(&sample.pixels.to_device(self.device), true);
                let logits = class_logits(seg, &embedding);
                let labels = labels_at(&sample.labels, logits.size()[2]).to_device(self.device);
                return Ok(StepOutput {
                    loss: class_loss(&logits, &labels, scenes.void, self.spec.dice_weight),
                    metrics: Vec::new(),
                });
            }
            Data::Nuclei { data, .. } => data,
        };
        let sample = match (self.spec.prompt, self.spec.boxes_per_step) {
            (Prompt::Free, _) => data.semantic_train_sample(seed, step, size, norm),
            (Prompt::Box, Some(boxes)) => data.train_sample(seed, step, size, boxes, norm)?,
            (Prompt::Box, None) => bail!("field `boxes_per_step` is missing (box prompts)"),
        }
        .to_device(self.device);
        let seg = self.segmenter();
        let embedding = seg.embed_t(&sample.pixels, true);
        let logits = decode(seg, &embedding, sample.boxes.as_ref(), self.size);
        Ok(StepOutput {
            loss: loss(&logits, &sample.masks, self.spec.dice_weight),
            metrics: Vec::new(),
        })
    }

    fn finish(&mut self, dir: &RunDir, stats: &TrainStats) -> Result<Summary> {
        let (scores, classes) = match &self.data {
            Data::Nuclei { tests, .. } => (evaluate(self.segmenter(), tests), None),
            Data::Scenes(scenes) => {
                let labels = (scenes.classes.len(), scenes.void);
                let c = evaluate_classes(self.segmenter(), &scenes.eval, labels, self.device);
                (class_summary(&c, scenes.eval.names.len()), Some(c))
            }
        };
        let store = &self.loaded.store;
        if self.spec.adapter.is_some() {
            store.save_adapter(dir.path())?;
        }
        if self.spec.train_decoder {
            let mut vars: Vec<(String, Tensor)> = store
                .base()
                .variables()
                .into_iter()
                .filter(|(n, _)| n.starts_with(DECODER))
                .map(|(n, t)| (n, t.detach().to_device(Device::Cpu)))
                .collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            save_tensors(&dir.path().join(DECODER_FILE), &vars)?;
        }
        Ok(Summary {
            model: self.spec.backbone.clone(),
            dataset: self.spec.dataset.clone(),
            method: self.spec.method.name().into(),
            rank: self.spec.rank,
            seed: self.spec.seed,
            trainable_params: store.parameter_count().total + self.decoder_params,
            test: scores,
            classes,
            zero_shot: self.zero_shot,
            training: *stats,
        })
    }
}

/// `labels` `[B, S, S]` at the decoder's resolution `r` (nearest neighbour; as they are when
/// `r = S`, as for LiteMedSAM).
fn labels_at(labels: &Tensor, r: i64) -> Tensor {
    if labels.size()[2] == r {
        return labels.shallow_clone();
    }
    labels
        .unsqueeze(1)
        .to_kind(tch::Kind::Float)
        .upsample_nearest2d([r, r], None, None)
        .squeeze_dim(1)
        .to_kind(tch::Kind::Int64)
}

/// The multi-class scores in the nuclei runs' columns: Dice the mean class Dice, IoU the mIoU,
/// instances the images scored.
fn class_summary(c: &ClassScores, images: usize) -> Scores {
    Scores {
        dice: c.mean_dice,
        iou: c.miou,
        instances: images,
    }
}
