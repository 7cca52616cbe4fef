//! Figure 3: singular-value spectra of pre-trained, merged and update weights (`analysis svd`).

pub mod command;
pub mod compute;
pub mod table;

pub use command::{svd, SvdOptions};
pub use compute::{backbone_spectra, Matrix, Series, Spectrum};
