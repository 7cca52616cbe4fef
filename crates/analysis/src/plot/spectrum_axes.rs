//! The axes every singular-value panel shares: index on x, a log-scale ratio on y, the same
//! margins, fonts and tick formats (Figure 3's weight spectra and its update spectra).

use std::ops::Range;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::Result;
use crate::plot::font;
use crate::plot::style::{self, plot_error};

/// A panel with a linear x axis and a log y axis.
pub type SpectrumChart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, LogCoord<f64>>>;

/// Builds the panel on `area` (errors name the figure at `path`): `caption` above, singular-value
/// index `x` on the x axis, `y_desc` on a log-scale `y` axis, mesh drawn.
pub fn spectrum_chart<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    path: &Path,
    caption: String,
    x: Range<f64>,
    y: Range<f64>,
    y_desc: &str,
) -> Result<SpectrumChart<'a, 'b>> {
    let err = plot_error(path);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (font::FAMILY, style::CAPTION))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(78)
        .build_cartesian_2d(x, y.log_scale())
        .map_err(&err)?;
    chart
        .configure_mesh()
        .x_desc("index i")
        .y_desc(y_desc)
        .label_style((font::FAMILY, style::LABEL))
        .axis_desc_style((font::FAMILY, style::AXIS))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0e}"))
        .draw()
        .map_err(&err)?;
    Ok(chart)
}
