//! # runner: what every experiment runner shares
//!
//! * [`RunDir`]: one folder per run under `results/<task>/<run>/` holding its full `config.json`,
//!   `metrics.csv` and `summary.json`, every file written atomically (temp file + rename).
//! * [`append_summary_row`]: one row per finished run in `results/<task>/summary.csv`.
//! * [`read_experiment`] and [`require_non_empty`]: experiment files with errors naming file and field.
//! * [`Checkpoint`]: trainable variables + optimiser state + step, so a killed run resumes and ends
//!   exactly as an uninterrupted one.
//! * [`progress_bar`], [`peak_rss_mb`], [`images_to_tensor`] and [`workspace_root`] for the loops.

mod checkpoint;
mod experiment;
mod memory;
mod paths;
mod progress;
mod run_dir;
mod summary;
mod tensor;

pub use checkpoint::Checkpoint;
pub use experiment::{read_experiment, require_non_empty};
pub use memory::{peak_rss_mb, reset_peak_rss};
pub use paths::workspace_root;
pub use progress::progress_bar;
pub use run_dir::{MetricsLog, RunDir};
pub use summary::append_summary_row;
pub use tensor::images_to_tensor;
