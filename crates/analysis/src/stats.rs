//! Statistics over seeds: mean and sample standard deviation, the Student-t 95 % interval of a
//! mean, and the equivalence test (two one-sided tests) of a mean difference against a margin.

/// Mean and sample standard deviation (n − 1; 0 for one value) of a non-empty slice.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// t_{0.975, df} for df = 1..=30: the two-sided 95 % quantiles of Student's t, to four decimals
/// (the values of the standard tables, e.g. Abramowitz & Stegun Table 26.10; checked against a
/// numerical integration of the t density). Seeds come in handfuls, so this range is the one used.
const T975: [f64; 30] = [
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
    2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687,
    2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
];

/// The 0.975 quantile of the standard normal distribution.
const Z975: f64 = 1.959_963_984_540_054;

/// t_{0.975, df}, the quantile a 95 % two-sided interval uses (`df ≥ 1`): `T975` up to 30
/// degrees of freedom; beyond, the Cornish–Fisher expansion of t around the normal quantile z
/// to the 1/df³ term, whose error there is below 1e-4 (2.0395 at df = 31, 1.9799 at 120).
pub fn t975(df: usize) -> f64 {
    assert!(df >= 1, "a t quantile needs at least one degree of freedom");
    if let Some(&t) = T975.get(df - 1) {
        return t;
    }
    let (z, n) = (Z975, df as f64);
    let g1 = (z.powi(3) + z) / 4.0;
    let g2 = (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / 96.0;
    let g3 = (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / 384.0;
    z + g1 / n + g2 / n.powi(2) + g3 / n.powi(3)
}

/// The mean of a sample and its 95 % Student-t interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanInterval {
    /// How many values.
    pub n: usize,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation (n − 1); `None` for one value.
    pub std: Option<f64>,
    /// `mean ∓ t_{0.975, n−1}·std/√n`; `None` for one value.
    pub ci95: Option<(f64, f64)>,
}

impl MeanInterval {
    /// The mean and interval of `values` (not empty).
    pub fn of(values: &[f64]) -> Self {
        let (mean, std) = mean_std(values);
        let n = values.len();
        if n < 2 {
            return Self {
                n,
                mean,
                std: None,
                ci95: None,
            };
        }
        let half = t975(n - 1) * std / (n as f64).sqrt();
        Self {
            n,
            mean,
            std: Some(std),
            ci95: Some((mean - half, mean + half)),
        }
    }

    /// `mean ∓ t_{0.95, n−1}·std/√n`, the 90 % interval two one-sided 5 % tests use; `None` for
    /// one value.
    pub fn ci90(&self) -> Option<(f64, f64)> {
        let std = self.std?;
        let half = t_quantile(0.95, self.n - 1) * std / (self.n as f64).sqrt();
        Some((self.mean - half, self.mean + half))
    }
}

/// t_{p, df}: the `p` quantile of Student's t with `df ≥ 1` degrees of freedom.
pub fn t_quantile(p: f64, df: usize) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    StudentsT::new(0.0, 1.0, df as f64)
        .expect("a t distribution with df >= 1")
        .inverse_cdf(p)
}

/// What a paired difference `a − b` says, by its intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairVerdict {
    /// Two one-sided tests at 5 % each (TOST): the 90 % interval lies inside (−margin, +margin).
    Equivalent,
    /// Not shown equivalent; the 95 % interval excludes 0 in `a`'s favour.
    Better,
    /// Not shown equivalent; the 95 % interval excludes 0 in `b`'s favour.
    Worse,
    /// Neither.
    Undecided,
}

