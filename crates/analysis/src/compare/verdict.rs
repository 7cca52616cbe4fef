//! Whether a cell of the user's runs reproduces the reference: the rule, each cell's verdict and
//! the tally.

use std::fmt;

use crate::compare::cells::{Cell, Side};

/// With at least two seeds on a side, a difference up to this many standard deviations (the
/// larger side's) is within the seeds' spread.
pub const SPREAD_FACTOR: f64 = 2.0;

/// With one seed on each side the runs should be the same computation (same seed, same machine →
/// same numbers): a difference up to this is an exact reproduction. No tolerance is tighter.
pub const EXACT_TOLERANCE: f64 = 1e-6;

/// The rule, in words, as printed under the table.
pub const RULE: &str = "within the seeds' spread: |ours - reference| <= 2 x max(std_ours, std_reference) \
(sample std over seeds) when either side has >= 2 seeds; <= 1e-6 (an exact reproduction: same seed, \
same machine, same numbers) when both have one seed. Differences are reported, never an error.";

/// How a cell compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// One seed each, and the same number (|difference| ≤ [`EXACT_TOLERANCE`]).
    Exact,
    /// One seed each, and different numbers.
    NotExact,
    /// At least two seeds on a side, and |difference| ≤ [`SPREAD_FACTOR`]·max std.
    WithinSpread,
    /// At least two seeds on a side, and a larger difference.
    OutsideSpread,
    /// Only the reference has the cell.
    MissingInOurs,
    /// Only the user's summary has the cell.
    MissingInReference,
}

impl Verdict {
    /// The verdict as written in the CSV and the table.
    pub fn name(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::NotExact => "not_exact",
            Self::WithinSpread => "within_spread",
            Self::OutsideSpread => "outside_spread",
            Self::MissingInOurs => "missing_in_ours",
            Self::MissingInReference => "missing_in_reference",
        }
    }

    /// Whether the cell is within the seeds' spread; `None` when a side lacks it.
    pub fn within_spread(self) -> Option<bool> {
        match self {
            Self::Exact | Self::WithinSpread => Some(true),
            Self::NotExact | Self::OutsideSpread => Some(false),
            Self::MissingInOurs | Self::MissingInReference => None,
        }
    }
}

/// The largest |difference| of the means that is within the seeds' spread of `ours` and
/// `reference`: [`SPREAD_FACTOR`]·max(std) when either side has two seeds or more, else
/// [`EXACT_TOLERANCE`] (and never less than it).
pub fn tolerance(ours: &Side, reference: &Side) -> f64 {
    if ours.seeds.max(reference.seeds) >= 2 {
        (SPREAD_FACTOR * ours.std.max(reference.std)).max(EXACT_TOLERANCE)
    } else {
        EXACT_TOLERANCE
    }
}

/// The verdict on a cell from what each side has of it.
pub fn judge(ours: Option<&Side>, reference: Option<&Side>) -> Verdict {
    let (ours, reference) = match (ours, reference) {
        (Some(o), Some(r)) => (o, r),
        (None, _) => return Verdict::MissingInOurs,
        (_, None) => return Verdict::MissingInReference,
    };
    let within = (ours.mean - reference.mean).abs() <= tolerance(ours, reference);
    match (ours.seeds.max(reference.seeds) >= 2, within) {
        (true, true) => Verdict::WithinSpread,
        (true, false) => Verdict::OutsideSpread,
        (false, true) => Verdict::Exact,
        (false, false) => Verdict::NotExact,
    }
}

/// How many cells are where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Cells on both sides.
    pub shared: usize,
    /// Shared cells within the seeds' spread.
    pub within: usize,
    /// Shared cells outside it.
    pub outside: usize,
    /// Cells only the reference has.
    pub missing_in_ours: usize,
    /// Cells only the user's summary has.
    pub missing_in_reference: usize,
}

impl Tally {
    /// Counts `cells`.
    pub fn of(cells: &[Cell]) -> Self {
        let mut t = Self::default();
        for cell in cells {
            match cell.verdict() {
                Verdict::MissingInOurs => t.missing_in_ours += 1,
                Verdict::MissingInReference => t.missing_in_reference += 1,
                v => {
                    t.shared += 1;
                    if v.within_spread() == Some(true) {
                        t.within += 1;
                    } else {
                        t.outside += 1;
                    }
                }
            }
        }
        t
    }
}

impl fmt::Display for Tally {
    /// `12 of 16 cells within the seeds' spread, 4 outside`, then the one-sided cells if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} cells within the seeds' spread, {} outside",
            self.within, self.shared, self.outside
        )?;
        let mut extra = Vec::new();
        if self.missing_in_ours > 0 {
            extra.push(format!(
                "{} only in the reference (missing_in_ours)",
                self.missing_in_ours
            ));
        }
        if self.missing_in_reference > 0 {
            extra.push(format!(
                "{} only in yours (missing_in_reference)",
                self.missing_in_reference
            ));
        }
        if !extra.is_empty() {
            write!(f, "; {}", extra.join(", "))?;
        }
        Ok(())
    }
}
