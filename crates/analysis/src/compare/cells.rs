//! The cells of the two summaries side by side: on each side, the mean and spread of the metric
//! over the cell's seeds.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use formats::Method;

use crate::compare::table::Cells;
use crate::compare::verdict::{judge, Context, Side, Verdict};

/// One cell (configuration) and what each side has of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The values of the key columns, in order.
    pub key: Vec<String>,
    /// The user's seeds, if the user ran the cell.
    pub ours: Option<Side>,
    /// The reference's seeds, if the reference has the cell.
    pub reference: Option<Side>,
    /// What the two sides' numerics say about it (same signature, measured band).
    pub numerics: Context,
}

impl Cell {
    /// `mean_ours − mean_reference`, when both sides have the cell.
    pub fn difference(&self) -> Option<f64> {
        Some(self.ours?.mean - self.reference?.mean)
    }

    /// How the two sides compare (see [`crate::compare::verdict`]).
    pub fn verdict(&self) -> Verdict {
        judge(self.ours.as_ref(), self.reference.as_ref(), self.numerics)
    }
}

/// Every cell of either side, ordered by the key columns `columns` (methods in
/// [`Method::ALL`] order, numbers numerically, the rest as text).
pub fn join(columns: &[&str], ours: &Cells, reference: &Cells) -> Vec<Cell> {
    let keys: BTreeSet<&Vec<String>> = ours.keys().chain(reference.keys()).collect();
    let mut cells: Vec<Cell> = keys
        .into_iter()
        .map(|key| Cell {
            key: key.clone(),
            ours: ours.get(key).map(Side::of),
            reference: reference.get(key).map(Side::of),
            numerics: Context::default(),
        })
        .collect();
    cells.sort_by(|a, b| compare_keys(columns, &a.key, &b.key));
    cells
}

fn compare_keys(columns: &[&str], a: &[String], b: &[String]) -> Ordering {
    columns
        .iter()
        .zip(a.iter().zip(b))
        .map(|(column, (a, b))| compare_values(column, a, b))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

fn compare_values(column: &str, a: &str, b: &str) -> Ordering {
    if column == "method" {
        if let (Ok(a), Ok(b)) = (a.parse::<Method>(), b.parse::<Method>()) {
            return a.cmp(&b);
        }
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}
