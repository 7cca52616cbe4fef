//! `analysis noise`: the numerical noise between kernel levels, measured. The same grid run under
//! several numerics settings on one machine (e.g. `--numerics native`, `avx2`, `portable`) gives,
//! per cell and seed, values that differ only by rounding; their spread bounds what another
//! machine's rounding may change.
//!
//! Writes beside the reference summary:
//! * `numerics_noise.csv`: `stage, backbone, dataset, cell, seed, setting, value`, every measured
//!   value (`stage`: `test`, the grid's metric, or `selection`, each candidate's validation score);
//! * `numerics_band.csv`: `band = max(FACTOR × max_spread, floor)`, [`NOISE_FACTOR`] being 2:
//!   - the grid's cells (`stage` test, `cell` `*`): one band per backbone and data set, with
//!     `max_spread` the largest (max − min over settings) of any cell and seed of the backbone,
//!     since every final run is exposed to the same rounding;
//!   - the selection (`stage` selection): one band per candidate, with its own spread, since
//!     candidates that barely train (too large a learning rate) amplify rounding many-fold and
//!     would make a pooled band meaningless for the well-trained ones;
//!   - `floor`: the resolution of the measure, the larger of one unit in the last digit the table
//!     stores and, for accuracies, one evaluated example (1/N, N the fewest examples that make
//!     every measured accuracy of the data set a whole count).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use formats::run::SUMMARY_TABLE;
use formats::selection::{Candidate, Table, LR_SELECTION_FILE};

use crate::compare::table::SummaryTable;
use crate::compare::task::Task;
use crate::error::{Error, Result};
use crate::report::write::write_csv;

/// The measured bands, beside the reference summary.
pub const BAND_FILE: &str = "numerics_band.csv";
/// Every measured value, beside the reference summary.
pub const NOISE_FILE: &str = "numerics_noise.csv";
/// The band is this many times the largest spread measured between settings.
pub const NOISE_FACTOR: f64 = 2.0;
/// The most evaluated examples the accuracy floor considers.
const MAX_EXAMPLES: usize = 100_000;

/// What a band covers: the grid's test metric, or the selection's validation scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// The grid's metric (`summary.csv`).
    Test,
    /// The learning-rate selection's validation scores (`lr_selection.csv`).
    Selection,
}

impl Stage {
    /// The name in the CSV files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::Selection => "selection",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Stage {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "test" => Ok(Self::Test),
            "selection" => Ok(Self::Selection),
            other => Err(format!("stage `{other}` is neither test nor selection")),
        }
    }
}

/// The `cell` of a band that covers every cell of a backbone's data set (the test stage).
pub const ALL_CELLS: &str = "*";

/// A band's key: backbone, data set, stage and cell ([`ALL_CELLS`] at the test stage, the
/// candidate's [`candidate_cell`] at the selection stage).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BandKey {
    /// The backbone (a summary's first key column).
    pub backbone: String,
    /// The data set.
    pub dataset: String,
    /// The stage.
    pub stage: Stage,
    /// The cell.
    pub cell: String,
}

impl BandKey {
    /// The key of `backbone`'s `dataset` at `stage`, for `cell`.
    pub fn new(backbone: &str, dataset: &str, stage: Stage, cell: &str) -> Self {
        Self {
            backbone: backbone.to_string(),
            dataset: dataset.to_string(),
            stage,
            cell: cell.to_string(),
        }
    }
}

/// A selection candidate's cell: `method=… rank=… lr=… plus_ratio=…`.
pub fn candidate_cell(c: &Candidate) -> String {
    format!(
        "method={} rank={} lr={} plus_ratio={}",
        c.method, c.rank, c.lr, c.plus_ratio
    )
}

/// What `analysis noise` was asked for.
#[derive(Debug, Clone)]
pub struct NoiseOptions {
    /// The task.
    pub task: Task,
    /// Each setting's name and its results folder (holding `<task>/summary.csv` and, with a
    /// selection, `<task>/lr_selection.csv`); the first is the one the others are measured against
    /// in the tables' order only, every pair counts.
    pub settings: Vec<(String, PathBuf)>,
    /// Where the two files go (the reference's task folder).
    pub out: PathBuf,
    /// The machine the settings ran on, in words (kept in the band file).
    pub measured_on: String,
}

