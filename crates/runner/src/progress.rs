//! Progress bars for long loops.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of a run's `total` steps starting at `position` (a resumed run), prefixed with the run's
/// name; its message shows the latest loss and learning rate. It draws on stderr and hides itself
/// when stderr is not a terminal.
pub fn run_bar(total: u64, position: u64, name: &str) -> ProgressBar {
    let bar = ProgressBar::new(total)
        .with_position(position)
        .with_prefix(name.to_string());
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} steps {msg}, {elapsed} elapsed, eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}
