//! `generation calibrate`: how to sample a base model, and what its FD means.
//!
//! * **FD floor** (real against real): for every class, `n` real *test* images against the
//!   class's real train images (the reference set of the per-class scores below); for the held-out
//!   class, `n` real images against the other real images of the class, three random draws (a
//!   run's instance FD compares `n` samples with every real image of that class).
//! * **Euler steps**: each seen class's prompt sampled `n` times at every candidate step count (at
//!   the run's guidance), FD against the class's train images; the chosen count is the smallest
//!   whose mean FD over the seen classes is within 5 % of the lowest (where FD stops improving).
//! * **Guidance**: the same at the chosen steps for every candidate scale; the chosen scale has the
//!   lowest mean FD. The signal is the seen classes against their train images — never the
//!   held-out class, whose FD is the personalisation's test score.
//!
//! Writes `calibration.csv` (every setting and class), `fd_floor.csv`, `calibration.json` (the
//! choices and the chosen setting's per-class FD beside its floor) and `classes.png` (8 samples per
//! class prompt at the chosen setting) into the output folder.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Result};
use formats::atomic::{write_atomic, write_csv};
use formats::paths::{repo_root, resolve};
use serde::Serialize;
use serial_lora::rng::Draws;
use tch::{Device, Tensor};

use crate::data::Images;
use crate::eval::FeatureModel;
use crate::grid::write_grid;
use crate::metrics::{frechet_distance, kernel_inception_distance};
use crate::trained::{finished_spec, TrainedRun};

/// A step count is "where FD stops improving" when its mean FD is within this share of the best.
const STEPS_TOLERANCE: f64 = 0.05;
/// Random draws of the held-out class's floor.
const FLOOR_DRAWS: u64 = 3;
/// Samples per class shown in `classes.png`.
const SHOWN: i64 = 8;

/// The candidates and the sample count.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationRequest {
    /// Euler step counts.
    pub steps: Vec<usize>,
    /// Guidance scales.
    pub guidance: Vec<f64>,
    /// Samples (and real images of the floor) per class.
    pub per_class: usize,
}

/// One row of `calibration.csv`.
#[derive(Debug, Clone, Serialize)]
struct Row {
    stage: &'static str,
    steps: usize,
    guidance: f64,
    class: String,
    samples: usize,
    fd: f64,
    kid: f64,
    floor_fd: f64,
}

/// One row of `fd_floor.csv`.
#[derive(Debug, Clone, Serialize)]
struct FloorRow {
    class: String,
    draw: u64,
    samples: usize,
    reference: usize,
    fd: f64,
    kid: f64,
}

/// `calibration.json`.
#[derive(Debug, Clone, Serialize)]
struct Choice {
    steps: usize,
    guidance: f64,
    samples_per_class: usize,
    steps_rule: String,
    guidance_rule: String,
    mean_fd_by_steps: BTreeMap<String, f64>,
    mean_fd_by_guidance: BTreeMap<String, f64>,
    held_out_floor_fd: Vec<f64>,
    per_class: Vec<ClassScore>,
}

/// A seen class's FD at the chosen setting beside its floor.
#[derive(Debug, Clone, Serialize)]
struct ClassScore {
    class: String,
    fd: f64,
    floor_fd: f64,
    ratio: f64,
}

