//! Figure 3, updates: the singular values of each run's update ΔW relative to the largest singular
//! value of the pre-trained W, σ_i(ΔW) / σ_max(W), one panel per projection (q, k, v, o), one line
//! per run and block (the method's colour, lighter for earlier blocks), log y axis. LoRA's update is
//! s·B A on each adapted projection (o included), Serial LoRA's s·W B A on q, k and v; a panel says
//! which methods leave its projection alone (Serial LoRA never updates o).

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use formats::Method;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::Result;
use crate::plot::font;
use crate::plot::spectrum_axes::spectrum_chart;
use crate::plot::style::{self, plot_error};
use crate::site::Proj;
use crate::spectra::compute::{Matrix, Series, Spectrum};

const PANEL: (u32, u32) = (640, 500);
const TITLE_HEIGHT: u32 = 60;

/// One line of a panel: a run's update of one block's projection.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateLine {
    /// The run.
    pub series: Series,
    /// The block.
    pub block: usize,
    /// σ_i(ΔW) / σ_max(W) for i below the run's rank (the rest are zero), zeros left out.
    pub values: Vec<f64>,
}

/// The lines of `proj`'s panel: every update of `tower`'s `proj` sites in `spectra`, relative to
/// the pre-trained weight of the same site; ordered as in `spectra`.
pub fn update_lines(spectra: &[Spectrum], tower: &str, proj: Proj) -> Vec<UpdateLine> {
    let at = |s: &Spectrum| s.site.tower == tower && s.site.proj == proj;
    spectra
        .iter()
        .filter(|s| at(s) && s.matrix == Matrix::Delta)
        .filter_map(|d| {
            let w_max = spectra
                .iter()
                .find(|w| {
                    at(w)
                        && w.matrix == Matrix::Weight
                        && w.series.method.is_none()
                        && w.site.block == d.site.block
                })?
                .sigma
                .first()
                .copied()
                .filter(|&m| m > 0.0)?;
            let bound = d.series.rank.unwrap_or(d.sigma.len()).min(d.sigma.len());
            Some(UpdateLine {
                series: d.series.clone(),
                block: d.site.block,
                values: d.sigma[..bound]
                    .iter()
                    .map(|s| s / w_max)
                    .filter(|&v| v > 0.0)
                    .collect(),
            })
        })
        .collect()
}

/// The note of `proj`'s panel naming the methods of `spectra` (in `tower`) that never update it,
/// e.g. `no W_o update: Serial LoRA (Serial LoRA adapts q, k, v only)`; `None` when every method does.
pub fn missing_note(spectra: &[Spectrum], tower: &str, proj: Proj) -> Option<String> {
    let methods: BTreeSet<Method> = spectra
        .iter()
        .filter(|s| s.site.tower == tower)
        .filter_map(|s| s.series.method)
        .collect();
    let updated: BTreeSet<Method> = update_lines(spectra, tower, proj)
        .iter()
        .filter_map(|l| l.series.method)
        .collect();
    let missing: Vec<Method> = Method::ALL
        .into_iter()
        .filter(|m| methods.contains(m) && !updated.contains(m))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let names: Vec<&str> = missing.iter().map(|m| m.label()).collect();
    let why = if missing.iter().all(|m| m.is_serial()) && proj == Proj::O {
        " (Serial LoRA adapts q, k, v only)"
    } else {
        ""
    };
    Some(format!("no W_{proj} update: {}{why}", names.join(", ")))
}

/// The colour of `block`'s line of `method`: the method's colour, mixed with white for earlier
/// blocks (from 35 % white for the first of `blocks` to none for the last).
pub fn block_color(method: Option<Method>, block: usize, blocks: &[usize]) -> RGBColor {
    let c = style::color(method);
    let pos = blocks.iter().position(|&b| b == block).unwrap_or(0);
    let t = if blocks.len() > 1 {
        pos as f64 / (blocks.len() - 1) as f64
    } else {
        1.0
    };
    let white = 0.35 * (1.0 - t);
    let mix = |v: u8| (v as f64 * (1.0 - white) + 255.0 * white).round() as u8;
    RGBColor(mix(c.0), mix(c.1), mix(c.2))
}

/// Draws the update spectra of `tower` into the PNG at `path`.
pub fn draw(path: &Path, backbone: &str, tower: &str, spectra: &[Spectrum]) -> Result<PathBuf> {
    let size = (PANEL.0 * 2, PANEL.1 * 2 + TITLE_HEIGHT);
    style::save_png(path, size, |root| {
        let err = plot_error(path);
        let title = format!(
            "Update spectra σ_i(ΔW) / σ_max(W): {backbone} ({tower}); lighter lines: earlier blocks"
        );
        let body = root
            .titled(&title, (font::FAMILY, style::title_size(&title, size.0)))
            .map_err(&err)?;
        let panels: Vec<(Proj, Vec<UpdateLine>)> = Proj::WITH_OUTPUT
            .into_iter()
            .map(|proj| (proj, update_lines(spectra, tower, proj)))
            .collect();
        // One y range for the four panels, so that their decades line up and compare.
        let range = y_range(panels.iter().flat_map(|(_, lines)| lines));
        for (area, (proj, lines)) in body.split_evenly((2, 2)).iter().zip(&panels) {
            let note = missing_note(spectra, tower, *proj);
            panel(area, path, *proj, lines, range.clone(), note.as_deref())?;
        }
        Ok(())
    })
}