/// One measured value's place: stage, backbone, data set, cell (the other key columns), seed.
pub type Place = (Stage, String, String, String, u64);

/// Runs `analysis noise`; returns the two files written.
pub fn noise(opts: &NoiseOptions) -> Result<Vec<PathBuf>> {
    if opts.settings.len() < 2 {
        return Err(Error::Usage(
            "analysis noise needs at least two --setting NAME=RESULTS_DIR".into(),
        ));
    }
    let mut values: BTreeMap<Place, BTreeMap<String, f64>> = BTreeMap::new();
    let mut units: BTreeMap<Stage, f64> = BTreeMap::new();
    for (name, dir) in &opts.settings {
        let (measured, stage_units) = measured(opts.task, &dir.join(opts.task.name()))?;
        for (place, value) in measured {
            values.entry(place).or_default().insert(name.clone(), value);
        }
        for (stage, unit) in stage_units {
            let entry = units.entry(stage).or_insert(unit);
            *entry = entry.max(unit);
        }
    }
    let noise_csv = opts.out.join(NOISE_FILE);
    let band_csv = opts.out.join(BAND_FILE);
    write_values(&noise_csv, &values)?;
    let bands = bands(opts.task, &values, opts.settings.len(), &units);
    write_bands(&band_csv, &bands, opts.settings.len(), &opts.measured_on)?;
    Ok(vec![noise_csv, band_csv])
}

/// What one setting's task folder holds: each value with its place, and each stage's unit.
type Measured = (Vec<(Place, f64)>, Vec<(Stage, f64)>);

/// Every value of one setting's task folder (the summary's metric per cell and seed, and every
/// finite selection score), and the unit of the last digit each stage's table stores.
fn measured(task: Task, task_dir: &Path) -> Result<Measured> {
    let summary_path = task_dir.join(SUMMARY_TABLE);
    let summary = SummaryTable::read(
        &summary_path,
        "the setting's",
        "run the grid under that setting first",
    )?;
    let keys: Vec<&str> = task
        .key_columns()
        .iter()
        .copied()
        .filter(|c| summary.has(c))
        .collect();
    let mut out = Vec::new();
    for (key, seeds) in summary.cells(&keys, task.metric())? {
        let cell = keys[2..]
            .iter()
            .zip(&key[2..])
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        for (seed, value) in seeds {
            out.push((
                (
                    Stage::Test,
                    key[0].clone(),
                    key[1].clone(),
                    cell.clone(),
                    seed,
                ),
                value,
            ));
        }
    }
    let mut units = vec![(Stage::Test, last_digit(&summary_path, task.metric())?)];
    let selection = task_dir.join(LR_SELECTION_FILE);
    if selection.is_file() {
        let table = Table::read(&selection)?;
        units.push((
            Stage::Selection,
            last_digit(&selection, &table.score_column)?,
        ));
        for (c, _) in table.rows {
            if c.score.is_finite() {
                let cell = candidate_cell(&c);
                out.push((
                    (Stage::Selection, c.backbone, c.dataset, cell, c.seed),
                    c.score,
                ));
            }
        }
    }
    Ok((out, units))
}

/// One unit in the last digit the CSV at `path` stores in `column` (`0.2565` → 0.0001): the
/// smallest difference the table can show.
fn last_digit(path: &Path, column: &str) -> Result<f64> {
    let csv_error = |e: csv::Error| Error::csv(path, e.to_string());
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let index = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .position(|h| h.trim() == column)
        .ok_or_else(|| Error::csv(path, format!("has no `{column}` column")))?;
    let mut decimals = 0;
    for row in reader.records() {
        let row = row.map_err(csv_error)?;
        let text = row.get(index).unwrap_or("").trim();
        if let Some((_, fraction)) = text.split_once('.') {
            decimals = decimals.max(fraction.len());
        }
    }
    Ok(10f64.powi(-(decimals as i32)))
}

