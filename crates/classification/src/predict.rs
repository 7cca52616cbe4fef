//! `classification predict`: a finished run classifies new images exactly as it was evaluated
//! (its backbone, adapter, head, resolution and preprocessing, all from the run folder), writing
//! the top-k classes with their probabilities per image; images under class-named sub-folders are
//! labelled, and their accuracy is reported too.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use data::{eval_batches, ImageSource, Item, Normalization, Preprocess};
use formats::paths::resolve;
use formats::run::{read_json, CONFIG_FILE, SUMMARY_FILE};
use tch::{Device, Kind};

use crate::classifier::{image_encoder, Classifier};
use crate::config::RunSpec;
use crate::task::CLASSES_FILE;

/// What `predict` found, for its one-line summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Images classified.
    pub images: usize,
    /// Labelled images (under a class-named folder) and how many of them were right (top-1).
    pub labelled: usize,
    /// Top-1 correct among the labelled.
    pub correct: usize,
}

impl Prediction {
    /// Top-1 accuracy over the labelled images, if any.
    pub fn accuracy(&self) -> Option<f64> {
        (self.labelled > 0).then(|| self.correct as f64 / self.labelled as f64)
    }
}

/// One image to classify, with its class when a class-named folder holds it.
struct Input {
    path: PathBuf,
    label: Option<usize>,
}

/// Classifies `paths` (image files, folders of images, or folders of class-named folders of
/// images) with the finished run in `run_dir`, writing `out` (CSV: `file`, then `class_i`,
/// `probability_i` for i = 1..=top_k, and `label` when known).
pub fn predict(
    run_dir: &Path,
    paths: &[PathBuf],
    out: &Path,
    top_k: usize,
    device: Device,
) -> Result<Prediction> {
    if !run_dir.join(SUMMARY_FILE).is_file() {
        bail!(
            "{} is not a finished classification run (no {SUMMARY_FILE})",
            run_dir.display()
        );
    }
    let spec: RunSpec = read_json(&run_dir.join(CONFIG_FILE))?;
    let classes_file = run_dir.join(CLASSES_FILE);
    let classnames: Vec<String> = read_json(&classes_file).with_context(|| {
        format!("the run predates {CLASSES_FILE}; rerun it to classify with it")
    })?;
    let inputs = list_inputs(paths, &classnames)?;
    let root = formats::paths::repo_root();
    let model_dir = resolve(&spec.model_dir, &root);
    let adapter = spec.adapter.is_some().then_some(run_dir);
    let loaded = zoo::load(&model_dir, adapter, device)
        .with_context(|| format!("loading {}", model_dir.display()))?;
    let (mean, std) = image_encoder(&loaded.model, &model_dir)?.pixel_stats();
    let pre = Preprocess::custom(
        spec.resolution,
        Normalization { mean, std },
        data::Augment::default(),
    )?;
    let classifier = Classifier::restore(
        loaded,
        device,
        &classnames,
        &spec.template,
        spec.logit_scale,
        &model_dir,
        run_dir,
    )?;
    let items: Vec<Item> = inputs
        .iter()
        .map(|i| Item {
            source: ImageSource::File(i.path.clone()),
            label: i.label.unwrap_or(0),
        })
        .collect();
    let k = top_k.clamp(1, classnames.len());
    let bar = runner::run_bar(items.len() as u64, 0, "predict");
    let mut rows = Vec::with_capacity(items.len());
    tch::no_grad(|| -> Result<()> {
        for batch in eval_batches(&items, 64, &pre)? {
            let batch = batch?;
            let probs = classifier
                .logits(&classifier.pixels(&batch.images), false)
                .softmax(-1, Kind::Float);
            let (values, indices) = probs.topk(k as i64, -1, true, true);
            for b in 0..batch.labels.len() as i64 {
                let top: Vec<(usize, f64)> = (0..k as i64)
                    .map(|j| {
                        (
                            indices.int64_value(&[b, j]) as usize,
                            values.double_value(&[b, j]),
                        )
                    })
                    .collect();
                rows.push(top);
            }
            bar.inc(batch.labels.len() as u64);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    write_csv(out, &inputs, &rows, &classnames, k)?;
    let labelled: Vec<(&Input, &Vec<(usize, f64)>)> = inputs
        .iter()
        .zip(&rows)
        .filter(|(i, _)| i.label.is_some())
        .collect();
    Ok(Prediction {
        images: inputs.len(),
        labelled: labelled.len(),
        correct: labelled
            .iter()
            .filter(|(i, top)| i.label == Some(top[0].0))
            .count(),
    })
}

/// The images of `paths`: files as given; a folder's image files; a folder whose sub-folders
/// are all class names of the run, their images labelled.
fn list_inputs(paths: &[PathBuf], classnames: &[String]) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for path in paths {
        if path.is_file() {
            inputs.push(Input {
                path: path.clone(),
                label: None,
            });
            continue;
        }
        if !path.is_dir() {
            bail!("{}: no such image file or folder", path.display());
        }
        let folders = data::subfolders(path)?;
        let classes: Option<Vec<usize>> = folders
            .iter()
            .map(|d| classnames.iter().position(|c| c == d))
            .collect();
        match classes.filter(|c| !c.is_empty()) {
            Some(classes) => {
                for (folder, label) in folders.iter().zip(classes) {
                    for file in data::image_files(&path.join(folder))? {
                        inputs.push(Input {
                            path: file,
                            label: Some(label),
                        });
                    }
                }
            }
            None => inputs.extend(
                data::image_files(path)?
                    .into_iter()
                    .map(|path| Input { path, label: None }),
            ),
        }
    }
    if inputs.is_empty() {
        bail!("no images in {paths:?} (files this build decodes: JPEG, PNG, BMP, GIF, TIFF, WebP)");
    }
    Ok(inputs)
}

fn write_csv(
    out: &Path,
    inputs: &[Input],
    rows: &[Vec<(usize, f64)>],
    classnames: &[String],
    k: usize,
) -> Result<()> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["file".to_string()];
    for i in 1..=k {
        header.push(format!("class_{i}"));
        header.push(format!("probability_{i}"));
    }
    header.push("label".into());
    writer.write_record(&header)?;
    for (input, top) in inputs.iter().zip(rows) {
        let mut record = vec![input.path.display().to_string()];
        for &(class, p) in top {
            record.push(classnames[class].clone());
            record.push(format!("{p:.6}"));
        }
        record.push(input.label.map_or(String::new(), |l| classnames[l].clone()));
        writer.write_record(&record)?;
    }
    let bytes = writer.into_inner().context("writing the predictions")?;
    formats::atomic::write_atomic(out, &bytes)?;
    Ok(())
}
