//! `report/classes.csv`: the per-class scores of multi-class segmentation runs (CamVid), read from
//! each run folder's `summary.json` (`classes`: per-class IoU, mIoU, pixel accuracy) and averaged
//! over the seeds of each (model, data set, method, rank): per-class IoU means, mIoU and pixel
//! accuracy mean ± std. Selection runs (under `selection/`) are not read.

use std::collections::BTreeMap;
use std::path::Path;

use formats::Method;
use serde_json::Value;

use crate::error::{parse_method, Error, Result};
use crate::report::write::write_csv;
use crate::stats::mean_std;

/// One (model, data set, method, rank) of multi-class runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassRow {
    /// Model.
    pub model: String,
    /// Data set.
    pub dataset: String,
    /// Method.
    pub method: Method,
    /// Rank (0 without an adapter).
    pub rank: usize,
    /// Seeds averaged.
    pub n: usize,
    /// Class names, in label order.
    pub classes: Vec<String>,
    /// Mean IoU of each class over the seeds.
    pub class_iou: Vec<f64>,
    /// mIoU mean and sample std over the seeds.
    pub miou: (f64, f64),
    /// Pixel accuracy mean and sample std over the seeds.
    pub pixel_accuracy: (f64, f64),
}

/// The class names of `dataset` (CamVid's; else `class 0`, `class 1`, …).
fn class_names(dataset: &str, n: usize) -> Vec<String> {
    if dataset == data::CAMVID && n == data::CAMVID_CLASSES.len() {
        return data::CAMVID_CLASSES.iter().map(|c| c.to_string()).collect();
    }
    (0..n).map(|k| format!("class {k}")).collect()
}

/// One run's scores: key and (class IoU, mIoU, pixel accuracy).
type RunScores = ((String, String, Method, usize), (Vec<f64>, f64, f64));

/// The multi-class scores in `path` (a `summary.json`), if it has them.
fn read_run(path: &Path) -> Result<Option<RunScores>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let json: Value =
        serde_json::from_str(&text).map_err(|e| Error::field(path, "(file)", e.to_string()))?;
    let Some(classes) = json.get("classes") else {
        return Ok(None);
    };
    let text_of = |field: &str| -> Result<String> {
        json.get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Error::field(path, field, "missing or not a string"))
    };
    let number = |v: &Value, field: &str| -> Result<f64> {
        v.get(field)
            .and_then(Value::as_f64)
            .ok_or_else(|| Error::field(path, field, "missing or not a number"))
    };
    let class_iou: Vec<f64> = classes
        .get("class_iou")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::field(path, "classes.class_iou", "missing or not a list"))?
        .iter()
        .map(|v| {
            v.as_f64()
                .ok_or_else(|| Error::field(path, "classes.class_iou", "not a number"))
        })
        .collect::<Result<_>>()?;
    let rank = json
        .get("rank")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::field(path, "rank", "missing or not a count"))?;
    let key = (
        text_of("model")?,
        text_of("dataset")?,
        parse_method(&text_of("method")?, path)?,
        rank as usize,
    );
    let scores = (
        class_iou,
        number(classes, "miou")?,
        number(classes, "pixel_accuracy")?,
    );
    Ok(Some((key, scores)))
}

/// Every multi-class run directly under the task folder `dir`, averaged per cell, in key order.
pub fn read(dir: &Path) -> Result<Vec<ClassRow>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path().join("summary.json")))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut cells: BTreeMap<_, Vec<(Vec<f64>, f64, f64)>> = BTreeMap::new();
    for path in paths {
        if let Some((key, scores)) = read_run(&path)? {
            cells.entry(key).or_default().push(scores);
        }
    }
    Ok(cells
        .into_iter()
        .map(|((model, dataset, method, rank), runs)| {
            let k = runs.iter().map(|r| r.0.len()).max().unwrap_or(0);
            let class_iou = (0..k)
                .map(|c| {
                    mean_std(
                        &runs
                            .iter()
                            .map(|r| r.0.get(c).copied().unwrap_or(0.0))
                            .collect::<Vec<_>>(),
                    )
                    .0
                })
                .collect();
            let miou = mean_std(&runs.iter().map(|r| r.1).collect::<Vec<_>>());
            let pixel_accuracy = mean_std(&runs.iter().map(|r| r.2).collect::<Vec<_>>());
            ClassRow {
                classes: class_names(&dataset, k),
                model,
                dataset,
                method,
                rank,
                n: runs.len(),
                class_iou,
                miou,
                pixel_accuracy,
            }
        })
        .collect())
}

/// Writes `rows` to `path` atomically: `model, dataset, method, rank, n, miou_mean, miou_std,
/// pixel_accuracy_mean, pixel_accuracy_std`, then `iou_<class>` per class (the first row's
/// classes; rows of another class count leave the others empty).
pub fn write(path: &Path, rows: &[ClassRow]) -> Result<()> {
    let classes = rows.first().map_or(&[][..], |r| r.classes.as_slice());
    let mut header: Vec<String> = [
        "model",
        "dataset",
        "method",
        "rank",
        "n",
        "miou_mean",
        "miou_std",
        "pixel_accuracy_mean",
        "pixel_accuracy_std",
    ]
    .map(String::from)
    .to_vec();
    header.extend(classes.iter().map(|c| format!("iou_{c}")));
    let lines = rows.iter().map(|r| {
        let mut line = vec![
            r.model.clone(),
            r.dataset.clone(),
            r.method.name().to_string(),
            r.rank.to_string(),
            r.n.to_string(),
            r.miou.0.to_string(),
            r.miou.1.to_string(),
            r.pixel_accuracy.0.to_string(),
            r.pixel_accuracy.1.to_string(),
        ];
        line.extend((0..classes.len()).map(|c| {
            r.class_iou
                .get(c)
                .map_or_else(String::new, |v| v.to_string())
        }));
        line
    });
    write_csv(path, &header, lines)
}
