//! Figures, drawn with plotters into PNG files (written atomically).

pub mod fig3;
pub mod fig3_updates;
pub mod fig5;
pub mod font;
pub mod loss;
pub mod spectrum_axes;
pub mod style;
pub mod validation;