/// Calibrates the finished run in `run_dir` (normally a `pretrain` run) into `out`.
pub fn calibrate(
    run_dir: &Path,
    request: &CalibrationRequest,
    out: &Path,
    device: Device,
) -> Result<()> {
    if request.steps.is_empty() || request.guidance.is_empty() {
        bail!("--steps and --guidance need at least one value each");
    }
    if request.per_class < 2 {
        bail!("--per-class must be at least 2");
    }
    if out.join("calibration.json").exists() {
        bail!(
            "{} exists; choose another --out folder",
            out.join("calibration.json").display()
        );
    }
    let root = repo_root();
    let spec = finished_spec(run_dir)?;
    let images = Images::load(&spec.dataset, spec.resolution, &spec.held_out, &root)?;
    let held_out = images.label(&spec.held_out)?;
    let prompts: Vec<String> = images
        .classnames
        .iter()
        .map(|c| spec.prompt_of(c))
        .collect();
    let run = TrainedRun::open(run_dir, &prompts, device)?;
    let features = FeatureModel::open(
        &resolve(&spec.feature_model, &root),
        spec.sampling.feature_size,
        device,
    )?;
    let n = request.per_class;
    let seen: Vec<i64> = (0..images.classnames.len() as i64)
        .filter(|&c| c != held_out)
        .collect();

    eprintln!("calibrate: features of the real images");
    let mut reference = BTreeMap::new();
    let mut floor_rows = Vec::new();
    let mut floor = BTreeMap::new();
    for &c in &seen {
        let train = features.features(&images.train.of_class(c));
        let test = images.test.of_class(c);
        if test.size()[0] < n as i64 {
            bail!(
                "class `{}` has {} test images, fewer than --per-class {n}",
                images.classnames[c as usize],
                test.size()[0]
            );
        }
        let test = features.features(&test.narrow(0, 0, n as i64));
        let fd = frechet_distance(&test, &train)?;
        floor_rows.push(FloorRow {
            class: images.classnames[c as usize].clone(),
            draw: 0,
            samples: n,
            reference: train.size()[0] as usize,
            fd,
            kid: kernel_inception_distance(&test, &train)?,
        });
        floor.insert(c, fd);
        reference.insert(c, train);
    }
    let held_out_floor = held_out_floor(&images, held_out, n, &features, &mut floor_rows)?;

    let mut rows = Vec::new();
    let mut score = |stage: &'static str, steps: usize, guidance: f64| -> Result<f64> {
        eprintln!("calibrate: {stage}, {steps} steps, guidance {guidance}");
        let mut section = spec.sampling.clone();
        section.steps = steps;
        section.guidance = guidance;
        let mut total = 0.0;
        for &c in &seen {
            let samples = run.generate(&prompts[c as usize], n, section.seed, &section)?;
            let f = features.features(&samples);
            let fd = frechet_distance(&f, &reference[&c])?;
            rows.push(Row {
                stage,
                steps,
                guidance,
                class: images.classnames[c as usize].clone(),
                samples: n,
                fd,
                kid: kernel_inception_distance(&f, &reference[&c])?,
                floor_fd: floor[&c],
            });
            total += fd;
        }
        Ok(total / seen.len() as f64)
    };
    let mut by_steps = Vec::new();
    for &steps in &request.steps {
        by_steps.push((steps, score("steps", steps, spec.sampling.guidance)?));
    }
    let best = by_steps.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
    let chosen_steps = by_steps
        .iter()
        .filter(|s| s.1 <= best * (1.0 + STEPS_TOLERANCE))
        .map(|s| s.0)
        .min()
        .expect("at least one step count");
    let mut by_guidance = Vec::new();
    for &guidance in &request.guidance {
        let known = by_steps
            .iter()
            .find(|s| s.0 == chosen_steps && guidance == spec.sampling.guidance);
        let fd = match known {
            Some(&(_, fd)) => fd,
            None => score("guidance", chosen_steps, guidance)?,
        };
        by_guidance.push((guidance, fd));
    }
    let chosen_guidance = by_guidance
        .iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|g| g.0)
        .expect("at least one scale");

    std::fs::create_dir_all(out)?;
    write_csv(&out.join("calibration.csv"), &rows)?;
    write_csv(&out.join("fd_floor.csv"), &floor_rows)?;
    let chosen = |r: &&Row| r.steps == chosen_steps && r.guidance == chosen_guidance;
    let per_class = rows
        .iter()
        .filter(chosen)
        .map(|r| ClassScore {
            class: r.class.clone(),
            fd: r.fd,
            floor_fd: r.floor_fd,
            ratio: r.fd / r.floor_fd,
        })
        .collect();
    let mut section = spec.sampling.clone();
    section.steps = chosen_steps;
    section.guidance = chosen_guidance;
    let shown: Vec<Tensor> = seen
        .iter()
        .map(|&c| run.generate(&prompts[c as usize], SHOWN as usize, section.seed, &section))
        .collect::<Result<_>>()?;
    write_grid(
        &out.join("classes.png"),
        &Tensor::cat(&shown, 0),
        SHOWN as usize,
    )?;
    let choice = Choice {
        steps: chosen_steps,
        guidance: chosen_guidance,
        samples_per_class: n,
        steps_rule: format!(
            "fewest steps whose mean seen-class FD is within {:.0} % of the lowest",
            STEPS_TOLERANCE * 100.0
        ),
        guidance_rule: "lowest mean seen-class FD at the chosen steps".into(),
        mean_fd_by_steps: by_steps.iter().map(|s| (s.0.to_string(), s.1)).collect(),
        mean_fd_by_guidance: by_guidance.iter().map(|g| (g.0.to_string(), g.1)).collect(),
        held_out_floor_fd: held_out_floor,
        per_class,
    };
    write_atomic(
        &out.join("calibration.json"),
        serde_json::to_string_pretty(&choice)?.as_bytes(),
    )?;
    Ok(())
}

/// The held-out class's floor: `n` of its real images (train and test pooled) against the rest,
/// [`FLOOR_DRAWS`] random draws; the FDs.
fn held_out_floor(
    images: &Images,
    label: i64,
    n: usize,
    features: &FeatureModel,
    rows: &mut Vec<FloorRow>,
) -> Result<Vec<f64>> {
    let all = features.features(&Tensor::cat(
        &[images.train.of_class(label), images.test.of_class(label)],
        0,
    ));
    let total = all.size()[0];
    if total < n as i64 + 2 {
        bail!("the held-out class has {total} images, too few for --per-class {n}");
    }
    let mut fds = Vec::new();
    for draw in 1..=FLOOR_DRAWS {
        let keys = Draws::new(&format!("floor:{draw}")).uniform(total);
        let order = keys.argsort(0, false);
        let a = all.index_select(0, &order.narrow(0, 0, n as i64));
        let b = all.index_select(0, &order.narrow(0, n as i64, total - n as i64));
        let fd = frechet_distance(&a, &b)?;
        rows.push(FloorRow {
            class: images.classnames[label as usize].clone(),
            draw,
            samples: n,
            reference: (total - n as i64) as usize,
            fd,
            kid: kernel_inception_distance(&a, &b)?,
        });
        fds.push(fd);
    }
    Ok(fds)
}
