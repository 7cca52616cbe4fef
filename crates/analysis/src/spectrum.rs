//! Singular values with LAPACK (ndarray-linalg over OpenBLAS), without singular vectors.

use ndarray::Array2;
use ndarray_linalg::SVD;

use crate::error::{Error, Result};

/// The singular values of `m`, largest first; `what` names the matrix in errors.
pub fn singular_values(m: &Array2<f64>, what: &str) -> Result<Vec<f64>> {
    if m.iter().any(|x| !x.is_finite()) {
        return Err(Error::Linalg {
            what: what.to_string(),
            message: "the matrix holds NaN or infinite values".into(),
        });
    }
    let (_, sigma, _) = m.svd(false, false).map_err(|e| Error::Linalg {
        what: what.to_string(),
        message: e.to_string(),
    })?;
    let mut sigma = sigma.to_vec();
    sigma.sort_by(|a, b| b.total_cmp(a));
    Ok(sigma)
}

/// `sigma` divided by its largest value; all zeros when the largest is zero (an untrained update).
pub fn normalized(sigma: &[f64]) -> Vec<f64> {
    let max = sigma.iter().copied().fold(0.0, f64::max);
    sigma
        .iter()
        .map(|s| if max > 0.0 { s / max } else { 0.0 })
        .collect()
}
