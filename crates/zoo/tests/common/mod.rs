//! Helpers shared by the zoo's integration tests: fixture paths, reading tensors, relative errors.
#![allow(dead_code)]

use std::path::PathBuf;

use serial_lora::checkpoint::read_tensors;
use zoo::Tensors;

/// The fp32 parity tolerance: largest absolute difference over the largest reference magnitude.
pub const TOLERANCE: f64 = 1e-5;

/// `crates/zoo/tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The workspace root (for `.cache/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A cached asset that `make setup` produces; the test fails with the command to run when it is absent.
pub fn cached(relative: &str, made_by: &str) -> PathBuf {
    let path = workspace_root().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `make setup` (it runs {made_by})",
        path.display()
    );
    path
}

/// Every tensor of a safetensors file.
pub fn tensors(path: &std::path::Path) -> Tensors {
    read_tensors(path).unwrap_or_else(|e| panic!("{e}"))
}

/// Largest absolute difference relative to the largest magnitude of `reference`.
pub fn rel_diff(a: &tch::Tensor, reference: &tch::Tensor) -> f64 {
    assert_eq!(a.size(), reference.size(), "shapes differ");
    (a - reference).abs().max().double_value(&[]) / reference.abs().max().double_value(&[])
}

/// Compares every reference output with ours (same names, no extra outputs); returns the worst error.
pub fn assert_matches(what: &str, ours: &Tensors, reference: &Tensors, tolerance: f64) -> f64 {
    let names = |t: &Tensors| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(ours), names(reference), "{what}: output names differ");
    let mut worst = 0f64;
    for (name, want) in reference {
        let rel = rel_diff(&ours[name], want);
        assert!(
            rel <= tolerance,
            "{what}: `{name}` differs by {rel:e} relative (tolerance {tolerance:e})"
        );
        worst = worst.max(rel);
    }
    eprintln!("{what}: worst relative error {worst:.2e}");
    worst
}
