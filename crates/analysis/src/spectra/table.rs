//! `results/spectra/<backbone>.csv`: one row per singular value.
//!
//! Columns: `method` (`pretrained`, `lora`, `serial_lora`, `lora_plus`, `serial_lora_plus`), `rank`
//! (empty for `pretrained`), `matrix` (`weight`: the pre-trained W or the run's merged weight;
//! `delta`: the run's update W_merged − W, only for sites the run adapts), `tower` (module path before
//! the block list, e.g. `vision_model.encoder`, or an MMDiT's `transformer_blocks`), `block`, `proj` (`q`, `k`, `v`, and `o` where a LoRA
//! run adapts the output projection), `index` (0 = largest),
//! `sigma`, `sigma_normalized` (σ_i / σ_max of that matrix; 0 for an all-zero update), `run` (run
//! folder name, empty for `pretrained`). Values are written in single precision; an update's rows
//! stop at its rank bound (ΔW = s·BA or W·s·BA has at most `rank` non-zero singular values).
//!
//! To keep the table compact (under 1 MB for a ViT-S), a `weight` spectrum (pre-trained or merged)
//! is written only at its leading indices and then sparsely: index i is written when i < 16, when i
//! is a multiple of 32, or when it is the last index ([`kept`]). Update (`delta`) spectra are written
//! in full up to their rank bound. The figures are drawn from the full spectra, not from this table.

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::spectra::compute::{Matrix, Spectrum};
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

/// Weight spectra keep every index below this…
pub const LEADING: usize = 16;
/// …and then every this-many-th.
pub const STRIDE: usize = 32;

/// Whether index `i` of a `len`-long weight spectrum is written (see the module docs).
pub fn kept(i: usize, len: usize) -> bool {
    i < LEADING || i.is_multiple_of(STRIDE) || i + 1 == len
}

/// Writes `spectra` to `path` atomically.
pub fn write(path: &Path, spectra: &[Spectrum]) -> Result<()> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let csv_error = |e: csv::Error| Error::csv(path, e.to_string());
    for s in spectra {
        let method = s.series.method.map_or("pretrained", |m| m.name());
        let len = s.sigma.len();
        let (shown, sparse) = match (s.matrix, s.series.rank) {
            (Matrix::Delta, Some(rank)) => (rank.min(len), false),
            (Matrix::Delta, None) => (len, false),
            (Matrix::Weight, _) => (len, true),
        };
        for (index, (&sigma, sigma_normalized)) in s
            .sigma
            .iter()
            .zip(normalized(&s.sigma))
            .enumerate()
            .take(shown)
            .filter(|(i, _)| !sparse || kept(*i, len))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::{Proj, Site};
    use crate::spectra::compute::Series;

    #[test]
    fn weight_spectra_keep_the_leading_values_then_every_32nd_and_the_last() {
        let rows: Vec<usize> = (0..384).filter(|&i| kept(i, 384)).collect();
        let mut want: Vec<usize> = (0..16).collect();
        want.extend((1..12).map(|k| 32 * k));
        want.push(383);
        assert_eq!(rows, want);
        assert_eq!((0..8).filter(|&i| kept(i, 8)).count(), 8);
    }

    #[test]
    fn the_table_thins_weight_spectra_but_keeps_updates_to_their_rank() {
        let site = Site {
            tower: "enc".into(),
            block: 0,
            proj: Proj::O,
        };
        let series = Series {
            method: Some(formats::Method::Lora),
            rank: Some(4),
            run: "r".into(),
        };
        let sigma: Vec<f64> = (0..100).map(|i| 100.0 - i as f64).collect();
        let spectra = [
            Spectrum {
                series: series.clone(),
                matrix: Matrix::Weight,
                site: site.clone(),
                sigma: sigma.clone(),
            },
            Spectrum {
                series,
                matrix: Matrix::Delta,
                site,
                sigma,
            },
        ];
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s.csv");
        write(&path, &spectra).unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let rows: Vec<(String, usize)> = reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                (r[2].to_string(), r[6].parse().unwrap())
            })
            .collect();
        let weight: Vec<usize> = rows
            .iter()
            .filter(|r| r.0 == "weight")
            .map(|r| r.1)
            .collect();
        let mut want: Vec<usize> = (0..16).collect();
        want.extend([32, 64, 96, 99]);
        assert_eq!(weight, want);
        let delta: Vec<usize> = rows
            .iter()
            .filter(|r| r.0 == "delta")
            .map(|r| r.1)
            .collect();
        assert_eq!(delta, [0, 1, 2, 3]);
        assert!(rows.iter().all(|r| r.0 == "weight" || r.0 == "delta"));
    }
}
