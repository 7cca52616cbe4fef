//! Figure 5: accuracy against rank (log2 axis), one panel per data set, one line per method with
//! ±1 std error bars; the legend gives each method's trainable parameters. Dashed horizontal lines
//! mark the references of [`crate::sweep::reference`] (probe, zero-shot / class means) where the
//! summary has them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use formats::Method;
use plotters::prelude::*;

use crate::error::Result;
use crate::plot::font;
use crate::plot::style::{self, plot_error};
use crate::sweep::aggregate::Point;
use crate::sweep::reference::Reference;

const PANEL: (u32, u32) = (520, 440);
const COLUMNS: usize = 4;

/// Draws `points` (one backbone) into the PNG at `path`, with the references in `refs` (keyed by
/// backbone and data set).
pub fn draw(
    path: &Path,
    backbone: &str,
    shots: usize,
    points: &[&Point],
    refs: &BTreeMap<(String, String), Reference>,
) -> Result<PathBuf> {
    let mut datasets: BTreeMap<&str, Vec<&Point>> = BTreeMap::new();
    for p in points {
        datasets.entry(&p.dataset).or_default().push(p);
    }
    let cols = datasets.len().clamp(1, COLUMNS);
    let rows = datasets.len().div_ceil(cols);
    let size = (PANEL.0 * cols as u32, PANEL.1 * rows as u32 + 60);
    style::save_png(path, size, |root| {
        let err = plot_error(path);
        let title = format!("Accuracy vs rank: {backbone}, {shots} shots (mean ± std over seeds)");
        let body = root
            .titled(&title, (font::FAMILY, style::TITLE))
            .map_err(&err)?;
        for (area, (dataset, pts)) in body.split_evenly((rows, cols)).iter().zip(&datasets) {
            let reference = refs.get(&(backbone.to_string(), dataset.to_string()));
            panel(area, path, dataset, pts, &reference_lines(reference))?;
        }
        Ok(())
    })
}

/// `1.47M`, `18.4K` or `512`.
fn format_params(n: u64) -> String {
    match n {
        n if n >= 1_000_000 => format!("{:.2}M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1}K", n as f64 / 1e3),
        n => n.to_string(),
    }
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
    /// The accuracy it marks.
    pub accuracy: f64,
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
        acc.map(|accuracy| ReferenceLine {
            label: format!("{name} ({})", format_accuracy(accuracy)),
            accuracy,
            color: style::color(Some(method)),
        })
    })
    .collect()
}

/// The legend entry of `method`'s line: its label and trainable parameters (a range when they
/// differ across `pts`, the line's points).
pub fn method_label(method: Method, pts: &[&Point]) -> String {
    let params: Vec<u64> = pts.iter().map(|p| p.trainable_params).collect();
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

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    path: &Path,
    dataset: &str,
    pts: &[&Point],
    refs: &[ReferenceLine],
) -> Result<()> {
    let err = plot_error(path);
    let ranks: BTreeSet<usize> = pts.iter().map(|p| p.rank).collect();
    let xs: Vec<f64> = ranks.iter().map(|&r| (r as f64).log2()).collect();
    let (x_lo, x_hi) = (xs[0] - 0.4, xs[xs.len() - 1] + 0.4);
    let ys = pts
        .iter()
        .flat_map(|p| {
            [
                p.accuracy_mean - p.accuracy_std,
                p.accuracy_mean + p.accuracy_std,
            ]
        })
        .chain(refs.iter().map(|r| r.accuracy));
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    // Room below the lines for the legend (four entries take about a third of the panel, each
    // reference line another twelfth).
    let span = (hi - lo).max(hi.abs() * 0.01).max(1e-3);
    let below = 0.6 + 0.25 * refs.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(dataset, (font::FAMILY, style::CAPTION))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(x_lo..x_hi, (lo - below * span)..(hi + 0.1 * span))
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc("rank r (log2 scale)")
        .y_desc("top-1 accuracy")
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
                [(x_lo, r.accuracy), (x_hi, r.accuracy)],
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
    for method in Method::ADAPTERS {
        let mut line: Vec<&Point> = pts.iter().copied().filter(|p| p.method == method).collect();
        if line.is_empty() {
            continue;
        }
        line.sort_by_key(|p| p.rank);
        let color = style::color(Some(method));
        let xy = |p: &Point| ((p.rank as f64).log2(), p.accuracy_mean);
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
        chart
            .draw_series(line.iter().map(|p| Circle::new(xy(p), 4, color.filled())))
            .map_err(&err)?;
        chart
            .draw_series(line.iter().map(|p| {
                let (x, y) = xy(p);
                ErrorBar::new_vertical(
                    x,
                    y - p.accuracy_std,
                    y,
                    y + p.accuracy_std,
                    color.stroke_width(2),
                    10,
                )
            }))
            .map_err(&err)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((font::FAMILY, style::LABEL))
        .draw()
        .map_err(&err)?;
    Ok(())
}
