//! The embedded font (DejaVu Sans, Debian `fonts-dejavu-core`, Bitstream Vera licence in
//! `assets/DejaVuSans-LICENSE.txt`), so figures need no system fonts.

use std::sync::OnceLock;

use plotters::style::FontStyle;

/// The family name figures use.
pub const FAMILY: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the embedded font with plotters as [`FAMILY`] (once per process).
pub fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS)
                .map_err(|_| "the embedded DejaVu Sans font is not a valid TTF".to_string())
        })
        .clone()
}
