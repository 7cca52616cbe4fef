//! The validation-curve figures of a task folder whose selection scored its validation split every
//! few steps (`validation_curves.csv`, written by the runner's `--select --collect`):
//! `<figures>/validation_<backbone>.png`, one panel per data set, the chosen candidates read from
//! `lr_selection.csv`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use formats::schedule::{read_curves, VALIDATION_CURVES_FILE};
use formats::selection::{Table, LR_SELECTION_FILE};

use crate::error::Result;
use crate::plot::validation::{self, Panel};
use crate::spectra::command::file_stem;

/// Draws the figures of task folder `dir` into `figures`, the y axis named `y_desc`; none where
/// the folder has no collected validation curves.
pub fn draw(dir: &Path, figures: &Path, y_desc: &str) -> Result<Vec<PathBuf>> {
    let path = dir.join(VALIDATION_CURVES_FILE);
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let curves = read_curves(&path)?;
    let table = Table::read(&dir.join(LR_SELECTION_FILE))?;
    let chosen: Vec<_> = table
        .rows
        .iter()
        .filter(|(_, chosen)| *chosen)
        .map(|(c, _)| c)
        .collect();
    let mut backbones: BTreeMap<&str, BTreeMap<&str, Panel<'_>>> = BTreeMap::new();
    for curve in &curves {
        let (backbone, dataset) = (curve.0.backbone.as_str(), curve.0.dataset.as_str());
        let panel = backbones
            .entry(backbone)
            .or_default()
            .entry(dataset)
            .or_insert_with(|| Panel {
                caption: dataset.to_string(),
                curves: Vec::new(),
                chosen: chosen
                    .iter()
                    .copied()
                    .filter(|c| c.backbone == backbone && c.dataset == dataset)
                    .collect(),
            });
        panel.curves.push(curve);
    }
    let mut written = Vec::new();
    for (backbone, panels) in backbones {
        let png = figures.join(format!("validation_{}.png", file_stem(backbone)));
        let panels: Vec<Panel<'_>> = panels.into_values().collect();
        written.push(validation::draw(&png, backbone, y_desc, &panels)?);
    }
    Ok(written)
}
