//! Figure 5 of a task without `analysis rank-sweep` (generation) from the report's table:
//! `<figures>/fig5_<task>.png`, the metric against rank (log2) with one panel per (model, data
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

/// The methods drawn as horizontal lines, with their legend names.
const REFERENCES: [(Method, &str); 2] = [
    (Method::ZeroShot, "base model (zero-shot)"),
    (Method::Full, "full fine-tuning"),
];

/// Draws the figure of `rows` (the report's table) into `<figures>/fig5_<task>.png`; `None`
/// (nothing drawn) without adapter rows.
pub fn draw(figures: &Path, units: Units, rows: &[TableRow]) -> Result<Option<PathBuf>> {
    let mut groups: BTreeMap<&Group, Vec<&TableRow>> = BTreeMap::new();
    for row in rows {
        groups.entry(&row.group).or_default().push(row);
    }
    groups.retain(|_, rows| rows.iter().any(|r| r.method.has_adapter()));
    if groups.is_empty() {
        return Ok(None);
    }
    let models: Vec<&str> = groups.keys().map(|g| g.backbone.as_str()).collect();
    let one_model = models.iter().all(|m| *m == models[0]);
    let panels: Vec<Panel<'_, TableRow>> = groups
        .into_iter()
        .map(|(group, rows)| Panel {
            caption: if one_model {
                group.dataset.clone()
            } else {
                format!("{}: {}", group.backbone, group.dataset)
            },
            references: references(units, &rows),
            points: rows
                .into_iter()
                .filter(|r| r.method.has_adapter())
                .collect(),
        })
        .collect();
    let subject = if one_model {
        format!(": {}", models[0])
    } else {
        String::new()
    };
    let title = format!("{} vs rank{subject} (mean ± std over seeds)", units.name());
    let path = figures.join(format!("fig5_{}.png", units.task.name()));
    fig5::draw(&path, &title, units.metric(), &panels).map(Some)
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
