//! Figure 5: a metric against rank (log2 axis), one panel per data set (or model and data set),
//! one line per method with ±1 std error bars (LoRA on q,k,v, a reference row, usually a single
//! grey triangle, drawn last); the legend gives each method's trainable parameters. Dotted black
//! segments join the parameter-matched pairs: LoRA (+) at rank r and Serial LoRA (+) at the rank
//! with exactly its trainable parameters (4r with LoRA on q,k,v,o). Dashed horizontal lines mark a
//! panel's references: the probe and zero-shot / class means of [`crate::sweep::reference`]
//! (`analysis rank-sweep`), or generation's base model and full fine-tuning (`analysis report`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use formats::Method;
use plotters::prelude::*;

use crate::error::Result;
use crate::params::format_params;
use crate::plot::font;
use crate::plot::style::{self, plot_error};
use crate::sweep::reference::Reference;

const PANEL: (u32, u32) = (520, 440);

/// The lines of a panel, in legend order.
pub const LINES: [Method; 5] = [
    Method::Lora,
    Method::SerialLora,
    Method::LoraPlus,
    Method::SerialLoraPlus,
    Method::LoraQkv,
];

/// The methods of the parameter-matched pairs: (Serial method, LoRA method).
pub const MATCHED: [(Method, Method); 2] = [
    (Method::SerialLora, Method::Lora),
    (Method::SerialLoraPlus, Method::LoraPlus),
];

/// A point of a line: one method's mean ± std over seeds at one rank.
pub trait RankPoint {
    /// The method.
    fn method(&self) -> Method;
    /// The rank.
    fn rank(&self) -> usize;
    /// Trainable parameters (the same for every seed).
    fn trainable_params(&self) -> u64;
    /// Mean of the metric over seeds.
    fn mean(&self) -> f64;
    /// Sample standard deviation over seeds (0 for one seed).
    fn std(&self) -> f64;
}

/// One panel: its caption, its points and its reference lines.
#[derive(Debug, Clone)]
pub struct Panel<'a, P> {
    /// The caption, e.g. the data set.
    pub caption: String,
    /// The points of every method.
    pub points: Vec<&'a P>,
    /// The horizontal reference lines.
    pub references: Vec<ReferenceLine>,
}

/// The parameter-matched pairs among `pts` (one panel): (LoRA at r, Serial at the other rank with
/// the same trainable parameters).
pub fn matched_pairs<'a, P: RankPoint>(pts: &[&'a P]) -> Vec<(&'a P, &'a P)> {
    let mut out = Vec::new();
    for (serial, lora) in MATCHED {
        for b in pts.iter().filter(|p| p.method() == lora) {
            let partner = pts.iter().find(|p| {
                p.method() == serial
                    && p.rank() != b.rank()
                    && p.trainable_params() == b.trainable_params()
            });
            if let Some(a) = partner {
                out.push((*b, *a));
            }
        }
    }
    out
}
const COLUMNS: usize = 4;

/// Draws the `panels` into the PNG at `path` under `title` (the figure is widened where the title
/// is wider than the panels), the y axis described by `y_desc`.
pub fn draw<P: RankPoint>(
    path: &Path,
    title: &str,
    y_desc: &str,
    panels: &[Panel<'_, P>],
) -> Result<PathBuf> {
    let cols = panels.len().clamp(1, COLUMNS);
    let rows = panels.len().div_ceil(cols);
    font::register().map_err(plot_error(path))?;
    let (title_width, _) = (font::FAMILY, style::TITLE)
        .into_font()
        .box_size(title)
        .map_err(plot_error(path))?;
    let width = (PANEL.0 * cols as u32).max(title_width + 40);
    let size = (width, PANEL.1 * rows as u32 + 60);
    style::save_png(path, size, |root| {
        let err = plot_error(path);
        let body = root
            .titled(title, (font::FAMILY, style::TITLE))
            .map_err(&err)?;
        for (area, p) in body.split_evenly((rows, cols)).iter().zip(panels) {
            panel(area, path, y_desc, p)?;
        }
        Ok(())
    })
}

/// `0.562` for a fraction, `73.4` for a percentage.
fn format_accuracy(a: f64) -> String {
    if a.abs() <= 1.0 {
        format!("{a:.3}")
    } else {
        format!("{a:.1}")
    }
}

/// One horizontal reference line of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceLine {
    /// The legend entry, e.g. `probe (0.562)`.
    pub label: String,
    /// The value it marks.
    pub value: f64,
    /// Its colour ([`style::color`] of the baseline method).
    pub color: RGBColor,
}

/// The reference lines of a panel: the probe, then zero-shot / class means, those present.
pub fn reference_lines(reference: Option<&Reference>) -> Vec<ReferenceLine> {
    let Some(r) = reference else {
        return Vec::new();
    };
    [
        (r.probe, Method::Probe, "linear probe"),
        (r.zero_shot, Method::ZeroShot, "zero-shot / class means"),
    ]
    .into_iter()
    .filter_map(|(acc, method, name)| {
        acc.map(|value| ReferenceLine {
            label: format!("{name} ({})", format_accuracy(value)),
            value,
            color: style::color(Some(method)),
        })
    })
    .collect()
}

