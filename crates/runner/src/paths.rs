//! Where the workspace is, for paths relative to it (`.cache/`, `results/`, `experiments/`).

use std::path::PathBuf;

/// The workspace root this binary was built in (`SERIAL_LORA_ROOT` overrides it).
pub fn workspace_root() -> PathBuf {
    std::env::var_os("SERIAL_LORA_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")))
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}
