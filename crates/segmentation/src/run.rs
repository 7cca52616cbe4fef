//! One run: build the model with its adapter, score the unadapted model, train (resumably), score,
//! save the adapter and write the run folder and the summary row.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serial_lora::checkpoint::{save_tensors, write_atomic};
use serial_lora::{AdamW, AdapterPlan};
use tch::{nn::VarStore, Device, Tensor};

use crate::config::RunSpec;
use crate::metrics::{loss, Scores};
use crate::predict::{decode, evaluate, segmenter};
use crate::samples::SegData;

/// Columns of `results/segmentation/summary.csv`.
pub const SUMMARY_HEADER: [&str; 12] = [
    "model",
    "dataset",
    "method",
    "rank",
    "seed",
    "trainable_params",
    "dice",
    "iou",
    "zero_shot_dice",
    "steps",
    "train_seconds",
    "peak_rss_mb",
];
/// Prefix of the mask decoder's variables (trained whole when `train_decoder`).
const DECODER: &str = "mask_decoder.";
/// File of the trained mask decoder in a run folder (when `train_decoder`).
pub const DECODER_FILE: &str = "mask_decoder.safetensors";

/// `summary.json` of a finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Backbone.
    pub model: String,
    /// Data set.
    pub dataset: String,
    /// Method.
    pub method: String,
    /// Rank.
    pub rank: i64,
    /// Seed.
    pub seed: u64,
    /// Trainable parameters (adapters, plus the decoder when trained).
    pub trainable_params: i64,
    /// Test scores after training.
    pub test: Scores,
    /// Test scores of the unadapted model.
    pub zero_shot: Scores,
    /// Training steps.
    pub steps: usize,
    /// Seconds spent in training steps (over all resumptions).
    pub train_seconds: f64,
    /// Peak resident memory of the last process, MiB.
    pub peak_rss_mb: f64,
}

/// Training time so far, saved beside each checkpoint.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Progress {
    step: usize,
    train_seconds: f64,
}

