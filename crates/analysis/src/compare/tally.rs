//! How many cells of a comparison reproduce the reference, and how many do not ([`Tally`]).

use std::fmt;

use crate::compare::cells::Cell;
use crate::compare::verdict::Verdict;

/// How many cells are where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Cells on both sides.
    pub shared: usize,
    /// Shared cells that reproduce the reference (exact, reproduced or within the seeds' spread).
    pub within: usize,
    /// Of those, exact.
    pub exact: usize,
    /// Of those, reproduced within the measured numerical noise.
    pub reproduced: usize,
    /// Shared cells that do not.
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
                    t.exact += usize::from(v == Verdict::Exact);
                    t.reproduced += usize::from(v == Verdict::Reproduced);
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
    /// `12 of 16 cells reproduce the reference (3 exact, 1 within measured numerical noise, 8
    /// within the seeds' spread), 4 do not`, then the one-sided cells if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} cells reproduce the reference ({} exact, {} within measured numerical noise, {} within the seeds' spread), {} do not",
            self.within,
            self.shared,
            self.exact,
            self.reproduced,
            self.within - self.exact - self.reproduced,
            self.outside
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
