//! `analysis params`: writes `results/params.csv` (model, component, method, rank, blocks, width,
//! trainable_params, paper_figure1); `blocks` and `width` of a multi-tower component are joined with
//! `+`; `paper_figure1` labels the rows that are the paper's Figure 1 pairs by task row.

use std::path::PathBuf;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::params::count::{figure1_label, presets, trainable_params, Component, Placement, RANKS};
use crate::params::model_config::components_from_config;
use formats::atomic::write_atomic;

/// What `analysis params` was asked for.
#[derive(Debug, Clone)]
pub struct ParamsOptions {
    /// Model folders holding a `config.json`; empty: the embedded presets.
    pub configs: Vec<PathBuf>,
    /// The results folder (`params.csv` is written to it).
    pub results: PathBuf,
}

#[derive(Serialize)]
struct Row<'a> {
    model: &'a str,
    component: &'a str,
    method: &'a str,
    rank: usize,
    blocks: String,
    width: String,
    trainable_params: u64,
    paper_figure1: &'static str,
}

/// Runs `analysis params`; returns the file written.
pub fn params(opts: &ParamsOptions) -> Result<PathBuf> {
    let components = if opts.configs.is_empty() {
        presets()
    } else {
        let per_dir = opts
            .configs
            .iter()
            .map(|d| components_from_config(d))
            .collect::<Result<Vec<_>>>()?;
        per_dir.into_iter().flatten().collect()
    };
    let path = opts.results.join("params.csv");
    let mut out = csv::Writer::from_writer(Vec::new());
    for c in &components {
        for placement in Placement::ALL {
            for rank in RANKS {
                out.serialize(Row {
                    model: &c.model,
                    component: &c.component,
                    method: placement.name(),
                    rank,
                    blocks: join(c, |t| t.blocks),
                    width: join(c, |t| t.width),
                    trainable_params: trainable_params(c, placement, rank),
                    paper_figure1: figure1_label(&c.model, placement, rank),
                })
                .map_err(|e| Error::csv(&path, e.to_string()))?;
            }
        }
    }
    let bytes = out
        .into_inner()
        .map_err(|e| Error::csv(&path, e.to_string()))?;
    write_atomic(&path, &bytes)?;
    Ok(path)
}

fn join(c: &Component, f: impl Fn(&crate::params::count::Tower) -> u64) -> String {
    c.towers
        .iter()
        .map(|t| f(t).to_string())
        .collect::<Vec<_>>()
        .join("+")
}
