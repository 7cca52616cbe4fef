//! `--precision auto` for a grid: the start-up probe ([`serial_lora::precision_probe`]) runs once
//! per results folder, device and thread count, and its pick is kept in
//! `<results>/precision_probe.json`, so every shard, array task and later `--list` of the same grid
//! trains in the same precision (a second probe could land on the other side of the threshold).
//! The runs' `config.json` then records the precision actually used.

use std::path::Path;

use anyhow::{Context, Result};
use formats::atomic::write_atomic;
use formats::{Precision, PrecisionChoice};
use serial_lora::precision_probe::{probe, Probe};
use tch::Device;

/// The probe's record in the results folder.
pub const PROBE_FILE: &str = "precision_probe.json";

/// The precision `choice` means for runs into `results` on `device` (`None`: the experiment
/// file's).
pub fn resolve(
    choice: Option<PrecisionChoice>,
    results: &Path,
    device: Device,
) -> Result<Option<Precision>> {
    match choice {
        None => Ok(None),
        Some(PrecisionChoice::Fixed(p)) => Ok(Some(p)),
        Some(PrecisionChoice::Auto) => Ok(Some(shared_probe(results, device)?.chosen)),
    }
}

/// The probe recorded in `results` for this device and thread count, else a new one, published so
/// that the first process to finish its probe decides for all.
fn shared_probe(results: &Path, device: Device) -> Result<Probe> {
    let path = results.join(PROBE_FILE);
    let fits = |p: &Probe| p.device == format!("{device:?}") && p.threads == tch::get_num_threads();
    if let Some(p) = read(&path)?.filter(fits) {
        return Ok(p);
    }
    let fresh = probe(device);
    std::fs::create_dir_all(results).with_context(|| format!("creating {}", results.display()))?;
    let text = serde_json::to_string_pretty(&fresh)?;
    let tmp = results.join(format!(".{PROBE_FILE}.{}", std::process::id()));
    std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
    let published = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    let chosen = match published {
        Ok(()) => fresh,
        // Another process published first: its probe decides (unless it was for other settings).
        Err(_) => match read(&path)?.filter(fits) {
            Some(theirs) => theirs,
            None => {
                write_atomic(&path, text.as_bytes())?;
                fresh
            }
        },
    };
    eprintln!(
        "precision auto: {} (probe on {}, {} thread(s): fp32 {:.2} ms, bf16 {}; {})",
        chosen.chosen,
        chosen.device,
        chosen.threads,
        chosen.fp32_ms,
        chosen
            .bf16_ms
            .map_or("unavailable".to_string(), |b| format!("{b:.2} ms")),
        path.display()
    );
    Ok(chosen)
}

/// The probe recorded at `path`, if any; a malformed record is an error naming the file.
fn read(path: &Path) -> Result<Option<Probe>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).with_context(|| {
            format!(
                "{}: not a precision probe record (delete it)",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}
