//! Reading 2-D tensors out of a safetensors file as `f64` matrices.

use std::fs;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};

/// A safetensors file held in memory, with its header checked.
pub struct TensorFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl TensorFile {
    /// Reads and validates `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
        let file = Self {
            path: path.to_path_buf(),
            bytes,
        };
        file.parsed()?;
        Ok(file)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn parsed(&self) -> Result<SafeTensors<'_>> {
        SafeTensors::deserialize(&self.bytes).map_err(|source| Error::Safetensors {
            path: self.path.clone(),
            source,
        })
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .parsed()?
            .names()
            .into_iter()
            .map(str::to_string)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Whether the file holds a tensor called `name`.
    pub fn contains(&self, name: &str) -> Result<bool> {
        Ok(self.parsed()?.tensor(name).is_ok())
    }

    /// The 2-D tensor `name` as an `f64` matrix (F64, F32, F16 and BF16 are read).
    pub fn matrix(&self, name: &str) -> Result<Array2<f64>> {
        let st = self.parsed()?;
        let view = st.tensor(name).map_err(|_| Error::MissingTensor {
            path: self.path.clone(),
            tensor: name.to_string(),
        })?;
        let shape = view.shape().to_vec();
        if shape.len() != 2 {
            return Err(Error::Shape {
                path: self.path.clone(),
                tensor: name.to_string(),
                got: shape,
                expected: "a 2-D matrix".into(),
            });
        }
        let values = decode(view.dtype(), view.data()).ok_or_else(|| {
            Error::tensor(
                &self.path,
                name,
                format!("dtype {:?} is not F64, F32, F16 or BF16", view.dtype()),
            )
        })?;
        Array2::from_shape_vec((shape[0], shape[1]), values)
            .map_err(|e| Error::tensor(&self.path, name, e.to_string()))
    }
}

/// Little-endian tensor bytes as `f64`; `None` for an unsupported dtype.
fn decode(dtype: Dtype, data: &[u8]) -> Option<Vec<f64>> {
    let values = match dtype {
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        _ => return None,
    };
    Some(values)
}
