//! Figure 5: a metric against rank (log2 axis), one panel per data set (or model and data set),
//! one line per method with ±1 std error bars (LoRA on q,k,v, a reference row, usually a single
//! grey triangle, drawn last); each point is labelled with its trainable parameters and the legend
//! gives each method's. Dotted black segments join the parameter-matched pairs: LoRA (+) at rank
//! r and Serial LoRA (+) at the rank with exactly its trainable parameters (4r with LoRA on
//! q,k,v,o). Dashed horizontal lines mark a panel's references: the probe and zero-shot / class
//! means of [`crate::sweep::reference`] (`analysis rank-sweep`), or generation's base model and
//! full fine-tuning (`analysis report`); the y axis is fitted to the methods, and a reference far
//! outside their range is a legend note instead of a line ([`fitted_references`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use formats::Method;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

/// The side of the axis a reference line off it lies on.
pub type Side = &'static str;

/// Splits `refs` into the lines drawn in the panel of `pts` and those noted in its legend only
/// (with the side they lie on): a reference more than the methods' own range (mean ± std) away
/// from it would squeeze the methods' differences into a sliver, so the axis is fitted to the
/// methods and such a line becomes a note.
pub fn fitted_references<P: RankPoint>(
    pts: &[&P],
    refs: &[ReferenceLine],
) -> (Vec<ReferenceLine>, Vec<(ReferenceLine, Side)>) {
    let (lo, hi) = pts
        .iter()
        .flat_map(|p| [p.mean() - p.std(), p.mean() + p.std()])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), y| {
            (lo.min(y), hi.max(y))
        });
    let reach = (hi - lo).max(hi.abs() * 0.01).max(1e-3);
    let mut shown = Vec::new();
    let mut off = Vec::new();
    for r in refs {
        if r.value < lo - reach {
            off.push((r.clone(), "below"));
        } else if r.value > hi + reach {
            off.push((r.clone(), "above"));
        } else {
            shown.push(r.clone());
        }
    }
    (shown, off)
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
    let (refs, off_axis) = fitted_references(pts, refs);
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
    let below = 0.15 * entries as f64 + 0.25 * refs.len() as f64 + 0.15 * off_axis.len() as f64;
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
    for r in &refs {
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
    for (r, side) in &off_axis {
        let color = r.color;
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
            .map_err(&err)?
            .label(format!("{}: {side} the axis", r.label))
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (8, 0)], color.stroke_width(3))
                    + PathElement::new(vec![(16, 0), (24, 0)], color.stroke_width(3))
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
    // Each point's trainable parameters beside it, on a white box over the lines: LoRA's to the
    // left, the others' to the right, clear of the error bars' caps; labels on one side of one
    // rank that would overlap are moved apart vertically ([`spread`]).
    let font = (font::FAMILY, style::LABEL - 2).into_font();
    let mut labels = Vec::new();
    for p in pts.iter().filter(|p| LINES.contains(&p.method())) {
        let text = format_params(p.trainable_params());
        let (w, h) = font.box_size(&text).map_err(plot_error(path))?;
        let at = ((p.rank() as f64).log2(), p.mean());
        labels.push(ParamLabel {
            method: p.method(),
            rank: p.rank(),
            left: LINES.iter().position(|m| *m == p.method()).unwrap_or(0) % 2 == 0,
            text,
            size: (w as i32 + 4, h as i32 / 2 + 2),
            at,
            y: chart.backend_coord(&at).1,
        });
    }
    let sides: BTreeSet<(usize, bool)> = labels.iter().map(|l| (l.rank, l.left)).collect();
    for (rank, left) in sides {
        let mut group: Vec<&mut ParamLabel> = labels
            .iter_mut()
            .filter(|l| l.rank == rank && l.left == left)
            .collect();
        let ys: Vec<i32> = group.iter().map(|l| l.y).collect();
        let height = group.iter().map(|l| 2 * l.size.1).max().unwrap_or(0);
        for (label, y) in group.iter_mut().zip(spread(&ys, height)) {
            label.y = y;
        }
    }
    for l in labels {
        let (w, h) = l.size;
        let x0 = if l.left { -9 - w } else { 9 };
        let dy = l.y - chart.backend_coord(&l.at).1;
        let color = style::color(Some(l.method));
        let label = EmptyElement::at(l.at)
            + Rectangle::new([(x0, dy - h), (x0 + w, dy + h)], WHITE.mix(0.85).filled())
            + Text::new(
                l.text,
                (x0 + 2, dy),
                font.color(&color).pos(Pos::new(HPos::Left, VPos::Center)),
            );
        chart.draw_series(std::iter::once(label)).map_err(&err)?;
    }
    style::legend(&mut chart, SeriesLabelPosition::LowerRight, path)?;
    Ok(())
}

