//! The validation-curve figure of a selection whose runs scored their validation split every few
//! steps (`[select] validate_every`): validation score against step, one panel per data set, per
//! method its chosen learning rate as a thick line with markers and its other candidates as thin
//! lines in a paler shade of its colour; a dashed vertical line marks the schedule length the
//! rule chose (the grid's steps).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use formats::schedule::Curve;
use formats::selection::Candidate;
use formats::Method;
use plotters::prelude::*;

use crate::error::Result;
use crate::plot::font;
use crate::plot::style::{self, plot_error};

const PANEL: (u32, u32) = (640, 480);
const COLUMNS: usize = 3;

/// One panel: a data set's candidates with their curves, and the chosen ones.
#[derive(Debug, Clone)]
pub struct Panel<'a> {
    /// The caption: the data set.
    pub caption: String,
    /// Every candidate of the data set with its curve.
    pub curves: Vec<&'a (Candidate, Curve)>,
    /// The chosen candidates (their `steps` is the schedule length).
    pub chosen: Vec<&'a Candidate>,
}

/// Whether `candidate` is the one chosen for its method among `chosen`.
fn is_chosen(candidate: &Candidate, chosen: &[&Candidate]) -> bool {
    chosen.iter().any(|c| {
        (c.method, c.rank, c.seed) == (candidate.method, candidate.rank, candidate.seed)
            && c.lr == candidate.lr
            && c.plus_ratio == candidate.plus_ratio
    })
}

/// `lr 0.001` or, with a λ, `lr 0.001, λ 4`.
fn rate_label(c: &Candidate) -> String {
    if c.method.is_plus() {
        format!("lr {}, λ {}", c.lr, c.plus_ratio)
    } else {
        format!("lr {}", c.lr)
    }
}

/// Draws the `panels` of `backbone` into the PNG at `path`, the y axis named `y_desc`.
pub fn draw(path: &Path, backbone: &str, y_desc: &str, panels: &[Panel<'_>]) -> Result<PathBuf> {
    let cols = panels.len().clamp(1, COLUMNS);
    let rows = panels.len().div_ceil(cols).max(1);
    let size = (PANEL.0 * cols as u32, PANEL.1 * rows as u32 + 60);
    style::save_png(path, size, |root| {
        let err = plot_error(path);
        let title = format!("Learning-rate selection: {backbone}");
        let body = root
            .titled(&title, (font::FAMILY, style::title_size(&title, size.0)))
            .map_err(&err)?;
        for (area, p) in body.split_evenly((rows, cols)).iter().zip(panels) {
            panel(area, path, y_desc, p)?;
        }
        Ok(())
    })
}

fn panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    path: &Path,
    y_desc: &str,
    panel: &Panel<'_>,
) -> Result<()> {
    let err = plot_error(path);
    let points = panel.curves.iter().flat_map(|(_, c)| c.points.iter());
    let (max_step, lo, hi) = points.filter(|p| p.1.is_finite()).fold(
        (1usize, f64::INFINITY, f64::NEG_INFINITY),
        |(s, lo, hi), p| (s.max(p.0), lo.min(p.1), hi.max(p.1)),
    );
    let span = (hi - lo).max(1e-3);
    let methods: Vec<Method> = {
        let mut m: Vec<Method> = panel.curves.iter().map(|(c, _)| c.method).collect();
        m.sort();
        m.dedup();
        m
    };
    // Room below the curves for the legend: two entries per method and the schedule's.
    let below = 0.12 * (2 * methods.len() + 1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.caption, (font::FAMILY, style::CAPTION))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(70)
        .build_cartesian_2d(
            0.0..max_step as f64 * 1.03,
            (lo - below * span)..(hi + 0.08 * span),
        )
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc("training step")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(y_desc)
        .label_style((font::FAMILY, style::LABEL))
        .axis_desc_style((font::FAMILY, style::AXIS))
        .draw()
        .map_err(&err)?;

    let mut steps: Vec<usize> = panel.chosen.iter().filter_map(|c| c.steps).collect();
    steps.dedup();
    for (i, &step) in steps.iter().enumerate() {
        let x = step as f64;
        let series = chart
            .draw_series(DashedLineSeries::new(
                [(x, lo - below * span), (x, hi + 0.08 * span)],
                8,
                6,
                BLACK.stroke_width(2),
            ))
            .map_err(&err)?;
        if i == 0 {
            series
                .label(format!("schedule chosen: {step} steps"))
                .legend(|(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], BLACK.stroke_width(2))
                });
        }
    }

    let by_method: BTreeMap<Method, Vec<&(Candidate, Curve)>> =
        panel.curves.iter().fold(BTreeMap::new(), |mut m, c| {
            m.entry(c.0.method).or_insert_with(Vec::new).push(*c);
            m
        });
    for (method, curves) in by_method {
        let color = style::color(Some(method));
        let pale = color.mix(0.45);
        let xy = |c: &Curve| -> Vec<(f64, f64)> {
            c.points
                .iter()
                .filter(|p| p.1.is_finite())
                .map(|&(s, v)| (s as f64, v))
                .collect()
        };
        let (chosen, others): (Vec<_>, Vec<_>) = curves
            .into_iter()
            .partition(|(c, _)| is_chosen(c, &panel.chosen));
        let other_rates: Vec<String> = others.iter().map(|(c, _)| rate_label(c)).collect();
        for (i, (_, curve)) in others.iter().enumerate() {
            let series = chart
                .draw_series(LineSeries::new(xy(curve), pale.stroke_width(1)))
                .map_err(&err)?;
            if i == 0 {
                series
                    .label(format!(
                        "{}, {} (not chosen)",
                        method.label(),
                        other_rates.join("; ")
                    ))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 24, y)], pale.stroke_width(1))
                    });
            }
        }
        for (candidate, curve) in chosen {
            chart
                .draw_series(LineSeries::new(xy(curve), color.stroke_width(3)))
                .map_err(&err)?
                .label(format!(
                    "{}, {} (chosen)",
                    method.label(),
                    rate_label(candidate)
                ))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                });
            chart
                .draw_series(
                    xy(curve)
                        .into_iter()
                        .map(|p| Circle::new(p, 4, color.filled())),
                )
                .map_err(&err)?;
        }
    }
    style::legend(&mut chart, SeriesLabelPosition::LowerRight, path)
}
