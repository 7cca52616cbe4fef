//! `results/spectra/<backbone>.csv`: one row per singular value.
//!
//! Columns: `method` (`pretrained`, `lora`, `serial_lora`, `lora_plus`, `serial_lora_plus`), `rank`
//! (empty for `pretrained`), `matrix` (`weight`: the pre-trained W or the run's merged weight;
//! `delta`: the run's update W_merged − W, only for sites the run adapts), `tower` (module path before
//! the block list, e.g. `vision_model.encoder`), `block`, `proj` (`q`, `k`, `v`), `index` (0 = largest),
//! `sigma`, `sigma_normalized` (σ_i / σ_max of that matrix; 0 for an all-zero update), `run` (run
//! folder name, empty for `pretrained`). Values are written in single precision; an update's rows
//! stop at its rank bound (ΔW = s·BA or W·s·BA has at most `rank` non-zero singular values).

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::spectra::compute::Spectrum;
use crate::spectrum::normalized;
use formats::atomic::write_atomic;

/// One CSV row.
#[derive(Debug, Serialize)]
struct Row<'a> {
    method: &'a str,
    rank: Option<usize>,
    matrix: &'a str,
    tower: &'a str,
    block: usize,
    proj: &'a str,
    index: usize,
    sigma: f32,
    sigma_normalized: f32,
    run: &'a str,
}

/// Writes `spectra` to `path` atomically.
pub fn write(path: &Path, spectra: &[Spectrum]) -> Result<()> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| Error::csv(path, e.to_string());
    for s in spectra {
        let method = s.series.method.map_or("pretrained", |m| m.name());
        let shown = match (s.matrix.name(), s.series.rank) {
            ("delta", Some(rank)) => rank.min(s.sigma.len()),
            _ => s.sigma.len(),
        };
        for (index, (&sigma, sigma_normalized)) in s
            .sigma
            .iter()
            .zip(normalized(&s.sigma))
            .enumerate()
            .take(shown)
        {
            out.serialize(Row {
                method,
                rank: s.series.rank,
                matrix: s.matrix.name(),
                tower: &s.site.tower,
                block: s.site.block,
                proj: s.site.proj.name(),
                index,
                sigma: sigma as f32,
                sigma_normalized: sigma_normalized as f32,
                run: &s.series.run,
            })
            .map_err(csv_error)?;
        }
    }
    let bytes = out
        .into_inner()
        .map_err(|e| Error::csv(path, e.to_string()))?;
    Ok(write_atomic(path, &bytes)?)
}
