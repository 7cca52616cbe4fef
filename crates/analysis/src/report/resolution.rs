//! `report/resolution.csv`: the resolution study. Its rows come from backbones named
//! `<backbone>-<N>px` (e.g. `dinov2-s14-28px`): the same frozen backbone fed N-pixel images,
//! with a linear probe trained and the class-means (zero-shot) accuracy of the frozen features.
//!
//! Columns: `backbone` (without the suffix), `dataset`, `resolution` (N), `n` (probe seeds),
//! `class_means_<metric>` (mean over the study's rows that record it), `probe_<metric>_mean`,
//! `probe_<metric>_std` (empty without probe runs).

use std::collections::BTreeMap;
use std::path::Path;

use formats::Method;

use crate::error::Result;
use crate::report::cells::Cells;
use crate::report::table::mean_of;
use crate::report::write::{optional, write_csv};
use crate::stats::mean_std;

/// One (backbone, data set, resolution) of the study.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The backbone without its `-<N>px` suffix.
    pub backbone: String,
    /// Data set.
    pub dataset: String,
    /// Input resolution, pixels.
    pub resolution: u32,
    /// Probe seeds.
    pub n: usize,
    /// Mean class-means accuracy of the frozen features.
    pub class_means: Option<f64>,
    /// Mean and sample std of the probe's accuracy over seeds.
    pub probe: Option<(f64, f64)>,
}

/// `dinov2-s14-28px` → (`dinov2-s14`, 28); `None` for a name without the suffix.
pub fn split_resolution(backbone: &str) -> Option<(&str, u32)> {
    let (base, last) = backbone.rsplit_once('-')?;
    let digits = last.strip_suffix("px")?;
    if base.is_empty() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((base, digits.parse().ok()?))
}

/// The study's points among `cells`, by backbone, data set and resolution (empty without a
/// `-<N>px` backbone).
pub fn study(cells: &Cells) -> Vec<Point> {
    type Key = (String, String, u32);
    let mut before: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
    let mut probe: BTreeMap<Key, Vec<f64>> = BTreeMap::new();
    for ((group, method, _), by_seed) in cells {
        let Some((base, px)) = split_resolution(&group.backbone) else {
            continue;
        };
        let key = (base.to_string(), group.dataset.clone(), px);
        before
            .entry(key.clone())
            .or_default()
            .extend(by_seed.values().filter_map(|r| r.before));
        let scores = probe.entry(key).or_default();
        if *method == Method::Probe {
            scores.extend(by_seed.values().map(|r| r.score));
        }
    }
    probe
        .into_iter()
        .map(|((backbone, dataset, resolution), scores)| {
            let class_means = mean_of(
                before[&(backbone.clone(), dataset.clone(), resolution)]
                    .iter()
                    .copied(),
            );
            Point {
                n: scores.len(),
                probe: (!scores.is_empty()).then(|| mean_std(&scores)),
                class_means,
                backbone,
                dataset,
                resolution,
            }
        })
        .collect()
}

/// Writes the study's `points` (metric `metric`) to `path` atomically.
pub fn write(path: &Path, metric: &str, points: &[Point]) -> Result<()> {
    let header = vec![
        "backbone".to_string(),
        "dataset".into(),
        "resolution".into(),
        "n".into(),
        format!("class_means_{metric}"),
        format!("probe_{metric}_mean"),
        format!("probe_{metric}_std"),
    ];
    let lines = points.iter().map(|p| {
        vec![
            p.backbone.clone(),
            p.dataset.clone(),
            p.resolution.to_string(),
            p.n.to_string(),
            optional(p.class_means),
            optional(p.probe.map(|s| s.0)),
            optional(p.probe.map(|s| s.1)),
        ]
    });
    write_csv(path, &header, lines)
}
