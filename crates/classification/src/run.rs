//! One run: few-shot draw, zero-shot accuracy, training with resumable checkpoints, final
//! accuracy, and its files (`config.json`, `fewshot.json`, `metrics.csv`, adapter, `summary.json`,
//! a row of `summary.csv`).

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use data::{Augment, Backbone as Normalisation, FewShot, Preprocess, TrainLoader};
use runner::{
    append_summary_row, images_to_tensor, peak_rss_mb, progress_bar, reset_peak_rss, Checkpoint,
    MetricsLog, RunDir,
};
use serde::{Deserialize, Serialize};
use serial_lora::{AdamW, AdapterPlan};
use tch::{nn::VarStore, Device, Tensor};
use zoo::Model;

use crate::classifier::Classifier;
use crate::config::{Method, RunSpec};
use crate::datasets;

/// Columns of `results/classification/summary.csv`.
pub const SUMMARY_COLUMNS: [&str; 13] = [
    "backbone",
    "dataset",
    "shots",
    "seed",
    "method",
    "rank",
    "trainable_params",
    "accuracy",
    "zero_shot_accuracy",
    "steps",
    "train_seconds",
    "peak_rss_mb",
    "head_params",
];

const METRICS_COLUMNS: [&str; 4] = ["step", "loss", "lr", "batch_accuracy"];

/// What a finished run reports (`summary.json`, and one row of `summary.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Backbone name.
    pub backbone: String,
    /// Data set.
    pub dataset: String,
    /// Shots per class.
    pub shots: usize,
    /// Seed.
    pub seed: u64,
    /// Method name.
    pub method: String,
    /// Rank (0 without adapters).
    pub rank: i64,
    /// Trainable adapter parameters (all backbone weights for `full`; 0 otherwise).
    pub trainable_params: i64,
    /// Top-1 test accuracy after the last step.
    pub accuracy: f64,
    /// Accuracy before training (CLIP: zero-shot; cosine head: class means).
    pub zero_shot_accuracy: f64,
    /// Training steps.
    pub steps: usize,
    /// Wall-clock seconds of training (this process's share for a resumed run).
    pub train_seconds: f64,
    /// Peak resident memory during the run, MiB.
    pub peak_rss_mb: f64,
    /// Parameters of the cosine head, trained alongside (0 for CLIP's text head).
    pub head_params: i64,
}

impl Summary {
    fn row(&self) -> Vec<String> {
        vec![
            self.backbone.clone(),
            self.dataset.clone(),
            self.shots.to_string(),
            self.seed.to_string(),
            self.method.clone(),
            self.rank.to_string(),
            self.trainable_params.to_string(),
            format!("{:.6}", self.accuracy),
            format!("{:.6}", self.zero_shot_accuracy),
            self.steps.to_string(),
            format!("{:.1}", self.train_seconds),
            format!("{:.0}", self.peak_rss_mb),
            self.head_params.to_string(),
        ]
    }
}

/// Log a metrics row every this many steps.
const LOG_EVERY: usize = 10;

