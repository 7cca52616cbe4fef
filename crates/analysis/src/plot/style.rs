//! Colours, sizes and the save step shared by every figure.

use std::fmt::Display;
use std::path::{Path, PathBuf};

use formats::atomic::write_atomic_with;
use formats::Method;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::plot::font;

/// Font size of figure titles.
pub const TITLE: u32 = 30;
/// Font size of panel captions.
pub const CAPTION: u32 = 22;
/// Font size of axis descriptions.
pub const AXIS: u32 = 18;
/// Font size of tick labels and legends.
pub const LABEL: u32 = 15;

/// The colour of a method's line (`None`: the pre-trained model). Figures draw the four adapter
/// methods ([`Method::ADAPTERS`]); the baselines get greys and purple should a figure show them.
pub fn color(method: Option<Method>) -> RGBColor {
    match method {
        None => RGBColor(0, 0, 0),
        Some(Method::Lora) => RGBColor(214, 39, 40),
        Some(Method::SerialLora) => RGBColor(31, 119, 180),
        Some(Method::LoraPlus) => RGBColor(255, 127, 14),
        Some(Method::SerialLoraPlus) => RGBColor(44, 160, 44),
        Some(Method::ZeroShot) => RGBColor(127, 127, 127),
        Some(Method::Probe) => RGBColor(90, 90, 90),
        Some(Method::Full) => RGBColor(148, 103, 189),
    }
}

/// Turns any plotters error into an [`Error::Plot`] naming `path`.
pub fn plot_error<E: Display>(path: &Path) -> impl Fn(E) -> Error + '_ {
    move |e| Error::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Draws a `size` PNG at `path` atomically: `draw` paints a white, font-ready canvas that is
/// saved under a temporary name and then renamed.
pub fn save_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
) -> Result<PathBuf> {
    font::register().map_err(plot_error(path))?;
    write_atomic_with(path, |tmp| {
        let root = BitMapBackend::new(tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error(path))?;
        draw(&root)?;
        root.present().map_err(plot_error(path))
    })?;
    Ok(path.to_path_buf())
}
