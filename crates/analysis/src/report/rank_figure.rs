//! Figure 5 of a task without `analysis rank-sweep` (generation) from the report's table:
//! `<figures>/fig5_<model>.png`, the metric against rank (log2) with one panel per (model, data
//! set), the adapter methods as lines (mean ± std over seeds), and the base model (`zero_shot`)
//! and full fine-tuning, where the table has them, as dashed horizontal lines (mean over seeds).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use formats::Method;

use crate::error::Result;
use crate::plot::fig5::{self, Panel, ReferenceLine};
use crate::plot::style;
use crate::report::rows::Group;
use crate::report::table::TableRow;
use crate::report::units::Units;
use crate::spectra::command::file_stem;

/// The methods drawn as horizontal lines, with their legend names.
const REFERENCES: [(Method, &str); 2] = [
    (Method::ZeroShot, "base model (zero-shot)"),
    (Method::Full, "full fine-tuning"),
];

/// Draws, per model, the figure of its `rows` (the report's table) into
/// `<figures>/fig5_<model>.png` (one panel per data set); models without adapter rows get none.
pub fn draw(figures: &Path, units: Units, rows: &[TableRow]) -> Result<Vec<PathBuf>> {
    let mut models: BTreeMap<&str, BTreeMap<&Group, Vec<&TableRow>>> = BTreeMap::new();
    for row in rows {
        models
            .entry(row.group.backbone.as_str())
            .or_default()
            .entry(&row.group)
            .or_default()
            .push(row);
    }
    let mut written = Vec::new();
    for (model, mut groups) in models {
        groups.retain(|_, rows| rows.iter().any(|r| r.method.has_adapter()));
        if groups.is_empty() {
            continue;
        }
        let panels: Vec<Panel<'_, TableRow>> = groups
            .into_iter()
            .map(|(group, rows)| Panel {
                caption: group.dataset.clone(),
                references: references(units, &rows),
                points: rows
                    .into_iter()
                    .filter(|r| r.method.has_adapter())
                    .collect(),
            })
            .collect();
        let title = format!("{} vs rank: {model} (mean ± std over seeds)", units.name());
        let path = figures.join(format!("fig5_{}.png", file_stem(model)));
        written.push(fig5::draw(&path, &title, units.metric(), &panels)?);
    }
    Ok(written)
}

/// The reference lines of one panel's `rows`, those present, in [`REFERENCES`] order.
fn references(units: Units, rows: &[&TableRow]) -> Vec<ReferenceLine> {
    REFERENCES
        .iter()
        .filter_map(|&(method, name)| {
            let row = rows.iter().find(|r| r.method == method)?;
            Some(ReferenceLine {
                label: format!("{name} ({})", units.score(row.mean)),
                value: row.mean,
                color: style::color(Some(method)),
            })
        })
        .collect()
}