/// Runs `spec`, writing under `results/classification/`; a finished run is not repeated (its
/// summary is returned), an interrupted one resumes from its last checkpoint. With `step_budget`,
/// at most that many training steps are taken in this call: if the run is not done by then, its
/// checkpoint is saved and `None` is returned (call again to continue). Runs seed libtorch's global
/// RNG: run them one after another, never concurrently in one process.
pub fn run(spec: &RunSpec, results: &Path, step_budget: Option<usize>) -> Result<Option<Summary>> {
    let dir = RunDir::create(results, "classification", &spec.name())?;
    if let Some(summary) = dir.finished_summary::<Summary>()? {
        eprintln!(
            "{}: finished earlier (accuracy {:.4}), skipping",
            spec.name(),
            summary.accuracy
        );
        return Ok(Some(summary));
    }
    dir.write_config(&serde_json::to_value(spec)?)?;
    reset_peak_rss();
    tch::manual_seed(spec.seed as i64);

    let dataset = datasets::load(&spec.dataset, spec.data_root.as_deref())?;
    let fewshot = FewShot::sample(&dataset, spec.shots, spec.seed)?;
    dir.write_json("fewshot.json", &fewshot)?;
    let train_items = fewshot.items(&dataset);
    let test_items = datasets::test_subset(&dataset, spec.test_limit);

    let plan = spec.adapter.as_ref().map(AdapterPlan::from);
    let mut loaded = zoo::build(&spec.model_dir, plan, Device::Cpu)
        .with_context(|| format!("loading {}", spec.model_dir.display()))?;
    let normalisation = match loaded.model {
        Model::Dinov2(_) => Normalisation::Dinov2,
        _ => Normalisation::Clip,
    };
    if spec.method == Method::Full {
        loaded.store.unfreeze_base();
    }
    let augment = Augment {
        scale: spec.crop_scale,
        flip_prob: if spec.flip { 0.5 } else { 0.0 },
        ..Augment::default()
    };
    let pre = Preprocess::custom(spec.resolution, normalisation.normalization(), augment)?;
    let classifier = Classifier::new(
        loaded,
        &dataset.classnames,
        &spec.template,
        &train_items,
        &pre,
        spec.logit_scale,
        &spec.model_dir,
    )?;
    if spec.method == Method::Probe && classifier.has_text() {
        bail!("method `probe` needs a backbone without a text tower; CLIP's is `zero_shot`");
    }
    let zero_shot_accuracy = classifier.accuracy(&test_items, &pre)?;
    eprintln!(
        "{}: accuracy before training {:.4}",
        spec.name(),
        zero_shot_accuracy
    );

    let store = &classifier.loaded.store;
    let mut stores: Vec<&VarStore> = vec![store.adapters()];
    if spec.method == Method::Full {
        stores.push(store.base());
    }
    stores.extend(classifier.head_vars());
    let Some(train_seconds) = train(
        spec,
        &classifier,
        &stores,
        train_items,
        &pre,
        &dir,
        step_budget,
    )?
    else {
        eprintln!(
            "{}: stopped after the step budget; run again to resume",
            spec.name()
        );
        return Ok(None);
    };
    let accuracy = classifier.accuracy(&test_items, &pre)?;

    let trainable_params = match spec.method {
        Method::Full => store
            .base()
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum(),
        _ => store.parameter_count().total,
    };
    let head_params = classifier.head_vars().map_or(0, |v| {
        v.trainable_variables()
            .iter()
            .map(|t| t.numel() as i64)
            .sum()
    });
    if spec.adapter.is_some() {
        store.save_adapter(dir.path())?;
    }
    let summary = Summary {
        backbone: spec.backbone.clone(),
        dataset: spec.dataset.clone(),
        shots: spec.shots,
        seed: spec.seed,
        method: spec.method.name().to_string(),
        rank: spec.rank,
        trainable_params,
        accuracy,
        zero_shot_accuracy,
        steps: spec.iters,
        train_seconds,
        peak_rss_mb: peak_rss_mb(),
        head_params,
    };
    append_summary_row(
        &results.join("classification/summary.csv"),
        &SUMMARY_COLUMNS,
        &summary.row(),
    )?;
    dir.write_json("summary.json", &summary)?;
    Checkpoint::new(dir.path()).remove()?;
    eprintln!(
        "{}: accuracy {:.4} after {} steps",
        spec.name(),
        accuracy,
        spec.iters
    );
    Ok(Some(summary))
}

/// The training loop; returns its wall-clock seconds, or `None` when `budget` steps were taken
/// before the end (checkpoint saved). Every step's randomness (batch, augmentation, dropout)
/// derives from the seed and the step index, so a resumed run replays the same steps.
fn train(
    spec: &RunSpec,
    classifier: &Classifier,
    stores: &[&VarStore],
    items: Vec<data::Item>,
    pre: &Preprocess,
    dir: &RunDir,
    budget: Option<usize>,
) -> Result<Option<f64>> {
    if spec.iters == 0 {
        return Ok(Some(0.0));
    }
    let mut optimizer = AdamW::new(stores, spec.optim.clone())?;
    let checkpoint = Checkpoint::new(dir.path());
    let start = checkpoint.load(stores, &mut optimizer)?.unwrap_or(0);
    let mut metrics = MetricsLog::open(&dir.path().join("metrics.csv"), &METRICS_COLUMNS, start)?;
    let mut loader = TrainLoader::new(items, spec.batch_size, *pre, spec.seed)?;
    for _ in 0..start {
        loader.next_batch()?;
    }
    if start > 0 {
        eprintln!("{}: resuming at step {start}", spec.name());
    }
    let bar = progress_bar(spec.iters as u64, start as u64, &spec.name());
    let clock = Instant::now();
    let end = budget.map_or(spec.iters, |b| spec.iters.min(start + b));
    for step in start..end {
        tch::manual_seed((spec.seed as i64) * 1_000_003 + step as i64);
        let batch = loader.next_batch()?;
        let labels = Tensor::from_slice(&batch.labels);
        let logits = classifier.logits(&images_to_tensor(&batch.images), true);
        let loss = logits.cross_entropy_for_logits(&labels);
        let lr = optimizer
            .step(&loss)
            .with_context(|| format!("run {}", spec.name()))?;
        if (step + 1) % LOG_EVERY == 0 || step + 1 == spec.iters {
            let correct = logits
                .argmax(-1, false)
                .eq_tensor(&labels)
                .to_kind(tch::Kind::Float)
                .mean(tch::Kind::Float);
            metrics.push(vec![
                (step + 1).to_string(),
                format!("{:.6}", loss.double_value(&[])),
                format!("{lr:.3e}"),
                format!("{:.4}", correct.double_value(&[])),
            ]);
        }
        if (step + 1) % spec.checkpoint_every == 0 && step + 1 < spec.iters {
            metrics.flush()?;
            checkpoint.save(step + 1, stores, &optimizer)?;
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    metrics.flush()?;
    if end < spec.iters {
        checkpoint.save(end, stores, &optimizer)?;
        return Ok(None);
    }
    Ok(Some(clock.elapsed().as_secs_f64()))
}
