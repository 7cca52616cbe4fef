//! Singular values against a matrix built with known ones.

mod common;

use analysis::spectrum::{normalized, singular_values};
use common::random;
use ndarray::{Array1, Array2};

/// The Householder reflection `I − 2 v vᵀ / vᵀv` (orthogonal).
fn householder(v: &Array1<f64>) -> Array2<f64> {
    let n = v.len();
    let outer = v
        .view()
        .insert_axis(ndarray::Axis(1))
        .dot(&v.view().insert_axis(ndarray::Axis(0)));
    Array2::eye(n) - outer * (2.0 / v.dot(v))
}

#[test]
fn singular_values_of_u_sigma_vt() {
    let known = [7.5, 3.0, 1.25, 0.01];
    let (m, n) = (6, 4);
    let u = householder(&random(m, 1, 1).column(0).to_owned())
        .dot(&householder(&random(m, 1, 2).column(0).to_owned()));
    let v = householder(&random(n, 1, 3).column(0).to_owned());
    let mut sigma = Array2::zeros((m, n));
    // Deliberately out of order: the result must come back sorted, largest first.
    for (i, &s) in [known[2], known[0], known[3], known[1]].iter().enumerate() {
        sigma[[i, i]] = s;
    }
    let a = u.dot(&sigma).dot(&v.t());
    let got = singular_values(&a, "test matrix").unwrap();
    assert_eq!(got.len(), n);
    for (g, k) in got.iter().zip(known) {
        assert!((g - k).abs() < 1e-12, "{got:?} vs {known:?}");
    }
    let norm = normalized(&got);
    assert!((norm[0] - 1.0).abs() < 1e-15 && (norm[3] - known[3] / known[0]).abs() < 1e-12);
    assert_eq!(normalized(&[0.0, 0.0]), vec![0.0, 0.0]);
}

#[test]
fn non_finite_matrix_is_an_error_naming_it() {
    let mut a = random(3, 3, 9);
    a[[1, 1]] = f64::NAN;
    let err = singular_values(&a, "block 2 q").unwrap_err();
    assert!(err.to_string().contains("block 2 q"), "{err}");
}
