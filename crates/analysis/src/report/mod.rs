//! `analysis report`: a fair comparison of the methods from one task folder's `summary.csv` →
//! `<DIR>/report/` and a Markdown version on stdout:
//!
//! * [`table`]: `table.csv`, mean ± std over seeds per (model, data set, method, rank) of the
//!   metric and the task's further measures;
//! * [`paired`]: `paired.csv`, paired differences over seeds with 95 % Student-t intervals (same
//!   rank, parameter-matched, against LoRA on q,k,v; segmentation: against the decoder alone, and
//!   the same in IoU in `paired_iou.csv`);
//! * [`classes`]: `classes.csv`, per-class IoU, mIoU and pixel accuracy of multi-class
//!   segmentation runs (from their `summary.json`);
//! * [`selected`]: `selected.csv`, the learning rates chosen on the validation split (when the
//!   folder has `lr_selection.csv`);
//! * [`resolution`]: `resolution.csv`, the resolution study (backbones named `<backbone>-<N>px`);
//! * [`loss`]: the training-loss curves of the loss figure, `figures/loss_<backbone>.png`;
//! * [`plateau`]: `loss_plateau.csv`, each curve's mean loss over the last fifth of the steps
//!   against the fifth before (has it levelled off?);
//! * [`rank_figure`]: generation's Figure 5, FD against rank, `figures/fig5_<backbone>.png`;
//! * [`validation`]: the validation curves of a selection with scored steps,
//!   `figures/validation_<backbone>.png`.
//!
//! Markdown and figures follow the metric's direction ([`crate::compare::Task::lower_is_better`]):
//! generation's Fréchet distance improves downwards, so a negative paired difference favours `a`.

pub mod cells;
pub mod classes;
pub mod command;
pub mod loss;
pub mod markdown;
pub mod paired;
pub mod plateau;
pub mod rank_figure;
pub mod resolution;
pub mod rows;
pub mod selected;
pub mod table;
pub mod units;
pub mod validation;
pub mod write;

pub use command::{report, Report, ReportOptions, REPORT_DIR};
