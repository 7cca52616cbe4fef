//! The runs of each (model, data set, shots, method, rank), one per seed.

use std::collections::BTreeMap;
use std::path::Path;

use formats::Method;

use crate::error::{Error, Result};
use crate::report::rows::{Group, Row};

/// A cell: the group, the method and the rank.
pub type Key = (Group, Method, usize);

/// Every cell's runs, seed → row; when a seed appears twice in a cell the later row (a re-run)
/// wins.
pub type Cells = BTreeMap<Key, BTreeMap<u64, Row>>;

/// Groups `rows` into cells. Seeds of one cell that disagree on `trainable_params` are an error
/// naming the summary at `path`.
pub fn cells(rows: &[Row], path: &Path) -> Result<Cells> {
    let mut cells = Cells::new();
    for row in rows {
        cells
            .entry((row.group.clone(), row.method, row.rank))
            .or_default()
            .insert(row.seed, row.clone());
    }
    for ((group, method, rank), by_seed) in &cells {
        let mut params = by_seed.values().map(|r| (r.seed, r.trainable_params));
        let (_, first) = params.next().unwrap_or_default();
        if let Some((seed, other)) = params.find(|&(_, p)| p != first) {
            return Err(Error::csv(
                path,
                format!(
                    "{}/{}/{}/r={rank}: column `trainable_params` differs between seeds ({first} vs {other} for seed {seed})",
                    group.backbone, group.dataset, method.name()
                ),
            ));
        }
    }
    Ok(cells)
}

/// The trainable parameters of a cell's runs (the same for every seed).
pub fn params(by_seed: &BTreeMap<u64, Row>) -> u64 {
    by_seed.values().next().map_or(0, |r| r.trainable_params)
}
