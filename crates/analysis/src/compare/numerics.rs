//! Which machine made each side of a comparison, and how far two machines may differ.
//!
//! * A side's numerics: per backbone, the one signature its runs recorded in `numerics.json`
//!   ([`formats::Numerics`]) in the run folders beside its `summary.csv`; none when a run lacks
//!   the file, recorded it incompletely, or the runs disagree.
//! * The band: `numerics_band.csv` beside the reference summary (written by `analysis noise`),
//!   the measured numerical noise per backbone and data set (the grid), per candidate (the
//!   selection).

use std::collections::BTreeMap;
use std::path::Path;

use formats::run::{run_dirs, RunHeader};
use formats::Numerics;

use crate::compare::noise::{BandKey, Stage, ALL_CELLS, BAND_FILE};
use crate::error::{Error, Result};

/// The numerics each backbone's runs computed under, on one side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SideNumerics {
    by_backbone: BTreeMap<String, Option<Numerics>>,
}

impl SideNumerics {
    /// Reads the `numerics.json` of every run folder in `task_dir` (the folder of a side's
    /// `summary.csv`). A backbone has a signature only when every one of its runs recorded the
    /// same complete one.
    pub fn read(task_dir: &Path) -> Result<Self> {
        let mut by_backbone: BTreeMap<String, Option<Numerics>> = BTreeMap::new();
        let (parent, name) = match (task_dir.parent(), task_dir.file_name()) {
            (Some(p), Some(n)) => (p, n.to_string_lossy().into_owned()),
            _ => return Ok(Self::default()),
        };
        for dir in run_dirs(parent, &name)? {
            let header = RunHeader::read(&dir)?;
            let numerics = Numerics::read(&dir)?.filter(Numerics::complete);
            let entry = by_backbone
                .entry(header.backbone)
                .or_insert_with(|| numerics.clone());
            let agrees = match (entry.as_ref(), numerics.as_ref()) {
                (Some(a), Some(b)) => a.signature() == b.signature(),
                _ => false,
            };
            if !agrees {
                *entry = None;
            }
        }
        Ok(Self { by_backbone })
    }

    /// The backbone's numerics, when its runs recorded one complete signature.
    pub fn of(&self, backbone: &str) -> Option<&Numerics> {
        self.by_backbone.get(backbone)?.as_ref()
    }
}

/// Whether both sides of a backbone computed under the same, fully recorded signature (then the
/// same seed must give the same bits).
pub fn same_numerics(ours: Option<&Numerics>, reference: Option<&Numerics>) -> bool {
    matches!((ours, reference), (Some(o), Some(r)) if o.signature() == r.signature())
}

/// The measured bands: (backbone, data set, stage) → the largest difference that is numerical
/// noise between two machines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bands(BTreeMap<BandKey, f64>);

impl Bands {
    /// Reads `<reference task folder>/numerics_band.csv`; empty when the reference has none.
    pub fn read(reference_dir: &Path) -> Result<Self> {
        let path = reference_dir.join(BAND_FILE);
        if !path.is_file() {
            return Ok(Self::default());
        }
        let csv_error = |e: csv::Error| Error::csv(&path, e.to_string());
        let mut reader = csv::Reader::from_path(&path).map_err(csv_error)?;
        let header = reader.headers().map_err(csv_error)?.clone();
        let index = |column: &str| {
            header
                .iter()
                .position(|h| h == column)
                .ok_or_else(|| Error::csv(&path, format!("has no `{column}` column")))
        };
        let (backbone, dataset, stage, cell, band) = (
            index("backbone")?,
            index("dataset")?,
            index("stage")?,
            index("cell")?,
            index("band")?,
        );
        let mut bands = BTreeMap::new();
        for row in reader.records() {
            let row = row.map_err(csv_error)?;
            let line = row.position().map_or(0, |p| p.line());
            let at = |i: usize| row.get(i).unwrap_or("").trim();
            let stage: Stage = at(stage)
                .parse()
                .map_err(|e| Error::csv(&path, format!("line {line}: {e}")))?;
            let value = at(band)
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| {
                    Error::csv(
                        &path,
                        format!("line {line}: band `{}` is not a number >= 0", at(band)),
                    )
                })?;
            bands.insert(
                BandKey::new(at(backbone), at(dataset), stage, at(cell)),
                value,
            );
        }
        Ok(Self(bands))
    }

    /// The band of every cell of a backbone's data set in the grid (test stage), when measured.
    pub fn test(&self, backbone: &str, dataset: &str) -> Option<f64> {
        self.0
            .get(&BandKey::new(backbone, dataset, Stage::Test, ALL_CELLS))
            .copied()
    }

    /// The band of one selection candidate (its [`crate::compare::noise::candidate_cell`]), when
    /// measured.
    pub fn candidate(&self, backbone: &str, dataset: &str, cell: &str) -> Option<f64> {
        self.0
            .get(&BandKey::new(backbone, dataset, Stage::Selection, cell))
            .copied()
    }

    /// Builds bands from `(key, band)` pairs (tests, and `analysis noise`'s own check).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (BandKey, f64)>) -> Self {
        Self(pairs.into_iter().collect())
    }
}