/// The y range that holds every value of `lines` with room on both sides (a factor of 2 on the
/// log axis); 1e-4 to 1 when there is none.
fn y_range<'a>(lines: impl Iterator<Item = &'a UpdateLine>) -> Range<f64> {
    let values = lines.flat_map(|l| l.values.iter().copied());
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if hi > 0.0 {
        lo * 0.5..hi * 2.0
    } else {
        1e-4..1.0
    }
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    path: &Path,
    proj: Proj,
    lines: &[UpdateLine],
    range: Range<f64>,
    note: Option<&str>,
) -> Result<()> {
    let err = plot_error(path);
    let blocks: Vec<usize> = lines
        .iter()
        .map(|l| l.block)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let n = lines
        .iter()
        .map(|l| l.values.len())
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let mut chart = spectrum_chart(
        area,
        path,
        format!("ΔW_{proj}"),
        -0.2..n - 0.8,
        range,
        "σ_i(ΔW) / σ_max(W)",
    )?;
    let mut labelled: BTreeSet<String> = BTreeSet::new();
    // Earlier blocks first, so the full-colour last block lies on top.
    let mut order: Vec<&UpdateLine> = lines.iter().collect();
    order.sort_by_key(|l| l.block);
    for line in order.into_iter().rev() {
        let color = block_color(line.series.method, line.block, &blocks);
        let pts: Vec<(f64, f64)> = line
            .values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as f64, v))
            .collect();
        let series = chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(&err)?;
        let label = line.series.label();
        if labelled.insert(label.clone()) {
            series.label(label).legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
            });
        }
    }
    if !labelled.is_empty() {
        style::legend(&mut chart, SeriesLabelPosition::LowerLeft, path)?;
    }
    if let Some(note) = note {
        let (w, _) = area.dim_in_pixel();
        let style = (font::FAMILY, style::LABEL)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        area.draw(&Text::new(note.to_string(), (w as i32 / 2, 44), &style))
            .map_err(&err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::Site;

    fn spectrum(
        method: Option<Method>,
        matrix: Matrix,
        block: usize,
        proj: Proj,
        sigma: &[f64],
    ) -> Spectrum {
        Spectrum {
            series: Series {
                method,
                rank: method.map(|_| 2),
                run: method.map_or(String::new(), |m| m.name().to_string()),
            },
            matrix,
            site: Site {
                tower: "enc".into(),
                block,
                proj,
            },
            sigma: sigma.to_vec(),
        }
    }

    #[test]
    fn updates_are_relative_to_the_pretrained_sigma_max_and_stop_at_the_rank() {
        let (lora, serial) = (Some(Method::Lora), Some(Method::SerialLora));
        let spectra = vec![
            spectrum(None, Matrix::Weight, 0, Proj::Q, &[4.0, 2.0, 1.0]),
            spectrum(None, Matrix::Weight, 1, Proj::Q, &[8.0, 1.0, 1.0]),
            spectrum(None, Matrix::Weight, 0, Proj::O, &[2.0, 1.0, 1.0]),
            spectrum(lora, Matrix::Weight, 0, Proj::Q, &[5.0, 2.0, 1.0]),
            spectrum(lora, Matrix::Delta, 0, Proj::Q, &[2.0, 1.0, 1e-20]),
            spectrum(lora, Matrix::Delta, 0, Proj::O, &[1.0, 0.5, 0.0]),
            spectrum(serial, Matrix::Delta, 1, Proj::Q, &[4.0, 0.0, 0.0]),
        ];
        let q = update_lines(&spectra, "enc", Proj::Q);
        assert_eq!(q.len(), 2);
        assert_eq!((q[0].series.method, q[0].block), (lora, 0));
        assert_eq!(q[0].values, [0.5, 0.25]);
        assert_eq!((q[1].series.method, q[1].block), (serial, 1));
        assert_eq!(q[1].values, [0.5]);
        let o = update_lines(&spectra, "enc", Proj::O);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].values, [0.5, 0.25]);
        assert!(update_lines(&spectra, "other", Proj::Q).is_empty());

        assert_eq!(missing_note(&spectra, "enc", Proj::Q), None);
        assert_eq!(
            missing_note(&spectra, "enc", Proj::O).unwrap(),
            "no W_o update: Serial LoRA (Serial LoRA adapts q, k, v only)"
        );
        assert_eq!(
            missing_note(&spectra, "enc", Proj::K).unwrap(),
            "no W_k update: LoRA, Serial LoRA"
        );
    }

    #[test]
    fn earlier_blocks_are_lighter_shades_of_the_method_colour() {
        let m = Some(Method::SerialLora);
        let blocks = [0, 5, 11];
        assert_eq!(block_color(m, 11, &blocks), style::color(m));
        let (first, mid) = (block_color(m, 0, &blocks), block_color(m, 5, &blocks));
        assert!(
            first.0 > mid.0 && mid.0 > style::color(m).0,
            "{first:?} {mid:?}"
        );
        assert_eq!(block_color(m, 3, &[3]), style::color(m));
    }
}
