//! The loss figure: training loss (mean over seeds, log axis) against step, one panel per data
//! set, per method in its colour the logged points (faint) and their exponential moving average
//! (the line, [`SMOOTHING`]); Serial LoRA (+) at its parameter-matched rank dashed; one legend
//! under the panels.
//! It shows whether the loss has levelled off at the chosen learning rates. Each point is the
//! runs' `loss_mean` (the mean over every step since the previous row) where they logged it, else
//! their `loss` (that step's own loss); the loss axis says which.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use formats::Method;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::Result;
use crate::plot::font;
use crate::plot::style::{self, plot_error};
use crate::report::loss::{Curve, LossColumn};
use crate::report::rows::Group;

const PANEL: (u32, u32) = (560, 440);
const COLUMNS: usize = 3;
const TITLE_HEIGHT: u32 = 60;
/// Entries per row of the shared legend, and the height of a row.
const LEGEND_COLUMNS: usize = 3;
const LEGEND_ROW: u32 = 28;

/// The legend entry of a curve, e.g. `LoRA r=8` or `Serial LoRA r=32 (LoRA r=8's params)`.
pub fn curve_label(curve: &Curve) -> String {
    let rank = if curve.method.has_adapter() {
        format!(" r={}", curve.rank)
    } else {
        String::new()
    };
    let matched = match curve.matched {
        Some(r) => format!(" (LoRA r={r}'s params)"),
        None => String::new(),
    };
    format!("{}{rank}{matched}", curve.method.label())
}

/// The weight of the past in the plotted moving average of the logged loss (in log space, so the
/// line follows the log axis): each logged point moves the line by 40 % of its distance.
pub const SMOOTHING: f64 = 0.6;

/// The exponential moving average of `points` (`(step, loss)`, loss > 0) in log space, starting at
/// the first point.
pub fn smoothed(points: &[(u64, f64)]) -> Vec<(f64, f64)> {
    let mut average: Option<f64> = None;
    points
        .iter()
        .map(|&(step, loss)| {
            let log = loss.ln();
            let next = average.map_or(log, |a| SMOOTHING * a + (1.0 - SMOOTHING) * log);
            average = Some(next);
            (step as f64, next.exp())
        })
        .collect()
}

/// Tick values for a log axis over `lo..hi`: 1, 2, 5 × 10ᵏ, or, when fewer than three of those
/// fall inside (a range within a decade), 1, 1.5, 2, 3, 5, 7 × 10ᵏ; never crowded.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let within = |mantissas: &[f64]| -> Vec<f64> {
        let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        (first..=last)
            .flat_map(|k| mantissas.iter().map(move |m| m * 10f64.powi(k)))
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let coarse = within(&[1.0, 2.0, 5.0]);
    if coarse.len() >= 3 {
        coarse
    } else {
        within(&[1.0, 1.5, 2.0, 3.0, 5.0, 7.0])
    }
}

/// `2 seeds` or `1–3 seeds`.
fn seeds_note(curves: &[Curve]) -> String {
    let lo = curves.iter().map(Curve::seeds).min().unwrap_or(0);
    let hi = curves.iter().map(Curve::seeds).max().unwrap_or(0);
    match (lo, hi) {
        (1, 1) => "1 seed".into(),
        (lo, hi) if lo == hi => format!("{lo} seeds"),
        (lo, hi) => format!("{lo}–{hi} seeds"),
    }
}

/// The loss axis's label: what each plotted point averages.
fn y_description(lines: &[&Curve]) -> &'static str {
    if lines.iter().all(|c| c.column == LossColumn::IntervalMean) {
        "training loss, mean per logged interval (log scale)"
    } else {
        "training loss at the logged steps (log scale)"
    }
}

/// Draws the `curves` of `backbone` into the PNG at `path`: the panels, then one legend for all
/// of them in a strip underneath (the curves fill the panels, so a legend inside would hide them).
pub fn draw(path: &Path, backbone: &str, curves: &[Curve]) -> Result<PathBuf> {
    let mut panels: BTreeMap<&Group, Vec<&Curve>> = BTreeMap::new();
    for c in curves.iter().filter(|c| !c.points.is_empty()) {
        panels.entry(&c.group).or_default().push(c);
    }
    let entries: BTreeMap<(Method, usize, Option<usize>), String> = curves
        .iter()
        .map(|c| ((c.method, c.rank, c.matched), curve_label(c)))
        .collect();
    let cols = panels.len().clamp(1, COLUMNS);
    let rows = panels.len().div_ceil(cols).max(1);
    let legend_height = LEGEND_ROW * entries.len().div_ceil(LEGEND_COLUMNS) as u32 + 20;
    // At least two panels wide, so that the title and the legend fit beside a single panel.
    let size = (
        PANEL.0 * cols.max(2) as u32,
        PANEL.1 * rows as u32 + TITLE_HEIGHT + legend_height,
    );
    style::save_png(path, size, |root| {
        let err = plot_error(path);
        let title = format!(
            "Training loss: {backbone} (mean over {}; line: moving average)",
            seeds_note(curves)
        );
        let body = root
            .titled(&title, (font::FAMILY, style::title_size(&title, size.0)))
            .map_err(&err)?;
        let (grid, strip) = body.split_vertically(PANEL.1 * rows as u32);
        for (area, (group, lines)) in grid.split_evenly((rows, cols)).iter().zip(&panels) {
            let caption = match group.shots {
                Some(shots) => format!("{} ({shots} shots)", group.dataset),
                None => group.dataset.clone(),
            };
            panel(area, path, &caption, lines)?;
        }
        legend(&strip, path, &entries)
    })
}

