//! Whether a cell of the user's runs reproduces the reference: the rule, each cell's verdict and
//! the tally.
//!
//! One seed on each side: **exact** when both sides computed under the same numerics signature
//! (same machine kind and settings: the bits must match); on another signature, **reproduced**
//! when the difference is within the band of numerical noise measured for the backbone
//! (`numerics_band.csv`, `analysis noise`), **outside_noise** beyond it. Without a measured band
//! or a recorded signature, only equal numbers (`exact`) reproduce. Two seeds or more on a side:
//! within or outside the seeds' spread.

use std::collections::BTreeMap;

use crate::stats::mean_std;

/// One side's seeds of a cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Side {
    /// How many seeds.
    pub seeds: usize,
    /// Mean of the metric over them.
    pub mean: f64,
    /// Sample standard deviation (n − 1) over them; 0 for one seed.
    pub std: f64,
}

impl Side {
    /// The statistics of `values` (seed → metric; not empty).
    pub fn of(values: &BTreeMap<u64, f64>) -> Self {
        let values: Vec<f64> = values.values().copied().collect();
        let (mean, std) = mean_std(&values);
        Self {
            seeds: values.len(),
            mean,
            std,
        }
    }
}

/// With at least two seeds on a side, a difference up to this many standard deviations (the
/// larger side's) is within the seeds' spread.
pub const SPREAD_FACTOR: f64 = 2.0;

/// With one seed on each side the runs should be the same computation (same seed, same machine →
/// same numbers): a difference up to this is an exact reproduction. No tolerance is tighter. It is
/// also the slack on a band's edge (a difference of exactly one example against a band of one
/// example, as decimals in a CSV represent them).
pub const EXACT_TOLERANCE: f64 = 1e-6;

/// The rule, in words, as printed under the table.
pub const RULE: &str = "one seed each: exact when |ours - reference| <= 1e-6 (same seed; on the same numerics \
signature the bits must match); on another signature, reproduced when within the measured band of numerical \
noise (numerics_band.csv). Two seeds or more on a side: within the seeds' spread when |ours - reference| <= \
2 x max(std_ours, std_reference) (sample std over seeds). Differences are reported, never an error.";

/// What the two sides' numerics say about a cell.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Context {
    /// Both sides computed under the same, fully recorded numerics signature.
    pub same_numerics: bool,
    /// The measured band of numerical noise for the cell's backbone and data set, if any.
    pub band: Option<f64>,
}

/// How a cell compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// One seed each, and the same number (|difference| ≤ [`EXACT_TOLERANCE`]), on the same
    /// numerics signature (or where neither a signature nor a band tells otherwise).
    Exact,
    /// One seed each, and different numbers.
    NotExact,
    /// One seed each, on different numerics signatures, and |difference| within the measured band.
    Reproduced,
    /// One seed each, on different numerics signatures, and a difference beyond the band.
    OutsideNoise,
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
            Self::Reproduced => "reproduced",
            Self::OutsideNoise => "outside_noise",
            Self::WithinSpread => "within_spread",
            Self::OutsideSpread => "outside_spread",
            Self::MissingInOurs => "missing_in_ours",
            Self::MissingInReference => "missing_in_reference",
        }
    }

    /// Whether the cell is within the seeds' spread; `None` when a side lacks it.
    pub fn within_spread(self) -> Option<bool> {
        match self {
            Self::Exact | Self::Reproduced | Self::WithinSpread => Some(true),
            Self::NotExact | Self::OutsideNoise | Self::OutsideSpread => Some(false),
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

/// The verdict on a cell from what each side has of it and what their numerics say.
pub fn judge(ours: Option<&Side>, reference: Option<&Side>, context: Context) -> Verdict {
    let (ours, reference) = match (ours, reference) {
        (Some(o), Some(r)) => (o, r),
        (None, _) => return Verdict::MissingInOurs,
        (_, None) => return Verdict::MissingInReference,
    };
    let difference = (ours.mean - reference.mean).abs();
    if ours.seeds.max(reference.seeds) >= 2 {
        return if difference <= tolerance(ours, reference) {
            Verdict::WithinSpread
        } else {
            Verdict::OutsideSpread
        };
    }
    match (context.same_numerics, context.band) {
        (false, Some(band)) if difference <= band + EXACT_TOLERANCE => Verdict::Reproduced,
        (false, Some(_)) => Verdict::OutsideNoise,
        _ if difference <= EXACT_TOLERANCE => Verdict::Exact,
        _ => Verdict::NotExact,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(mean: f64) -> Side {
        Side {
            seeds: 1,
            mean,
            std: 0.0,
        }
    }

    fn context(same_numerics: bool, band: Option<f64>) -> Context {
        Context {
            same_numerics,
            band,
        }
    }

    #[test]
    fn the_same_numerics_demand_the_same_bits() {
        let same = context(true, Some(0.01));
        assert_eq!(
            judge(Some(&one(0.5)), Some(&one(0.5)), same),
            Verdict::Exact
        );
        // Within the band is not enough on the same machine kind and settings.
        assert_eq!(
            judge(Some(&one(0.505)), Some(&one(0.5)), same),
            Verdict::NotExact
        );
    }

    #[test]
    fn other_numerics_reproduce_within_the_measured_band() {
        let other = context(false, Some(0.01));
        assert_eq!(
            judge(Some(&one(0.5)), Some(&one(0.5)), other),
            Verdict::Reproduced
        );
        assert_eq!(
            judge(Some(&one(0.51)), Some(&one(0.5)), other),
            Verdict::Reproduced
        );
        assert_eq!(
            judge(Some(&one(0.5101)), Some(&one(0.5)), other),
            Verdict::OutsideNoise
        );
        assert_eq!(Verdict::Reproduced.within_spread(), Some(true));
        assert_eq!(Verdict::OutsideNoise.within_spread(), Some(false));
    }

    #[test]
    fn without_a_band_only_equal_numbers_reproduce() {
        for same in [true, false] {
            let unmeasured = context(same, None);
            assert_eq!(
                judge(Some(&one(0.5)), Some(&one(0.5)), unmeasured),
                Verdict::Exact
            );
            assert_eq!(
                judge(Some(&one(0.5001)), Some(&one(0.5)), unmeasured),
                Verdict::NotExact
            );
        }
    }

    #[test]
    fn several_seeds_are_judged_by_their_spread_whatever_the_numerics() {
        let two = Side {
            seeds: 2,
            mean: 0.5,
            std: 0.01,
        };
        for numerics in [context(true, None), context(false, Some(0.0))] {
            assert_eq!(
                judge(Some(&two), Some(&one(0.5199)), numerics),
                Verdict::WithinSpread
            );
            assert_eq!(
                judge(Some(&two), Some(&one(0.5201)), numerics),
                Verdict::OutsideSpread
            );
        }
    }
}