/// A band with how it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// The metric or score it is in.
    pub metric: String,
    /// Cells (with seeds) measured under every setting: over the backbone's data sets (test),
    /// the candidate's seeds (selection).
    pub cells: usize,
    /// The largest spread (max − min over settings) among them.
    pub max_spread: f64,
    /// The measure's resolution: one stored unit, or one evaluated example for accuracies.
    pub floor: f64,
    /// `max(NOISE_FACTOR × max_spread, floor)`.
    pub band: f64,
}

/// The bands from values measured under `settings` settings (places not measured under all of
/// them are left out); `units` is each stage's stored resolution.
pub fn bands(
    task: Task,
    values: &BTreeMap<Place, BTreeMap<String, f64>>,
    settings: usize,
    units: &BTreeMap<Stage, f64>,
) -> BTreeMap<BandKey, Band> {
    let spread = |by_setting: &BTreeMap<String, f64>| {
        let (lo, hi) = by_setting
            .values()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        hi - lo
    };
    let complete: Vec<(&Place, &BTreeMap<String, f64>)> =
        values.iter().filter(|(_, v)| v.len() == settings).collect();
    // Per backbone at the test stage, per candidate at the selection stage: cells and spread.
    let mut pooled: BTreeMap<BandKey, (usize, f64)> = BTreeMap::new();
    // Per backbone, data set and stage: every measured value (for the accuracy floor).
    let mut per_dataset: BTreeMap<(String, String, Stage), Vec<f64>> = BTreeMap::new();
    for ((stage, backbone, dataset, cell, _), by_setting) in &complete {
        let cell = match stage {
            Stage::Test => ALL_CELLS,
            Stage::Selection => cell.as_str(),
        };
        let entry = pooled
            .entry(BandKey::new(backbone, dataset, *stage, cell))
            .or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(spread(by_setting));
        per_dataset
            .entry((backbone.clone(), dataset.clone(), *stage))
            .or_default()
            .extend(by_setting.values());
    }
    // The test stage's spread is the backbone's, over its data sets.
    let mut backbone_spread: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for (key, (cells, spread)) in pooled.iter().filter(|(k, _)| k.stage == Stage::Test) {
        let entry = backbone_spread.entry(key.backbone.as_str()).or_default();
        entry.0 += cells;
        entry.1 = entry.1.max(*spread);
    }
    pooled
        .iter()
        .map(|(key, &(cells, spread))| {
            let metric = match key.stage {
                Stage::Test => task.metric().to_string(),
                Stage::Selection => format!("validation_{}", task.selection_score().0),
            };
            let (cells, max_spread) = match key.stage {
                Stage::Test => backbone_spread[key.backbone.as_str()],
                Stage::Selection => (cells, spread),
            };
            let measured = &per_dataset[&(key.backbone.clone(), key.dataset.clone(), key.stage)];
            let example = if metric.ends_with("accuracy") {
                examples(measured).map_or(0.0, |n| 1.0 / n as f64)
            } else {
                0.0
            };
            let floor = example.max(units.get(&key.stage).copied().unwrap_or(0.0));
            let band = Band {
                metric,
                cells,
                max_spread,
                floor,
                band: (NOISE_FACTOR * max_spread).max(floor),
            };
            (key.clone(), band)
        })
        .collect()
}

/// The fewest evaluated examples N that make every accuracy in `values` a whole count (k/N, to
/// the 6 decimals a summary keeps); `None` when no N up to 100,000 does.
pub fn examples(values: &[f64]) -> Option<usize> {
    (1..=MAX_EXAMPLES).find(|&n| {
        values.iter().all(|v| {
            let count = v * n as f64;
            (count - count.round()).abs() <= 5.000_001e-7 * n as f64
        })
    })
}

fn write_values(path: &Path, values: &BTreeMap<Place, BTreeMap<String, f64>>) -> Result<()> {
    let header = [
        "stage", "backbone", "dataset", "cell", "seed", "setting", "value",
    ];
    let lines = values
        .iter()
        .flat_map(|((stage, backbone, dataset, cell, seed), by_setting)| {
            by_setting.iter().map(move |(setting, value)| {
                vec![
                    stage.name().to_string(),
                    backbone.clone(),
                    dataset.clone(),
                    cell.clone(),
                    seed.to_string(),
                    setting.clone(),
                    value.to_string(),
                ]
            })
        });
    write_csv(path, &header.map(String::from), lines)
}

