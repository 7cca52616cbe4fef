//! Safetensors in and out: strict loading into var-store variables (every problem reported at
//! once) and atomic writes (temp file + rename), so a crash never leaves a half-written file.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::{Dtype, SafeTensors};
use tch::{Kind, Tensor};

use crate::error::{Error, Result, TensorProblem};

/// Reads a whole file, naming it on failure.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Parses safetensors bytes, naming the file when they are truncated or corrupt.
pub fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e| Error::Safetensors {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F64 => Kind::Double,
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::I16 => Kind::Int16,
        Dtype::I8 => Kind::Int8,
        Dtype::U8 => Kind::Uint8,
        Dtype::BOOL => Kind::Bool,
        _ => return None,
    })
}

/// Whether a stored tensor of `stored` kind may fill a variable of `wanted` kind: exact, or
/// float to float (a half-precision checkpoint into a float model).
fn convertible(stored: Kind, wanted: Kind) -> bool {
    let float = |k: Kind| matches!(k, Kind::Half | Kind::BFloat16 | Kind::Float | Kind::Double);
    stored == wanted || (float(stored) && float(wanted))
}

/// How many NaN or infinite values a floating-point `tensor` holds, `None` when it holds none (or is
/// not floating point).
pub fn non_finite(tensor: &Tensor) -> Option<i64> {
    if !tensor.is_floating_point() {
        return None;
    }
    let count = tensor
        .isfinite()
        .logical_not()
        .sum(Kind::Int64)
        .int64_value(&[]);
    (count > 0).then_some(count)
}

/// Every tensor of a safetensors file, by name, as libtorch tensors (copied out of `bytes`).
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    let bytes = read_file(path)?;
    let file = parse(path, &bytes)?;
    let mut out = BTreeMap::new();
    for (name, view) in file.tensors() {
        let kind = kind_of(view.dtype()).ok_or_else(|| Error::Mismatch {
            path: path.to_path_buf(),
            context: None,
            problems: vec![TensorProblem::Dtype {
                name: name.clone(),
                expected: "a libtorch dtype".into(),
                found: format!("{:?}", view.dtype()),
            }],
        })?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        out.insert(name, Tensor::f_from_data_size(view.data(), &shape, kind)?);
    }
    Ok(out)
}

/// Fills `variables` from the safetensors file `path`, where file key `k` feeds variable
/// `to_var(k)`. Every missing, unexpected, mis-shaped or mis-typed tensor is reported together,
/// and no variable is touched unless all match. `context` explains what the file was checked against.
pub fn load_into(
    variables: &HashMap<String, Tensor>,
    path: &Path,
    to_var: impl Fn(&str) -> String,
    context: Option<&str>,
) -> Result<()> {
    let bytes = read_file(path)?;
    let file = parse(path, &bytes)?;
    let mut problems = Vec::new();
    let mut matched = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut names = file.names();
    names.sort();
    for name in names {
        let view = file.tensor(name).map_err(|e| Error::Safetensors {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let var_name = to_var(name);
        let Some(var) = variables.get(&var_name) else {
            problems.push(TensorProblem::Unexpected {
                name: name.to_string(),
            });
            continue;
        };
        seen.insert(var_name);
        let found: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let expected = var.size();
        if found != expected {
            problems.push(TensorProblem::Shape {
                name: name.to_string(),
                expected,
                found,
            });
            continue;
        }
        match kind_of(view.dtype()).filter(|&k| convertible(k, var.kind())) {
            Some(kind) => matched.push((name.to_string(), var, view, kind, found)),
            None => problems.push(TensorProblem::Dtype {
                name: name.to_string(),
                expected: format!("{:?}", var.kind()),
                found: format!("{:?}", view.dtype()),
            }),
        }
    }
    let mut missing: Vec<_> = variables
        .iter()
        .filter(|(n, _)| !seen.contains(*n))
        .collect();
    missing.sort_by(|a, b| a.0.cmp(b.0));
    for (name, var) in missing {
        problems.push(TensorProblem::Missing {
            name: name.clone(),
            expected_shape: var.size(),
        });
    }
    if !problems.is_empty() {
        return Err(Error::Mismatch {
            path: path.to_path_buf(),
            context: context.map(str::to_string),
            problems,
        });
    }
    let mut values = Vec::with_capacity(matched.len());
    for (name, var, view, kind, shape) in matched {
        let value = Tensor::f_from_data_size(view.data(), &shape, kind)?;
        if let Some(count) = non_finite(&value) {
            problems.push(TensorProblem::NonFinite { name, count });
        }
        values.push((var, value));
    }
    if !problems.is_empty() {
        return Err(Error::Mismatch {
            path: path.to_path_buf(),
            context: context.map(str::to_string),
            problems,
        });
    }
    tch::no_grad(|| -> Result<()> {
        for (var, value) in values {
            var.shallow_clone().f_copy_(&value)?;
        }
        Ok(())
    })
}

pub use formats::atomic::{write_atomic, write_atomic_with};

/// Writes named tensors to a safetensors file atomically.
pub fn save_tensors(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    write_atomic_with(path, |tmp| Ok(Tensor::write_safetensors(tensors, tmp)?))
}

/// Writes `dst` as a copy of the safetensors file `src` in which the tensors named in `replace`
/// take their new values, each stored in the dtype and shape the original had; every other tensor
/// and the file's `__metadata__` are copied byte for byte. Atomic; a replacement of another shape
/// or for a name the file lacks is an error naming both.
pub fn rewrite_tensors(src: &Path, dst: &Path, replace: &BTreeMap<String, Tensor>) -> Result<()> {
    let bytes = read_file(src)?;
    let file = parse(src, &bytes)?;
    let (_, metadata) = SafeTensors::read_metadata(&bytes).map_err(|e| Error::Safetensors {
        path: src.to_path_buf(),
        message: e.to_string(),
    })?;
    let mismatch = |problem: TensorProblem| Error::Mismatch {
        path: src.to_path_buf(),
        context: Some(format!("rewriting into {}", dst.display())),
        problems: vec![problem],
    };
    let mut new_data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (name, value) in replace {
        let view = file
            .tensor(name)
            .map_err(|_| mismatch(TensorProblem::Unexpected { name: name.clone() }))?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        if value.size() != shape {
            return Err(mismatch(TensorProblem::Shape {
                name: name.clone(),
                expected: shape,
                found: value.size(),
            }));
        }
        let kind = kind_of(view.dtype()).ok_or_else(|| {
            mismatch(TensorProblem::Dtype {
                name: name.clone(),
                expected: "a libtorch dtype".into(),
                found: format!("{:?}", view.dtype()),
            })
        })?;
        let stored = value.to_device(tch::Device::Cpu).to_kind(kind).contiguous();
        let mut data = vec![0u8; view.data().len()];
        stored.f_copy_data_u8(&mut data, stored.numel())?;
        new_data.insert(name.clone(), data);
    }
    let mut views = Vec::new();
    for (name, view) in file.tensors() {
        let data = new_data.get(&name).map_or(view.data(), Vec::as_slice);
        let view = safetensors::tensor::TensorView::new(view.dtype(), view.shape().to_vec(), data)
            .map_err(|e| Error::Safetensors {
                path: src.to_path_buf(),
                message: format!("tensor `{name}`: {e}"),
            })?;
        views.push((name, view));
    }
    let info = metadata.metadata().clone();
    write_atomic_with(dst, |tmp| {
        safetensors::serialize_to_file(views, info, tmp).map_err(|e| Error::Safetensors {
            path: dst.to_path_buf(),
            message: e.to_string(),
        })
    })
}
