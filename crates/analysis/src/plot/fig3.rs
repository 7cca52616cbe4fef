//! Figure 3: normalised singular values of the q/k/v weights, one panel per block and projection
//! (columns: blocks, rows: q, k, v), one line per method, log y axis.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::error::Result;
use crate::plot::font;
use crate::plot::spectrum_axes::spectrum_chart;
use crate::plot::style::{self, plot_error};
use crate::site::Proj;
use crate::spectra::compute::{Matrix, Spectrum};
use crate::spectrum::normalized;

const PANEL: (u32, u32) = (560, 420);
const TITLE_HEIGHT: u32 = 60;
/// Normalised singular values below this are clipped off the log axis.
const FLOOR: f64 = 1e-8;

/// Draws the weight spectra of `tower`'s `blocks` from `spectra` into the PNG at `path`.
pub fn draw(
    path: &Path,
    backbone: &str,
    tower: &str,
    blocks: &[usize],
    spectra: &[Spectrum],
) -> Result<PathBuf> {
    let size = (PANEL.0 * blocks.len() as u32, PANEL.1 * 3 + TITLE_HEIGHT);
    style::save_png(path, size, |root| {
        let err = plot_error(path);
        let title = format!("Singular values of merged q/k/v weights: {backbone} ({tower})");
        let body = root
            .titled(&title, (font::FAMILY, style::title_size(&title, size.0)))
            .map_err(&err)?;
        let panels = body.split_evenly((3, blocks.len()));
        for (i, area) in panels.iter().enumerate() {
            let (proj, block) = (Proj::ALL[i / blocks.len()], blocks[i % blocks.len()]);
            let lines: Vec<&Spectrum> = spectra
                .iter()
                .filter(|s| {
                    s.matrix == Matrix::Weight
                        && s.site.tower == tower
                        && s.site.block == block
                        && s.site.proj == proj
                })
                .collect();
            panel(area, path, block, proj, &lines, i == 0)?;
        }
        Ok(())
    })
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    path: &Path,
    block: usize,
    proj: Proj,
    lines: &[&Spectrum],
    legend: bool,
) -> Result<()> {
    let err = plot_error(path);
    let points: Vec<Vec<(f64, f64)>> = lines
        .iter()
        .map(|s| {
            normalized(&s.sigma)
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i as f64, v))
                .filter(|p| p.1 >= FLOOR)
                .collect()
        })
        .collect();
    let n = lines
        .iter()
        .map(|s| s.sigma.len())
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let y_min = points.iter().flatten().map(|p| p.1).fold(1.0, f64::min) * 0.5;
    let mut chart = spectrum_chart(
        area,
        path,
        format!("block {block}, W_{proj}"),
        0.0..n,
        y_min..1.5,
        "σ_i / σ_max",
    )?;
    for (s, pts) in lines.iter().zip(points) {
        let color = style::color(s.series.method);
        let width = if s.series.method.is_none() { 3 } else { 2 };
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(width)))
            .map_err(&err)?
            .label(s.series.label())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
    }
    if legend {
        style::legend(&mut chart, SeriesLabelPosition::LowerLeft, path)?;
    }
    Ok(())
}