/// The unadapted model's scores on the test tiles, shared by every run on the same model, data and
/// scaling through `results/segmentation/zero_shot.json` (an adapter at init is the base model).
fn zero_shot_scores(
    spec: &RunSpec,
    results: &Path,
    compute: impl FnOnce() -> Scores,
) -> Result<Scores> {
    let path = results.join("segmentation/zero_shot.json");
    let key = format!(
        "{}|{}|{:?}",
        spec.model_dir.display(),
        spec.dataset,
        spec.normalize
    );
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

/// Runs `spec` under `results/segmentation/<name>/`, resuming a checkpoint if one exists. With
/// `step_budget`, stops after that many steps (checkpoint saved) and returns `None`.
pub fn run(spec: &RunSpec, results: &Path, step_budget: Option<usize>) -> Result<Option<Summary>> {
    let dir = runner::RunDir::create(results, "segmentation", &spec.name())?;
    if let Some(done) = dir.finished_summary::<Summary>()? {
        eprintln!(
            "{}: finished already (dice {:.4})",
            spec.name(),
            done.test.dice
        );
        return Ok(Some(done));
    }
    dir.write_config(&serde_json::to_value(spec)?)?;
    runner::reset_peak_rss();
    tch::manual_seed(spec.seed as i64);
    let loaded = zoo::build(
        &spec.model_dir,
        Some(AdapterPlan::from(&spec.adapter)),
        Device::Cpu,
    )
    .with_context(|| format!("building {}", spec.model_dir.display()))?;
    let seg = segmenter(&loaded.model)?;
    let size = seg.image_size();
    let data =
        SegData::load(&spec.dataset).with_context(|| format!("data set `{}`", spec.dataset))?;
    let tests = data.test_samples(size as usize, spec.normalize);
    let zero_shot = match dir.read_json::<Scores>("zero_shot.json")? {
        Some(z) => z,
        None => {
            let z = zero_shot_scores(spec, results, || evaluate(seg, &tests))?;
            dir.write_json("zero_shot.json", &z)?;
            z
        }
    };
    let decoder_params = if spec.train_decoder {
        unfreeze_decoder(loaded.store.base())
    } else {
        0
    };
    let stores = [loaded.store.adapters(), loaded.store.base()];
    let mut opt = AdamW::new(&stores, spec.optim.clone())?;
    let checkpoint = runner::Checkpoint::new(dir.path());
    let start = checkpoint.load(&stores, &mut opt)?.unwrap_or(0);
    let mut progress = dir
        .read_json::<Progress>("progress.json")?
        .filter(|p| p.step == start)
        .unwrap_or_default();
    let metrics_path = dir.path().join("metrics.csv");
    let mut log = runner::MetricsLog::open(&metrics_path, &["step", "loss", "lr"], start)?;
    let bar = runner::progress_bar(spec.iters as u64, start as u64, &spec.name());
    let (train, test, dropped) = data.counts();
    bar.set_prefix(format!(
        "zero-shot dice {:.3} ({train} train / {test} test nuclei, {dropped} dropped)",
        zero_shot.dice
    ));
    let save = |step: usize, log: &runner::MetricsLog, opt: &AdamW, seconds: f64| -> Result<()> {
        log.flush()?;
        dir.write_json(
            "progress.json",
            &Progress {
                step,
                train_seconds: seconds,
            },
        )?;
        checkpoint.save(step, &stores, opt)
    };
    let budget_end = step_budget.map_or(spec.iters, |b| (start + b).min(spec.iters));
    for step in start..budget_end {
        let t0 = Instant::now();
        let sample = data.train_sample(
            spec.seed,
            step,
            size as usize,
            spec.boxes_per_step,
            spec.normalize,
        )?;
        let embedding = seg.embed_t(&sample.pixels, true);
        let logits = decode(seg, &embedding, &sample.boxes, size);
        let value = loss(&logits, &sample.masks, spec.dice_weight);
        let lr = opt
            .step(&value)
            .with_context(|| format!("step {}", step + 1))?;
        progress.train_seconds += t0.elapsed().as_secs_f64();
        log.push(vec![
            (step + 1).to_string(),
            format!("{:.6}", value.double_value(&[])),
            format!("{lr:.3e}"),
        ]);
        bar.inc(1);
        let done = step + 1;
        if done < spec.iters && (done % spec.checkpoint_every == 0 || done == budget_end) {
            save(done, &log, &opt, progress.train_seconds)?;
        }
    }
    if budget_end < spec.iters {
        bar.abandon();
        return Ok(None);
    }
    bar.finish();
    log.flush()?;
    let scores = evaluate(seg, &tests);
    loaded.store.save_adapter(dir.path())?;
    if spec.train_decoder {
        let mut vars: Vec<(String, Tensor)> = loaded
            .store
            .base()
            .variables()
            .into_iter()
            .filter(|(n, _)| n.starts_with(DECODER))
            .map(|(n, t)| (n, t.detach()))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        save_tensors(&dir.path().join(DECODER_FILE), &vars)?;
    }
    let summary = Summary {
        model: spec.backbone.clone(),
        dataset: spec.dataset.clone(),
        method: spec.method.name().into(),
        rank: spec.rank,
        seed: spec.seed,
        trainable_params: loaded.store.parameter_count().total + decoder_params,
        test: scores,
        zero_shot,
        steps: spec.iters,
        train_seconds: progress.train_seconds,
        peak_rss_mb: runner::peak_rss_mb(),
    };
    let row = [
        summary.model.clone(),
        summary.dataset.clone(),
        summary.method.clone(),
        summary.rank.to_string(),
        summary.seed.to_string(),
        summary.trainable_params.to_string(),
        format!("{:.4}", scores.dice),
        format!("{:.4}", scores.iou),
        format!("{:.4}", zero_shot.dice),
        summary.steps.to_string(),
        format!("{:.1}", summary.train_seconds),
        format!("{:.0}", summary.peak_rss_mb),
    ];
    runner::append_summary_row(
        &results.join("segmentation/summary.csv"),
        &SUMMARY_HEADER,
        &row,
    )?;
    dir.write_json("summary.json", &summary)?;
    checkpoint.remove()?;
    let _ = std::fs::remove_file(dir.path().join("progress.json"));
    eprintln!(
        "{}: dice {:.4} iou {:.4} (zero-shot {:.4}) on {} test nuclei, {} params, {:.0}s",
        spec.name(),
        scores.dice,
        scores.iou,
        zero_shot.dice,
        scores.instances,
        summary.trainable_params,
        summary.train_seconds
    );
    Ok(Some(summary))
}