/// A point's trainable-parameter label: where it is anchored and the pixel row it is drawn at.
struct ParamLabel {
    method: Method,
    rank: usize,
    /// Drawn left of the point (LoRA's side) rather than right.
    left: bool,
    text: String,
    /// Width and half height of its box, pixels.
    size: (i32, i32),
    /// The point, in chart coordinates.
    at: (f64, f64),
    /// The pixel row of its centre.
    y: i32,
}

/// Label centres (pixel rows) `ys` moved apart so that boxes `height` pixels tall do not overlap:
/// labels that would touch form a stack, in the order of `ys`, `height` apart and centred where
/// its labels want to be (the mean of each one's wish less its place in the stack); labels clear
/// of the others stay where they are.
pub fn spread(ys: &[i32], height: i32) -> Vec<i32> {
    let mut order: Vec<usize> = (0..ys.len()).collect();
    order.sort_by_key(|&i| (ys[i], i));
    let top = |members: &[usize]| {
        let wishes = members
            .iter()
            .enumerate()
            .map(|(k, &i)| f64::from(ys[i]) - (k as f64) * f64::from(height));
        (wishes.sum::<f64>() / members.len() as f64).round() as i32
    };
    let mut stacks: Vec<(Vec<usize>, i32)> = Vec::new();
    for &i in &order {
        let mut stack = (vec![i], ys[i]);
        while let Some((members, above)) = stacks.last() {
            if stack.1 >= above + members.len() as i32 * height {
                break;
            }
            let (mut members, _) = stacks.pop().unwrap_or_default();
            members.extend(stack.0);
            let above = top(&members);
            stack = (members, above);
        }
        stacks.push(stack);
    }
    let mut placed = vec![0; ys.len()];
    for (members, top) in stacks {
        for (k, &i) in members.iter().enumerate() {
            placed[i] = top + k as i32 * height;
        }
    }
    placed
}

#[cfg(test)]
mod tests {
    #[test]
    fn labels_that_would_overlap_are_stacked_around_where_they_want_to_be() {
        use super::spread;
        // Clear of each other: unchanged.
        assert_eq!(spread(&[100, 300, 200], 20), [100, 300, 200]);
        // Two 2 px apart: a stack of two, 20 apart, centred on them (wishes 100 and 102 − 20).
        assert_eq!(spread(&[102, 100, 300], 20), [111, 91, 300]);
        // Three on one row: one above, one on it, one below; the next label pushed on joins them.
        assert_eq!(spread(&[50, 50, 50], 10), [40, 50, 60]);
        assert_eq!(spread(&[50, 50, 50, 62], 10), [38, 48, 58, 68]);
        // Any input: the order of ys is kept and no two boxes overlap.
        let ys = [7, 3, 3, 40, 41, 90, 5, 44];
        let placed = spread(&ys, 12);
        let mut order: Vec<usize> = (0..ys.len()).collect();
        order.sort_by_key(|&i| (ys[i], i));
        for w in order.windows(2) {
            assert!(placed[w[1]] - placed[w[0]] >= 12, "{placed:?}");
        }
    }

    use super::*;

    struct Point(f64, f64);

    impl RankPoint for Point {
        fn method(&self) -> Method {
            Method::Lora
        }
        fn rank(&self) -> usize {
            8
        }
        fn trainable_params(&self) -> u64 {
            1
        }
        fn mean(&self) -> f64 {
            self.0
        }
        fn std(&self) -> f64 {
            self.1
        }
    }

    fn line(value: f64) -> ReferenceLine {
        ReferenceLine {
            label: format!("{value}"),
            value,
            color: BLACK,
        }
    }

    #[test]
    fn references_far_from_the_methods_become_notes_on_their_side() {
        // The methods span 0.60 ± 0.01 .. 0.64 ± 0.01: range 0.06, so lines within 0.54..0.71
        // are drawn; class means at 0.33 lie below, a perfect score above.
        let (a, b) = (Point(0.60, 0.01), Point(0.64, 0.01));
        let pts = [&a, &b];
        let refs = [line(0.33), line(0.56), line(0.70), line(1.0)];
        let (shown, off) = fitted_references(&pts, &refs);
        let values: Vec<f64> = shown.iter().map(|r| r.value).collect();
        assert_eq!(values, vec![0.56, 0.70]);
        let notes: Vec<(f64, Side)> = off.iter().map(|(r, s)| (r.value, *s)).collect();
        assert_eq!(notes, vec![(0.33, "below"), (1.0, "above")]);
    }
}