/// The shared legend: one entry per (method, rank) line, [`LEGEND_COLUMNS`] to a row.
fn legend(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    path: &Path,
    entries: &BTreeMap<(Method, usize, Option<usize>), String>,
) -> Result<()> {
    let err = plot_error(path);
    let width = area.dim_in_pixel().0 as i32 / LEGEND_COLUMNS as i32;
    for (i, (&(method, _, matched), label)) in entries.iter().enumerate() {
        let x = 30 + width * (i % LEGEND_COLUMNS) as i32;
        let y = 12 + LEGEND_ROW as i32 * (i / LEGEND_COLUMNS) as i32;
        let color = style::color(Some(method));
        let (end, start) = if matched.is_some() {
            (11, 19)
        } else {
            (15, 15)
        };
        for (a, b) in [(0, end), (start, 30)] {
            area.draw(&PathElement::new(
                vec![(x + a, y), (x + b, y)],
                color.stroke_width(3),
            ))
            .map_err(&err)?;
        }
        let font = (font::FAMILY, style::AXIS)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(label.as_str(), (x + 40, y), &font))
            .map_err(&err)?;
    }
    Ok(())
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    path: &Path,
    caption: &str,
    lines: &[&Curve],
) -> Result<()> {
    let err = plot_error(path);
    let all = lines.iter().flat_map(|c| c.points.iter());
    let (max_step, lo, hi) = all.fold((1u64, f64::INFINITY, 0.0f64), |(s, lo, hi), p| {
        (s.max(p.0), lo.min(p.1), hi.max(p.1))
    });
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (font::FAMILY, style::CAPTION))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(
            0.0..max_step as f64,
            (lo * 0.8..hi * 1.25)
                .log_scale()
                .with_key_points(log_ticks(lo * 0.8, hi * 1.25)),
        )
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc(y_description(lines))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .y_label_formatter(&|y| {
            if *y >= 0.1 {
                format!("{y:.2}")
            } else {
                format!("{y:.0e}")
            }
        })
        .label_style((font::FAMILY, style::LABEL))
        .axis_desc_style((font::FAMILY, style::AXIS))
        .draw()
        .map_err(&err)?;
    for curve in lines {
        let color = style::color(Some(curve.method));
        let raw = curve
            .points
            .iter()
            .map(|&(s, l)| Circle::new((s as f64, l), 2, color.mix(0.35).filled()));
        chart.draw_series(raw).map_err(&err)?;
        let xy = smoothed(&curve.points).into_iter();
        let series = if curve.matched.is_some() {
            chart.draw_series(DashedLineSeries::new(xy, 8, 5, color.stroke_width(2)))
        } else {
            chart.draw_series(LineSeries::new(xy, color.stroke_width(2)))
        };
        series.map_err(&err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moving_average_starts_at_the_first_point_and_moves_by_its_weight_in_log_space() {
        let line = smoothed(&[(10, 1.0), (20, 0.01), (30, 0.01)]);
        assert_eq!(line[0], (10.0, 1.0));
        let expected = (0.4 * 0.01f64.ln()).exp();
        assert!((line[1].1 - expected).abs() < 1e-12, "{line:?}");
        assert!(line[2].1 < line[1].1 && line[2].1 > 0.01);
        assert!(smoothed(&[]).is_empty());
    }

    #[test]
    fn log_ticks_are_round_and_never_crowded() {
        assert_eq!(log_ticks(0.05, 2.5), [0.05, 0.1, 0.2, 0.5, 1.0, 2.0]);
        let narrow = log_ticks(0.09, 0.35);
        assert_eq!(narrow.len(), 4, "{narrow:?}");
        assert!((narrow[0] - 0.1).abs() < 1e-12 && (narrow[3] - 0.3).abs() < 1e-12);
    }
}
