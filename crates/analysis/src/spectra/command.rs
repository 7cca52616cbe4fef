//! `analysis svd`: picks the runs, computes each backbone's spectra, writes its CSV and figure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::plot::{fig3, fig3_updates};
use crate::run::Run;
use crate::sources::svd_runs;
use crate::spectra::compute::{backbone_spectra, Spectrum};
use crate::spectra::table;

/// What `analysis svd` was asked for.
#[derive(Debug, Clone)]
pub struct SvdOptions {
    /// Run folders; empty: the latest run of each (backbone, method) under `results/<task>/`, or,
    /// when there is none, under `results/reference/<task>/` (see [`crate::sources`]).
    pub runs: Vec<PathBuf>,
    /// Blocks to plot; `None`: the first, middle and last.
    pub blocks: Option<Vec<usize>>,
    /// The results folder (runs are found in it, `spectra/<backbone>.csv` is written to it).
    pub results: PathBuf,
    /// The figures folder (`fig3_<backbone>.png`, the merged q/k/v spectra, and
    /// `fig3_updates_<backbone>.png`, the update spectra, are written to it).
    pub figures: PathBuf,
    /// The repository root that a run's relative `model_dir` is taken from; `None`:
    /// [`formats::paths::repo_root`] (`$SERIAL_LORA_ROOT`, else the checkout around the current
    /// folder).
    pub root: Option<PathBuf>,
}

/// Runs `analysis svd`; returns the files written.
pub fn svd(opts: &SvdOptions) -> Result<Vec<PathBuf>> {
    let root = opts.root.clone().unwrap_or_else(formats::paths::repo_root);
    let runs = if opts.runs.is_empty() {
        svd_runs(&opts.results, &root)?
    } else {
        opts.runs
            .iter()
            .map(|dir| Run::read(dir, &root))
            .collect::<Result<Vec<_>>>()?
    };
    let mut by_backbone: BTreeMap<String, Vec<Run>> = BTreeMap::new();
    for run in runs {
        by_backbone
            .entry(run.backbone.clone())
            .or_default()
            .push(run);
    }
    // One order whichever way the runs were named (`--runs` in any order, or found): the table and
    // the figure are the same files for the same runs.
    for runs in by_backbone.values_mut() {
        runs.sort_by(|a, b| (a.method, a.rank, &a.dir).cmp(&(b.method, b.rank, &b.dir)));
    }
    let mut written = Vec::new();
    for (backbone, runs) in &by_backbone {
        let names: Vec<String> = runs.iter().map(|r| r.dir.display().to_string()).collect();
        eprintln!("svd: {backbone}: {}", names.join(", "));
        let spectra = backbone_spectra(runs)?;
        let stem = file_stem(backbone);
        let csv = opts.results.join("spectra").join(format!("{stem}.csv"));
        table::write(&csv, &spectra)?;
        let tower = plotted_tower(&spectra);
        let blocks = panel_blocks(&spectra, &tower, opts.blocks.as_deref())?;
        let png = opts.figures.join(format!("fig3_{stem}.png"));
        fig3::draw(&png, backbone, &tower, &blocks, &spectra)?;
        let updates = opts.figures.join(format!("fig3_updates_{stem}.png"));
        fig3_updates::draw(&updates, backbone, &tower, &spectra)?;
        written.extend([csv, png, updates]);
    }
    Ok(written)
}

/// `backbone` made safe as a file name (anything but letters, digits, `-`, `_`, `.` becomes `_`).
pub fn file_stem(backbone: &str) -> String {
    backbone
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The tower the figure shows: the first whose path mentions `vision` (CLIP's image tower), else the first.
fn plotted_tower(spectra: &[Spectrum]) -> String {
    let towers: BTreeSet<&str> = spectra.iter().map(|s| s.site.tower.as_str()).collect();
    let tower = towers
        .iter()
        .find(|t| t.contains("vision"))
        .or(towers.first());
    tower.map(|t| t.to_string()).unwrap_or_default()
}

/// The requested blocks (each must exist in `tower`), or the first, middle and last.
fn panel_blocks(
    spectra: &[Spectrum],
    tower: &str,
    requested: Option<&[usize]>,
) -> Result<Vec<usize>> {
    let have: Vec<usize> = spectra
        .iter()
        .filter(|s| s.site.tower == tower)
        .map(|s| s.site.block)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    match requested {
        Some(blocks) => {
            if let Some(missing) = blocks.iter().find(|b| !have.contains(b)) {
                return Err(Error::Usage(format!("--blocks: block {missing} is not adapted in `{tower}` (adapted blocks: {have:?})")));
            }
            Ok(blocks.to_vec())
        }
        None => {
            let picks: BTreeSet<usize> = [0, (have.len() - 1) / 2, have.len() - 1]
                .into_iter()
                .map(|i| have[i])
                .collect();
            Ok(picks.into_iter().collect())
        }
    }
}
