//! Range checks of numeric settings: every problem is collected, each naming the field, its value
//! and the allowed range, and reported at once before any work starts.

use std::fmt::Display;

use crate::error::{Error, Result};

/// The problems found so far.
#[derive(Debug, Default)]
pub struct Checks {
    problems: Vec<String>,
}

impl Checks {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn fail(&mut self, field: &str, value: impl Display, range: &str) {
        self.problems
            .push(format!("field `{field}` = {value} is outside {range}"));
    }

    /// `value` must be finite and > 0.
    pub fn positive(&mut self, field: &str, value: f64) -> &mut Self {
        if !(value.is_finite() && value > 0.0) {
            self.fail(field, value, "(0, ∞)");
        }
        self
    }

    /// `value` must be finite and ≥ 0.
    pub fn non_negative(&mut self, field: &str, value: f64) -> &mut Self {
        if !(value.is_finite() && value >= 0.0) {
            self.fail(field, value, "[0, ∞)");
        }
        self
    }

    /// `value` must lie in `[lo, hi)`.
    pub fn half_open(&mut self, field: &str, value: f64, lo: f64, hi: f64) -> &mut Self {
        if !(value >= lo && value < hi) {
            self.fail(field, value, &format!("[{lo}, {hi})"));
        }
        self
    }

    /// `value` must lie in `[lo, hi]`.
    pub fn closed(&mut self, field: &str, value: f64, lo: f64, hi: f64) -> &mut Self {
        if !(value >= lo && value <= hi) {
            self.fail(field, value, &format!("[{lo}, {hi}]"));
        }
        self
    }

    /// `value` must be at least `min`.
    pub fn at_least<T: PartialOrd + Display>(
        &mut self,
        field: &str,
        value: T,
        min: T,
    ) -> &mut Self {
        if value < min {
            let range = format!("[{min}, ∞)");
            self.fail(field, value, &range);
        }
        self
    }

    /// Every element of `values` must be at least `min`.
    pub fn all_at_least<T: PartialOrd + Display + Copy>(
        &mut self,
        field: &str,
        values: &[T],
        min: T,
    ) -> &mut Self {
        for (i, &v) in values.iter().enumerate() {
            self.at_least(&format!("{field}[{i}]"), v, min);
        }
        self
    }

    /// `value` goes into a file name: it must be one safe path component (see
    /// [`crate::paths::check_component`]).
    pub fn path_component(&mut self, field: &str, value: &str) -> &mut Self {
        if let Err(reason) = crate::paths::check_component(value) {
            self.problems
                .push(format!("field `{field}` = {value:?} {reason}"));
        }
        self
    }

    /// A problem that is not a simple range (e.g. two fields that must agree).
    pub fn problem(&mut self, message: impl Into<String>) -> &mut Self {
        self.problems.push(message.into());
        self
    }

    /// `Ok` when nothing was found, else every problem in one error.
    pub fn finish(&mut self) -> Result<()> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Ranges(std::mem::take(&mut self.problems)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_names_field_value_and_range() {
        let err = Checks::new()
            .positive("logit_scale", -30.0)
            .non_negative("optim.weight_decay", -5.0)
            .at_least("test_limit", 0usize, 1)
            .half_open("adapter.dropout", 1.5, 0.0, 1.0)
            .positive("optim.lr", 1e-3)
            .finish()
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("4 invalid field(s)"), "{err}");
        for part in [
            "field `logit_scale` = -30 is outside (0, ∞)",
            "field `optim.weight_decay` = -5 is outside [0, ∞)",
            "field `test_limit` = 0 is outside [1, ∞)",
            "field `adapter.dropout` = 1.5 is outside [0, 1)",
        ] {
            assert!(err.contains(part), "{err} lacks {part}");
        }
        assert!(!err.contains("optim.lr"));
        let err = Checks::new().positive("x", f64::NAN).finish().unwrap_err();
        assert!(err.to_string().contains("NaN"), "{err}");
    }
}
