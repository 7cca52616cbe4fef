//! Statistics over seeds: mean and sample standard deviation, and the Student-t 95 % interval of
//! a mean.

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
    fn the_quantile_table_joins_the_expansion_and_tends_to_the_normal() {
        assert_eq!(t975(1), 12.7062);
        assert_eq!(t975(30), 2.0423);
        assert!((t975(31) - 2.0395).abs() < 1e-4, "{}", t975(31));
        assert!((t975(120) - 1.9799).abs() < 1e-4, "{}", t975(120));
        assert!((2..200).all(|df| t975(df) < t975(df - 1)));
        assert!((t975(100_000) - Z975).abs() < 1e-4);
    }
}
