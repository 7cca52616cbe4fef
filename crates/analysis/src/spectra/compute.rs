//! The spectra of one backbone: every q/k/v/o site that any run adapts, for the pre-trained weight and
//! for each run's merged weight and update.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::adapter::{Adapter, AdapterKind, ADAPTER_CONFIG};
use formats::run::CONFIG_FILE;
use formats::Method;

use crate::error::{Error, Result};
use crate::run::Run;
use crate::site::Site;
use crate::spectrum::singular_values;
use crate::tensors::TensorFile;
use crate::update::site_updates;

/// File names of the base weights inside a run's `model_dir`, the first present is read:
/// transformers' `model.safetensors`, diffusers' `diffusion_pytorch_model.safetensors` (an MMDiT).
pub const BASE_WEIGHTS: [&str; 2] = ["model.safetensors", "diffusion_pytorch_model.safetensors"];

/// Whose weight a spectrum is of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    /// The method (`None`: the pre-trained model).
    pub method: Option<Method>,
    /// The run's rank (`None` for the pre-trained model).
    pub rank: Option<usize>,
    /// The run folder's name (empty for the pre-trained model).
    pub run: String,
}

impl Series {
    /// The legend label: `Pre-trained`, or the method and rank, e.g. `Serial LoRA (r=4)`.
    pub fn label(&self) -> String {
        match (self.method, self.rank) {
            (Some(m), Some(r)) => format!("{} (r={r})", m.label()),
            (Some(m), None) => m.label().to_string(),
            (None, _) => "Pre-trained".to_string(),
        }
    }
}

/// Which matrix of a site a spectrum is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matrix {
    /// The weight itself: pre-trained `W`, or a run's merged weight.
    Weight,
    /// A run's update `ΔW = W_merged − W`.
    Delta,
}

impl Matrix {
    /// `weight` or `delta`, as written in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Matrix::Weight => "weight",
            Matrix::Delta => "delta",
        }
    }
}

/// The singular values (largest first) of one matrix of one site.
#[derive(Debug, Clone)]
pub struct Spectrum {
    /// Whose weight.
    pub series: Series,
    /// Which matrix.
    pub matrix: Matrix,
    /// Which site.
    pub site: Site,
    /// The singular values.
    pub sigma: Vec<f64>,
}

/// Spectra of every site any of `runs` (all on one backbone and one `model_dir`) adapts: the
/// pre-trained weight, each run's merged weight (the pre-trained one where the run leaves the site
/// alone), and each run's update where it changes the site.
pub fn backbone_spectra(runs: &[Run]) -> Result<Vec<Spectrum>> {
    let first = runs
        .first()
        .ok_or_else(|| Error::Usage("no runs to analyse".into()))?;
    if let Some(other) = runs.iter().find(|r| r.model_dir != first.model_dir) {
        return Err(Error::Usage(format!(
            "runs {} and {} of backbone `{}` use different model_dir ({} vs {}); analyse them separately with --runs",
            first.dir.display(),
            other.dir.display(),
            first.backbone,
            first.model_dir.display(),
            other.model_dir.display()
        )));
    }
    let base = TensorFile::open(&base_weights(first)?)?;
    let adapters = runs
        .iter()
        .map(|r| Adapter::read(&r.dir))
        .collect::<Result<Vec<_>>>()?;
    for (run, adapter) in runs.iter().zip(&adapters) {
        check_consistent(run, adapter)?;
    }
    let updates = adapters
        .iter()
        .map(|a| site_updates(&base, a))
        .collect::<Result<Vec<_>>>()?;
    let sites: BTreeSet<&Site> = updates.iter().flat_map(|u| u.keys()).collect();
    if sites.is_empty() {
        return Err(Error::Usage(format!(
            "no run of backbone `{}` adapts a q, k, v or o projection",
            first.backbone
        )));
    }
    let mut spectra = Vec::new();
    for site in sites {
        let source = updates
            .iter()
            .find_map(|u| u.get(site))
            .map(|u| &u.source)
            .expect("site comes from an update");
        let w = source.load(&base)?;
        let what = |label: &str, m: Matrix| {
            format!(
                "{label} {} of {} block {} {}",
                m.name(),
                site.tower,
                site.block,
                site.proj
            )
        };
        let pretrained = Series {
            method: None,
            rank: None,
            run: String::new(),
        };
        let w_sigma = singular_values(&w, &what("pre-trained", Matrix::Weight))?;
        spectra.push(Spectrum {
            series: pretrained,
            matrix: Matrix::Weight,
            site: site.clone(),
            sigma: w_sigma.clone(),
        });
        for ((run, adapter), update) in runs.iter().zip(&adapters).zip(&updates) {
            let series = Series {
                method: Some(run.method),
                rank: Some(run.rank),
                run: run.name(),
            };
            let Some(update) = update.get(site) else {
                spectra.push(Spectrum {
                    series,
                    matrix: Matrix::Weight,
                    site: site.clone(),
                    sigma: w_sigma.clone(),
                });
                continue;
            };
            let label = series.label();
            let merged = update.apply(&w, adapter)?;
            let sigma = singular_values(&merged, &what(&label, Matrix::Weight))?;
            spectra.push(Spectrum {
                series: series.clone(),
                matrix: Matrix::Weight,
                site: site.clone(),
                sigma,
            });
            let sigma = singular_values(&(merged - &w), &what(&label, Matrix::Delta))?;
            spectra.push(Spectrum {
                series,
                matrix: Matrix::Delta,
                site: site.clone(),
                sigma,
            });
        }
    }
    Ok(spectra)
}

/// The base weights file of `run`'s `model_dir` (the first of [`BASE_WEIGHTS`] present).
fn base_weights(run: &Run) -> Result<PathBuf> {
    BASE_WEIGHTS
        .iter()
        .map(|name| run.model_dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| Error::MissingModel {
            path: run.model_dir.clone(),
            run: run.dir.clone(),
        })
}

/// The run's `method`/`rank` must agree with its adapter's `peft_type`/`r`.
fn check_consistent(run: &Run, adapter: &Adapter) -> Result<()> {
    let config = run.dir.join(ADAPTER_CONFIG);
    if run.method.is_serial() != (adapter.config.kind == AdapterKind::SerialLora) {
        return Err(field_mismatch(
            &config,
            "peft_type",
            format!("{:?}", adapter.config.kind),
            run,
            "method",
            run.method.name(),
        ));
    }
    if run.rank != adapter.config.rank {
        return Err(field_mismatch(
            &config,
            "r",
            adapter.config.rank.to_string(),
            run,
            "rank",
            &run.rank.to_string(),
        ));
    }
    Ok(())
}

fn field_mismatch(
    path: &Path,
    field: &str,
    got: String,
    run: &Run,
    run_field: &str,
    run_value: &str,
) -> Error {
    Error::field(
        path,
        field,
        format!(
            "is {got}, which does not match `{run_field}` = {run_value} in {}",
            run.dir.join(CONFIG_FILE).display()
        ),
    )
}
