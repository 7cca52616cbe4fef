//! Progress bars for long loops.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `total` steps starting at `position` (a resumed run), labelled `label`. It draws on
/// stderr and hides itself when stderr is not a terminal.
pub fn progress_bar(total: u64, position: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(total)
        .with_position(position)
        .with_message(label.to_string());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} steps, {elapsed} elapsed, eta {eta} {prefix}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}
