//! Checks of named input tensors shared by the models' `check_input`s.

use tch::Tensor;

use crate::error::{Error, Result};

/// Checks that `t` is floating point with the `expected` shape (`None`: any size ≥ 1 there).
pub(crate) fn check_shape(name: &str, t: &Tensor, expected: &[Option<i64>]) -> Result<()> {
    let size = t.size();
    let fits = size.len() == expected.len()
        && size
            .iter()
            .zip(expected)
            .all(|(&s, e)| e.map_or(s >= 1, |e| s == e));
    if fits && t.is_floating_point() {
        return Ok(());
    }
    let dims: Vec<String> = expected
        .iter()
        .map(|e| e.map_or("_".into(), |e| e.to_string()))
        .collect();
    Err(Error::input(
        name,
        format!(
            "expected float [{}], got {:?} {size:?}",
            dims.join(", "),
            t.kind()
        ),
    ))
}
