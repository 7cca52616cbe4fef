//! `analysis rank-sweep`: aggregates the summary, writes `rank_sweep/<backbone>.csv` and Figure 5
//! (with the probe and zero-shot references of [`crate::sweep::reference`]).
//!
//! CSV columns: `backbone, dataset, method, rank, trainable_params, seeds, accuracy_mean,
//! accuracy_std, shots` (std is the sample standard deviation over seeds, 0 for one seed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::compare::Task;
use crate::error::{Error, Result};
use crate::plot::fig5::{self, reference_lines, Panel};
use crate::report::cells::cells;
use crate::report::rows::{self, Row as SummaryRow};
use crate::report::table::{table, TableRow};
use crate::sources::sweep_summary;
use crate::spectra::command::file_stem;
use crate::sweep::reference::references;
use formats::atomic::write_atomic;

/// What `analysis rank-sweep` was asked for.
#[derive(Debug, Clone)]
pub struct RankSweepOptions {
    /// The classification summary CSV; `None`: `<results>/classification/summary.csv` if it
    /// holds a row, else the committed `<results>/reference/classification/summary.csv` (see
    /// [`crate::sources`]).
    pub summary: Option<PathBuf>,
    /// Shots per class to aggregate; `None`: the largest in the summary.
    pub shots: Option<usize>,
    /// The results folder (`rank_sweep/<backbone>.csv` is written to it).
    pub results: PathBuf,
    /// The figures folder (`fig5_<backbone>.png` is written to it).
    pub figures: PathBuf,
}

/// One CSV row.
#[derive(Serialize)]
struct Row<'a> {
    backbone: &'a str,
    dataset: &'a str,
    method: &'a str,
    rank: usize,
    trainable_params: u64,
    seeds: usize,
    accuracy_mean: f64,
    accuracy_std: f64,
    shots: usize,
}

/// Runs `analysis rank-sweep`; returns the files written.
pub fn rank_sweep(opts: &RankSweepOptions) -> Result<Vec<PathBuf>> {
    let summary = match &opts.summary {
        Some(path) => path.clone(),
        None => sweep_summary(&opts.results)?,
    };
    let all = rows::read(&summary, Task::Classification)?;
    let shots = opts.shots.unwrap_or_else(|| {
        all.iter()
            .filter(|r| r.method.has_adapter())
            .filter_map(|r| r.group.shots)
            .max()
            .unwrap_or_default()
    });
    let at_shots: Vec<SummaryRow> = all
        .into_iter()
        .filter(|r| r.group.shots == Some(shots))
        .collect();
    let adapters: Vec<SummaryRow> = at_shots
        .iter()
        .filter(|r| r.method.has_adapter())
        .cloned()
        .collect();
    if adapters.is_empty() {
        return Err(Error::csv(
            &summary,
            format!("holds no adapter rows with shots = {shots} (only baselines: zero_shot, probe, full)"),
        ));
    }
    let points = table(&cells(&adapters, &summary)?);
    let refs = references(&at_shots);
    let mut by_backbone: BTreeMap<&str, Vec<&TableRow>> = BTreeMap::new();
    for p in &points {
        by_backbone.entry(&p.group.backbone).or_default().push(p);
    }
    let mut written = Vec::new();
    for (backbone, points) in by_backbone {
        let stem = file_stem(backbone);
        let csv = opts.results.join("rank_sweep").join(format!("{stem}.csv"));
        write_table(&csv, shots, &points)?;
        let mut datasets: BTreeMap<&str, Vec<&TableRow>> = BTreeMap::new();
        for p in &points {
            datasets.entry(&p.group.dataset).or_default().push(p);
        }
        let panels: Vec<Panel<'_, TableRow>> = datasets
            .into_iter()
            .map(|(dataset, points)| Panel {
                caption: dataset.to_string(),
                references: reference_lines(refs.get(&(backbone.to_string(), dataset.to_string()))),
                points,
            })
            .collect();
        let png = opts.figures.join(format!("fig5_{stem}.png"));
        let title = format!("Accuracy vs rank: {backbone}, {shots} shots (mean ± std over seeds)");
        fig5::draw(&png, &title, "top-1 accuracy", &panels)?;
        written.extend([csv, png]);
    }
    Ok(written)
}

fn write_table(path: &Path, shots: usize, points: &[&TableRow]) -> Result<()> {
    let mut out = csv::Writer::from_writer(Vec::new());
    for p in points {
        out.serialize(Row {
            backbone: &p.group.backbone,
            dataset: &p.group.dataset,
            method: p.method.name(),
            rank: p.rank,
            trainable_params: p.trainable_params,
            seeds: p.n,
            accuracy_mean: p.mean,
            accuracy_std: p.std,
            shots,
        })
        .map_err(|e| Error::csv(path, e.to_string()))?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| Error::csv(path, e.to_string()))?;
    Ok(write_atomic(path, &bytes)?)
}
