//! `generation sample`: images of any prompt from a finished run (its adapter on its base, a
//! `pretrain` run's model, or the base alone for `zero_shot`), with the run's own sampling
//! settings unless steps or guidance are given: `sample_<seed>.png` per image and `grid.png` in
//! the output folder. Files already there are never overwritten.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tch::{Device, Tensor};

use crate::grid::write_grid;
use crate::trained::TrainedRun;

/// Images per row of `grid.png`.
const GRID_COLUMNS: usize = 8;

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRequest {
    /// The prompt.
    pub prompt: String,
    /// Number of images.
    pub n: usize,
    /// Image `i` starts from the noise of seed `seed + i`.
    pub seed: u64,
    /// Euler steps (the run's when absent).
    pub steps: Option<usize>,
    /// Guidance scale (the run's when absent).
    pub guidance: Option<f64>,
}

/// Draws `request` from the run in `run_dir` on `device` into `out` (created when missing);
/// returns the files written, the grid last.
pub fn sample(
    run_dir: &Path,
    request: &SampleRequest,
    out: &Path,
    device: Device,
) -> Result<Vec<PathBuf>> {
    if request.n == 0 {
        bail!("--n must be at least 1");
    }
    if request.steps == Some(0) {
        bail!("--steps must be at least 1");
    }
    if request
        .guidance
        .is_some_and(|g| !(g >= 0.0 && g.is_finite()))
    {
        bail!("--guidance must be a finite number ≥ 0");
    }
    let mut files: Vec<PathBuf> = (0..request.n)
        .map(|i| out.join(format!("sample_{}.png", request.seed + i as u64)))
        .collect();
    files.push(out.join("grid.png"));
    if let Some(taken) = files.iter().find(|f| f.exists()) {
        bail!(
            "{} exists; choose another --out folder or --seed",
            taken.display()
        );
    }
    let run = TrainedRun::open(run_dir, std::slice::from_ref(&request.prompt), device)?;
    let mut section = run.spec.sampling.clone();
    section.steps = request.steps.unwrap_or(section.steps);
    section.guidance = request.guidance.unwrap_or(section.guidance);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let bar = ProgressBar::new(request.n as u64).with_style(
        ProgressStyle::with_template("sampling [{bar:30}] {pos}/{len} images, eta {eta}")
            .expect("valid template"),
    );
    let mut images = Vec::new();
    for start in (0..request.n).step_by(section.batch) {
        let rows = section.batch.min(request.n - start);
        let seed = request.seed + start as u64;
        images.push(run.generate(&request.prompt, rows, seed, &section)?);
        bar.inc(rows as u64);
    }
    bar.finish_and_clear();
    let images = Tensor::cat(&images, 0);
    for (i, file) in files.iter().take(request.n).enumerate() {
        write_grid(file, &images.narrow(0, i as i64, 1), 1)?;
    }
    write_grid(&files[request.n], &images, GRID_COLUMNS)?;
    Ok(files)
}
