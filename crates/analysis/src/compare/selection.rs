//! The learning-rate selection compared by what it chose: per backbone, data set and method, the
//! same learning rate (and λ) as the reference, or, where the choice differs, your validation
//! scores of the two choices within the measured band (a near-tie broken the other way by
//! rounding) → `<results>/comparison/<task>_selection.csv`.

use std::collections::BTreeMap;
use std::path::Path;

use formats::selection::{Candidate, Table};
use formats::Method;

use crate::compare::noise::candidate_cell;
use crate::compare::numerics::Bands;
use crate::compare::verdict::EXACT_TOLERANCE;
use crate::error::Result;
use crate::report::write::{optional, write_csv};

/// How one (backbone, data set, method) selection compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The same learning rate and λ.
    Same,
    /// Another one, whose validation score (yours) is within the band of the reference's choice's.
    Equivalent,
    /// Another one, further apart (or the reference's choice is not among your candidates).
    Different,
    /// Only one side selected for it.
    Missing,
}

impl Choice {
    /// The name in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Self::Same => "same_choice",
            Self::Equivalent => "equivalent_choice",
            Self::Different => "different_choice",
            Self::Missing => "missing",
        }
    }
}

/// One compared selection.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionRow {
    /// Backbone, data set and method.
    pub key: (String, String, Method),
    /// Your chosen (lr, λ) and its validation score.
    pub ours: Option<(f64, f64, f64)>,
    /// The reference's chosen (lr, λ).
    pub reference: Option<(f64, f64)>,
    /// Your validation score of the reference's choice, when you scored it.
    pub ours_at_reference_choice: Option<f64>,
    /// The band used: the larger of the two chosen candidates' measured bands.
    pub band: Option<f64>,
    /// The verdict.
    pub choice: Choice,
}

type Key = (String, String, Method);

fn by_key(table: &Table) -> BTreeMap<Key, Vec<(&Candidate, bool)>> {
    let mut map: BTreeMap<Key, Vec<(&Candidate, bool)>> = BTreeMap::new();
    for (c, chosen) in &table.rows {
        map.entry((c.backbone.clone(), c.dataset.clone(), c.method))
            .or_default()
            .push((c, *chosen));
    }
    map
}

/// The chosen candidate among `rows`.
fn chosen<'a>(rows: Option<&Vec<(&'a Candidate, bool)>>) -> Option<&'a Candidate> {
    rows?.iter().find(|(_, c)| *c).map(|(c, _)| *c)
}

/// Compares the selection tables at `ours` and `reference` for the backbones `yours` (those you
/// ran); `bands` gives the selection stage's band.
pub fn compare_selection(
    ours: &Table,
    reference: &Table,
    bands: &Bands,
    yours: &std::collections::BTreeSet<String>,
) -> Vec<SelectionRow> {
    let (ours, reference) = (by_key(ours), by_key(reference));
    let keys: std::collections::BTreeSet<&Key> = ours
        .keys()
        .chain(reference.keys())
        .filter(|k| yours.contains(&k.0))
        .collect();
    keys.into_iter()
        .map(|key| {
            let mine = chosen(ours.get(key));
            let theirs = chosen(reference.get(key));
            // The noise measured on the two candidates: the larger of their bands.
            let band = match (mine, theirs) {
                (Some(m), Some(t)) => {
                    let of = |c: &Candidate| bands.candidate(&key.0, &key.1, &candidate_cell(c));
                    of(m).zip(of(t)).map(|(a, b)| a.max(b))
                }
                _ => None,
            };
            let at_theirs = theirs.and_then(|t| {
                ours.get(key)?
                    .iter()
                    .find(|(c, _)| c.lr == t.lr && c.plus_ratio == t.plus_ratio)
                    .map(|(c, _)| c.score)
            });
            let choice = match (mine, theirs) {
                (Some(m), Some(t)) if m.lr == t.lr && m.plus_ratio == t.plus_ratio => Choice::Same,
                (Some(m), Some(_)) => match (at_theirs, band) {
                    (Some(s), Some(b)) if (m.score - s).abs() <= b + EXACT_TOLERANCE => {
                        Choice::Equivalent
                    }
                    _ => Choice::Different,
                },
                _ => Choice::Missing,
            };
            SelectionRow {
                key: key.clone(),
                ours: mine.map(|m| (m.lr, m.plus_ratio, m.score)),
                reference: theirs.map(|t| (t.lr, t.plus_ratio)),
                ours_at_reference_choice: at_theirs,
                band,
                choice,
            }
        })
        .collect()
}

/// Writes the rows to `path` atomically.
pub fn write(path: &Path, rows: &[SelectionRow]) -> Result<()> {
    let header = [
        "backbone",
        "dataset",
        "method",
        "lr_ours",
        "plus_ratio_ours",
        "lr_reference",
        "plus_ratio_reference",
        "score_ours_choice",
        "score_reference_choice",
        "band",
        "verdict",
    ];
    let lines = rows.iter().map(|row| {
        vec![
            row.key.0.clone(),
            row.key.1.clone(),
            row.key.2.to_string(),
            optional(row.ours.map(|o| o.0)),
            optional(row.ours.map(|o| o.1)),
            optional(row.reference.map(|r| r.0)),
            optional(row.reference.map(|r| r.1)),
            optional(row.ours.map(|o| o.2)),
            optional(row.ours_at_reference_choice),
            optional(row.band),
            row.choice.name().to_string(),
        ]
    });
    write_csv(path, &header.map(String::from), lines)
}
