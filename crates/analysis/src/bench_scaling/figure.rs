//! The scaling figure of `analysis bench-scaling`: median step time against batch (left panel)
//! and against image size (right panel), both axes logarithmic, one line with markers per
//! (case, method) in the method's colour (the base model black); rows of a precision other than
//! fp32 are dashed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::bench_scaling::{Row, Series, BATCH_SWEEP_SIZE, SIZE_SWEEP_BATCH};
use crate::error::Result;
use crate::plot::font;
use crate::plot::style::{self, plot_error};

const PANEL: (u32, u32) = (640, 500);
const TITLE_HEIGHT: u32 = 60;
/// Dash and gap lengths (px) of the lines of a precision other than fp32.
const DASH: (u32, u32) = (8, 5);

/// One panel: which column of a row is its x axis, and the words around it.
struct Sweep<'a> {
    /// The panel's caption.
    caption: String,
    /// The x axis description.
    x_desc: &'static str,
    /// The x value of a row.
    x: fn(&Row) -> usize,
    /// The rows drawn.
    rows: &'a [&'a Row],
}

/// Draws the rows at [`BATCH_SWEEP_SIZE`] px (`by_batch`) and at batch [`SIZE_SWEEP_BATCH`]
/// (`by_size`) side by side into the PNG at `path`.
pub fn draw(path: &Path, by_batch: &[&Row], by_size: &[&Row]) -> Result<PathBuf> {
    let size = (PANEL.0 * 2, PANEL.1 + TITLE_HEIGHT);
    style::save_png(path, size, |root| {
        let err = plot_error(path);
        let body = root
            .titled(
                "Step cost: ViT-B/16 vision tower (ours, median step time)",
                (font::FAMILY, style::TITLE),
            )
            .map_err(&err)?;
        let (left, right) = body.split_horizontally(PANEL.0);
        let batch = Sweep {
            caption: format!("against batch, {BATCH_SWEEP_SIZE}×{BATCH_SWEEP_SIZE} px"),
            x_desc: "batch (log scale)",
            x: |r| r.batch,
            rows: by_batch,
        };
        panel(&left, path, &batch)?;
        let image = Sweep {
            caption: format!("against image size, batch {SIZE_SWEEP_BATCH}"),
            x_desc: "image side, px (log scale)",
            x: |r| r.image_size,
            rows: by_size,
        };
        panel(&right, path, &image)
    })
}

/// `1234`, `1.5` or `0.12` ms.
fn format_ms(ms: &f64) -> String {
    match *ms {
        ms if ms >= 10.0 => format!("{ms:.0}"),
        ms if ms >= 1.0 => format!("{ms:.1}"),
        ms => format!("{ms:.2}"),
    }
}

/// The values 1, 2 and 5 × 10^k between `lo` and `hi`: a log axis's labelled ticks.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for step in [1.0, 2.0, 5.0] {
            let tick = decade * step;
            if (lo..=hi).contains(&tick) {
                ticks.push(tick);
            }
        }
        decade *= 10.0;
    }
    ticks
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    path: &Path,
    sweep: &Sweep<'_>,
) -> Result<()> {
    let err = plot_error(path);
    let xs: BTreeSet<usize> = sweep.rows.iter().map(|r| (sweep.x)(r)).collect();
    let (x_lo, x_hi) = (
        xs.first().copied().unwrap_or(1) as f64,
        xs.last().copied().unwrap_or(1) as f64,
    );
    let (y_lo, y_hi) = sweep
        .rows
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(lo, hi), r| {
            (lo.min(r.median_step_ms), hi.max(r.median_step_ms))
        });
    let mut lines: BTreeMap<Series, Vec<(f64, f64)>> = BTreeMap::new();
    for r in sweep.rows {
        lines
            .entry(r.series)
            .or_default()
            .push(((sweep.x)(r) as f64, r.median_step_ms));
    }
    let key_points: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(&sweep.caption, (font::FAMILY, style::CAPTION))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x_lo / 1.5..x_hi * 1.5)
                .log_scale()
                .with_key_points(key_points),
            // Room above the lines for the legend.
            (y_lo / 1.5..y_hi * 4.0)
                .log_scale()
                .with_key_points(log_ticks(y_lo / 1.5, y_hi * 4.0)),
        )
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc(sweep.x_desc)
        .y_desc("median step time, ms (log scale)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&format_ms)
        .label_style((font::FAMILY, style::LABEL))
        .axis_desc_style((font::FAMILY, style::AXIS))
        .draw()
        .map_err(&err)?;
    for (series, mut points) in lines {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let color = style::color(series.method);
        let stroke = color.stroke_width(2);
        let solid = series.precision.is_fp32();
        let drawn = if solid {
            chart.draw_series(LineSeries::new(points.iter().copied(), stroke))
        } else {
            chart.draw_series(DashedLineSeries::new(
                points.iter().copied(),
                DASH.0,
                DASH.1,
                stroke,
            ))
        };
        drawn
            .map_err(&err)?
            .label(series.label())
            .legend(move |(x, y)| {
                // Two segments, joined for a solid line, apart for a dashed one.
                let (end, start) = if solid { (12, 12) } else { (9, 15) };
                let wide = color.stroke_width(3);
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (end, 0)], wide)
                    + PathElement::new(vec![(start, 0), (24, 0)], wide)
            });
        chart
            .draw_series(points.iter().map(|&xy| Circle::new(xy, 4, color.filled())))
            .map_err(&err)?;
    }
    style::legend(&mut chart, SeriesLabelPosition::UpperLeft, path)?;
    Ok(())
}
