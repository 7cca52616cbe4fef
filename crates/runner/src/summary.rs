//! `results/<task>/summary.csv`: one row per finished run.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serial_lora::checkpoint::write_atomic;

/// Appends `row` to the CSV at `path` (created with `header` if absent), atomically and under an
/// exclusive lock (`<path>.lock`), so runners sharing the table (shards of one grid) never lose a
/// row. A file whose header differs is refused, naming the file, rather than mixed.
pub fn append_summary_row(path: &Path, header: &[&str], row: &[String]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let lock_path = path.with_extension("csv.lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("locking {}", lock_path.display()))?;
    append_locked(path, header, row)
}

fn append_locked(path: &Path, header: &[&str], row: &[String]) -> Result<()> {
    if row.len() != header.len() {
        bail!(
            "{}: row has {} fields, header {}",
            path.display(),
            row.len(),
            header.len()
        );
    }
    let mut text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut writer = csv::Writer::from_writer(Vec::new());
    if text.trim().is_empty() {
        text.clear();
        writer.write_record(header)?;
    } else {
        let first = text.lines().next().unwrap_or_default();
        if first != header.join(",") {
            bail!(
                "{}: header `{first}` differs from `{}`; move the file away to start a new table",
                path.display(),
                header.join(",")
            );
        }
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    writer.write_record(row)?;
    text.push_str(std::str::from_utf8(&writer.into_inner()?).context("CSV is UTF-8")?);
    write_atomic(path, text.as_bytes())?;
    Ok(())
}