/// The legend entry of `method`'s line: its label and trainable parameters (a range when they
/// differ across `pts`, the line's points).
pub fn method_label<P: RankPoint>(method: Method, pts: &[&P]) -> String {
    let params: Vec<u64> = pts.iter().map(|p| p.trainable_params()).collect();
    let (p_lo, p_hi) = (
        params.iter().min().copied().unwrap_or(0),
        params.iter().max().copied().unwrap_or(0),
    );
    if p_lo == p_hi {
        format!("{} ({} params)", method.label(), format_params(p_lo))
    } else {
        format!(
            "{} ({}–{} params)",
            method.label(),
            format_params(p_lo),
            format_params(p_hi)
        )
    }
}

fn panel<P: RankPoint>(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    path: &Path,
    y_desc: &str,
    panel: &Panel<'_, P>,
) -> Result<()> {
    let err = plot_error(path);
    let (pts, refs) = (panel.points.as_slice(), panel.references.as_slice());
    let ranks: BTreeSet<usize> = pts.iter().map(|p| p.rank()).collect();
    let xs: Vec<f64> = ranks.iter().map(|&r| (r as f64).log2()).collect();
    let (x_lo, x_hi) = (xs[0] - 0.4, xs[xs.len() - 1] + 0.4);
    let ys = pts
        .iter()
        .flat_map(|p| [p.mean() - p.std(), p.mean() + p.std()])
        .chain(refs.iter().map(|r| r.value));
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    let pairs = matched_pairs(pts);
    let methods = LINES
        .iter()
        .filter(|m| pts.iter().any(|p| p.method() == **m))
        .count();
    // Room below the lines for the legend (a method line or the pairs' entry takes about a
    // twentieth of the panel, a reference line a twelfth).
    let span = (hi - lo).max(hi.abs() * 0.01).max(1e-3);
    let entries = methods + usize::from(!pairs.is_empty());
    let below = 0.15 * entries as f64 + 0.25 * refs.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.caption, (font::FAMILY, style::CAPTION))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(x_lo..x_hi, (lo - below * span)..(hi + 0.1 * span))
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc("rank r (log2 scale)")
        .y_desc(y_desc)
        .x_labels(xs.len() + 2)
        .x_label_formatter(&|x| {
            if x.fract().abs() < 1e-9 {
                format!("{}", x.exp2())
            } else {
                String::new()
            }
        })
        .label_style((font::FAMILY, style::LABEL))
        .axis_desc_style((font::FAMILY, style::AXIS))
        .draw()
        .map_err(&err)?;
    for r in refs {
        let color = r.color;
        chart
            .draw_series(DashedLineSeries::new(
                [(x_lo, r.value), (x_hi, r.value)],
                10,
                6,
                color.stroke_width(2),
            ))
            .map_err(&err)?
            .label(r.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
    }
    let black = BLACK.stroke_width(1);
    for (i, (b, a)) in pairs.iter().enumerate() {
        let ends = [
            ((b.rank() as f64).log2(), b.mean()),
            ((a.rank() as f64).log2(), a.mean()),
        ];
        let series = chart
            .draw_series(DashedLineSeries::new(ends, 3, 4, black))
            .map_err(&err)?;
        if i == 0 {
            series
                .label("same trainable params: Serial LoRA (+) and LoRA (+)")
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (6, 0)], black)
                        + PathElement::new(vec![(10, 0), (16, 0)], black)
                        + PathElement::new(vec![(20, 0), (24, 0)], black)
                });
        }
    }
    for method in LINES {
        let mut line: Vec<&P> = pts
            .iter()
            .copied()
            .filter(|p| p.method() == method)
            .collect();
        if line.is_empty() {
            continue;
        }
        line.sort_by_key(|p| p.rank());
        let color = style::color(Some(method));
        let xy = |p: &P| ((p.rank() as f64).log2(), p.mean());
        let label = method_label(method, &line);
        chart
            .draw_series(LineSeries::new(
                line.iter().map(|p| xy(p)),
                color.stroke_width(2),
            ))
            .map_err(&err)?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        let markers = if method == Method::LoraQkv {
            chart.draw_series(
                line.iter()
                    .map(|p| TriangleMarker::new(xy(p), 7, color.filled())),
            )
        } else {
            chart.draw_series(line.iter().map(|p| Circle::new(xy(p), 4, color.filled())))
        };
        markers.map_err(&err)?;
        chart
            .draw_series(line.iter().map(|p| {
                let (x, y) = xy(p);
                ErrorBar::new_vertical(x, y - p.std(), y, y + p.std(), color.stroke_width(2), 10)
            }))
            .map_err(&err)?;
    }
    style::legend(&mut chart, SeriesLabelPosition::LowerRight, path)?;
    Ok(())
}