fn write_bands(
    path: &Path,
    bands: &BTreeMap<BandKey, Band>,
    settings: usize,
    measured_on: &str,
) -> Result<()> {
    let header = [
        "backbone",
        "dataset",
        "stage",
        "cell",
        "metric",
        "cells",
        "settings",
        "max_spread",
        "factor",
        "floor",
        "band",
        "measured_on",
    ];
    let lines = bands.iter().map(|(key, band)| {
        vec![
            key.backbone.clone(),
            key.dataset.clone(),
            key.stage.name().to_string(),
            key.cell.clone(),
            band.metric.clone(),
            band.cells.to_string(),
            settings.to_string(),
            band.max_spread.to_string(),
            NOISE_FACTOR.to_string(),
            band.floor.to_string(),
            band.band.to_string(),
            measured_on.to_string(),
        ]
    });
    write_csv(path, &header.map(String::from), lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_one_example_of_the_fewest_that_fit() {
        // 175/196, 168/196, 146/196 (digits' QUICK test set), six decimals as summaries keep.
        assert_eq!(examples(&[0.892857, 0.857143, 0.744898]), Some(196));
        assert_eq!(examples(&[0.875, 0.75, 0.1]), Some(40));
        assert_eq!(examples(&[0.5]), Some(2));
    }

    #[test]
    fn bands_are_twice_the_largest_spread_floored_at_the_resolution() {
        let mut values: BTreeMap<Place, BTreeMap<String, f64>> = BTreeMap::new();
        let mut put = |stage, dataset: &str, cell: &str, pairs: &[(&str, f64)]| {
            values.insert(
                (stage, "vit".into(), dataset.into(), cell.into(), 1),
                pairs.iter().map(|(s, v)| (s.to_string(), *v)).collect(),
            );
        };
        // 0.5 and 0.75 on 4 examples: spread 0 on one data set, one example (0.25) on the other.
        put(Stage::Test, "a", "m=lora", &[("x", 0.5), ("y", 0.5)]);
        put(Stage::Test, "b", "m=lora", &[("x", 0.75), ("y", 0.5)]);
        // Measured under one setting only: left out.
        put(Stage::Test, "b", "m=serial", &[("x", 0.0)]);
        // Two selection candidates on 8 examples: each its own spread.
        put(Stage::Selection, "a", "lr=0.1", &[("x", 0.5), ("y", 0.125)]);
        put(
            Stage::Selection,
            "a",
            "lr=0.01",
            &[("x", 0.875), ("y", 0.875)],
        );
        let units = BTreeMap::from([(Stage::Test, 1e-6), (Stage::Selection, 1e-6)]);
        let bands = bands(Task::Classification, &values, 2, &units);
        let key = |d, s, c| BandKey::new("vit", d, s, c);
        let a = &bands[&key("a", Stage::Test, ALL_CELLS)];
        // The test spread is pooled over the backbone's data sets; the floor is the data set's.
        assert_eq!(
            (a.cells, a.max_spread, a.floor, a.band),
            (2, 0.25, 0.5, 0.5)
        );
        let b = &bands[&key("b", Stage::Test, ALL_CELLS)];
        assert_eq!((b.floor, b.band), (0.25, 0.5));
        // Selection: per candidate, floored at one of the data set's 8 validation examples.
        let unstable = &bands[&key("a", Stage::Selection, "lr=0.1")];
        assert_eq!((unstable.max_spread, unstable.band), (0.375, 0.75));
        let stable = &bands[&key("a", Stage::Selection, "lr=0.01")];
        assert_eq!(
            (stable.max_spread, stable.floor, stable.band),
            (0.0, 0.125, 0.125)
        );
        // Dice has no example floor: the stored unit is the floor.
        let units = BTreeMap::from([(Stage::Test, 1e-4)]);
        let dice = super::bands(Task::Segmentation, &values, 2, &units);
        let a = &dice[&key("a", Stage::Test, ALL_CELLS)];
        assert_eq!((a.floor, a.band), (1e-4, 0.5));
    }
}
