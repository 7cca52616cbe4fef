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
/// The font size, at most [`TITLE`] and at least [`LABEL`], at which `title` fits a figure `width`
/// pixels wide with 20-pixel margins (long backbone and tower names would otherwise run off both
/// edges). Call it where the figure's font is registered (inside [`save_png`]).
pub fn title_size(title: &str, width: u32) -> u32 {
    (LABEL..=TITLE)
        .rev()
        .find(|&size| {
            (font::FAMILY, size)
                .into_font()
                .box_size(title)
                .is_ok_and(|(w, _)| w + 40 <= width)
        })
        .unwrap_or(LABEL)
}

/// Font size of panel captions.
pub const CAPTION: u32 = 22;
/// Font size of axis descriptions.
pub const AXIS: u32 = 18;
/// Font size of tick labels and legends.
pub const LABEL: u32 = 15;

/// The Okabe–Ito palette (Okabe & Ito 2008, "Color Universal Design"), distinguishable under the
/// common colour-vision deficiencies: black, orange, sky blue, bluish green, yellow, blue,
/// vermillion, reddish purple.
pub const OKABE_ITO: [RGBColor; 8] = [
    RGBColor(0, 0, 0),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(240, 228, 66),
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
];

/// The ninth colour, outside the palette: mid grey, told apart from black by lightness.
pub const GREY: RGBColor = RGBColor(136, 136, 136);

/// The one colour of a method (`None`: the pre-trained model) in every figure, from
/// [`OKABE_ITO`]: pre-trained black, LoRA vermillion, Serial LoRA blue, LoRA+ orange, Serial
/// LoRA+ bluish green, probe sky blue, zero-shot reddish purple, full fine-tuning yellow; the
/// palette has eight colours, so LoRA on q,k,v (a reference row) and pre-training take [`GREY`].
pub fn color(method: Option<Method>) -> RGBColor {
    let [black, orange, sky_blue, green, yellow, blue, vermillion, purple] = OKABE_ITO;
    match method {
        None => black,
        Some(Method::Lora) => vermillion,
        Some(Method::SerialLora) => blue,
        Some(Method::LoraPlus) => orange,
        Some(Method::SerialLoraPlus) => green,
        Some(Method::Probe) => sky_blue,
        Some(Method::ZeroShot) => purple,
        Some(Method::Full) => yellow,
        Some(Method::LoraQkv) | Some(Method::Pretrain) => GREY,
    }
}

/// Draws `chart`'s series legend at `position` in the figures' one style (a white box with a black
/// border, label-sized text); errors become [`Error::Plot`] naming `path`.
pub fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    path: &Path,
) -> Result<()>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((font::FAMILY, LABEL))
        .draw()
        .map_err(plot_error(path))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_shrink_to_fit_their_figure() {
        font::register().unwrap();
        let width =
            |title: &str, size: u32| (font::FAMILY, size).into_font().box_size(title).unwrap().0;
        // A short title keeps the full size.
        assert_eq!(title_size("Training loss", 1120), TITLE);
        // fig3's title of the two-block QUICK CamVid grid ran off both edges at 30 px.
        let long = "Singular values of merged q/k/v weights: litemedsam-camvid-quick (image_encoder.layers.1)";
        assert!(width(long, TITLE) + 40 > 1120);
        let size = title_size(long, 1120);
        assert!(size < TITLE && width(long, size) + 40 <= 1120, "{size}");
        assert!(
            width(long, size + 1) + 40 > 1120,
            "the largest size that fits"
        );
        // Nothing fits a sliver: the smallest size, not less.
        assert_eq!(title_size(long, 50), LABEL);
    }

    #[test]
    fn every_method_has_its_own_okabe_ito_colour() {
        let mut seen: Vec<RGBColor> = Vec::new();
        // Pre-training shares LoRA (q,k,v)'s grey: the two never share a figure.
        let methods = Method::ALL.into_iter().filter(|m| *m != Method::Pretrain);
        assert_eq!(color(Some(Method::Pretrain)), GREY);
        for m in std::iter::once(None).chain(methods.map(Some)) {
            let c = color(m);
            let allowed = OKABE_ITO.contains(&c) || m == Some(Method::LoraQkv) && c == GREY;
            assert!(allowed, "{m:?}: {c:?} is not Okabe–Ito");
            assert!(!seen.contains(&c), "{m:?} shares {c:?}");
            seen.push(c);
        }
        assert_eq!(color(Some(Method::Lora)), RGBColor(213, 94, 0));
        assert_eq!(color(Some(Method::SerialLora)), RGBColor(0, 114, 178));
    }
}