impl PairVerdict {
    /// The name in the CSV files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Equivalent => "equivalent",
            Self::Better => "better",
            Self::Worse => "worse",
            Self::Undecided => "undecided",
        }
    }

    /// The verdict on the mean difference `m` (with at least two values; `None` otherwise):
    /// `equivalent` when `margin` is given and its 90 % interval lies within ±margin, else
    /// `better`/`worse` when its 95 % interval excludes 0 (`lower_is_better` flips the sign), else
    /// `undecided`.
    pub fn of(m: &MeanInterval, margin: Option<f64>, lower_is_better: bool) -> Option<Self> {
        let (lo95, hi95) = m.ci95?;
        if let (Some(margin), Some((lo90, hi90))) = (margin, m.ci90()) {
            if -margin < lo90 && hi90 < margin {
                return Some(Self::Equivalent);
            }
        }
        let favours_a = |d: f64| (d > 0.0) != lower_is_better;
        Some(if lo95 > 0.0 || hi95 < 0.0 {
            if favours_a(m.mean) {
                Self::Better
            } else {
                Self::Worse
            }
        } else {
            Self::Undecided
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_of_one_two_three_is_hand_computed() {
        // mean 2, sd 1, t_{0.975,2} = 4.3027: 2 ∓ 4.3027/√3 = 2 ∓ 2.4842.
        let m = MeanInterval::of(&[1.0, 2.0, 3.0]);
        assert_eq!((m.n, m.mean, m.std), (3, 2.0, Some(1.0)));
        let (lo, hi) = m.ci95.unwrap();
        assert!(
            (lo + 0.4842).abs() < 1e-4 && (hi - 4.4842).abs() < 1e-4,
            "{lo} {hi}"
        );
        let one = MeanInterval::of(&[0.5]);
        assert_eq!((one.n, one.mean, one.std, one.ci95), (1, 0.5, None, None));
    }

    #[test]
    fn the_quantiles_match_the_tables() {
        // t_{0.975, 2} = 4.3027, t_{0.95, 2} = 2.9200, t_{0.95, 4} = 2.1318 (standard tables).
        assert!((t_quantile(0.975, 2) - 4.3027).abs() < 1e-4);
        assert!((t_quantile(0.95, 2) - 2.9200).abs() < 1e-4);
        assert!((t_quantile(0.95, 4) - 2.1318).abs() < 1e-4);
    }

    #[test]
    fn each_verdict_on_a_hand_computed_case() {
        // Five differences with mean d and sd 0.01: the 90 % half-width is 2.1318·0.01/√5 =
        // 0.009534, the 95 % one 2.7764·0.01/√5 = 0.012416.
        let sample = |d: f64| {
            let spread = [-1.5, -0.5, 0.0, 0.5, 1.5];
            let sd = (spread.iter().map(|x: &f64| x * x).sum::<f64>() / 4.0).sqrt();
            let values: Vec<f64> = spread.iter().map(|x| d + x * 0.01 / sd).collect();
            MeanInterval::of(&values)
        };
        let m = sample(0.0);
        let (lo, hi) = m.ci90().unwrap();
        assert!(
            (hi - 0.009534).abs() < 1e-6 && (lo + 0.009534).abs() < 1e-6,
            "{lo} {hi}"
        );
        let verdict = |d: f64, margin| PairVerdict::of(&sample(d), margin, false).unwrap();
        // |d| + 0.009534 < 0.01: equivalent.
        assert_eq!(verdict(0.0004, Some(0.01)), PairVerdict::Equivalent);
        // 0.0006 + 0.009534 > 0.01, and the 95 % interval holds 0: undecided.
        assert_eq!(verdict(0.0006, Some(0.01)), PairVerdict::Undecided);
        // 0.013 − 0.012416 > 0: better; negative: worse; lower-is-better flips them.
        assert_eq!(verdict(0.013, Some(0.01)), PairVerdict::Better);
        assert_eq!(verdict(-0.013, Some(0.01)), PairVerdict::Worse);
        assert_eq!(
            PairVerdict::of(&sample(0.013), None, true),
            Some(PairVerdict::Worse)
        );
        // Without a margin nothing is equivalent.
        assert_eq!(verdict(0.0, None), PairVerdict::Undecided);
        assert_eq!(
            PairVerdict::of(&MeanInterval::of(&[0.1]), Some(0.01), false),
            None
        );
    }

    #[test]
    fn the_quantile_table_joins_the_expansion_and_tends_to_the_normal() {
        assert_eq!(t975(1), 12.7062);
        assert_eq!(t975(30), 2.0423);
        assert!((t975(31) - 2.0395).abs() < 1e-4, "{}", t975(31));
        assert!((t975(120) - 1.9799).abs() < 1e-4, "{}", t975(120));
        assert!((2..200).all(|df| t975(df) < t975(df - 1)));
        assert!((t975(100_000) - Z975).abs() < 1e-4);
    }
}
