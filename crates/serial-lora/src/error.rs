//! Errors of the adapter core. Every variant names the file, tensor or field at fault.

use std::fmt;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// One problem found while matching a checkpoint against the variables a model expects.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorProblem {
    /// The model expects this tensor but the file lacks it.
    Missing {
        name: String,
        expected_shape: Vec<i64>,
    },
    /// The file holds a tensor that no variable of the model takes.
    Unexpected { name: String },
    /// Shapes differ.
    Shape {
        name: String,
        expected: Vec<i64>,
        found: Vec<i64>,
    },
    /// The tensor holds NaN or infinite values.
    NonFinite { name: String, count: i64 },
    /// The stored dtype cannot be converted to the variable's (e.g. an integer tensor for a weight).
    Dtype {
        name: String,
        expected: String,
        found: String,
    },
}

impl fmt::Display for TensorProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing {
                name,
                expected_shape,
            } => {
                write!(
                    f,
                    "missing tensor `{name}` (expected shape {expected_shape:?})"
                )
            }
            Self::Unexpected { name } => write!(f, "unexpected tensor `{name}`"),
            Self::Shape {
                name,
                expected,
                found,
            } => {
                write!(
                    f,
                    "tensor `{name}` has shape {found:?}, expected {expected:?}"
                )
            }
            Self::NonFinite { name, count } => {
                write!(f, "tensor `{name}` holds {count} NaN or infinite value(s)")
            }
            Self::Dtype {
                name,
                expected,
                found,
            } => {
                write!(f, "tensor `{name}` has dtype {found}, expected {expected}")
            }
        }
    }
}

/// Errors of the adapter core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written, or a configuration field is invalid, unknown or
    /// inconsistent (the shared formats' errors, naming the file or field).
    #[error(transparent)]
    Format(#[from] formats::Error),
    /// A safetensors file is truncated, corrupt or not safetensors at all.
    #[error("{path}: not a readable safetensors file: {message}")]
    Safetensors { path: PathBuf, message: String },
    /// A checkpoint does not match the variables the model expects; lists every problem at once.
    #[error("{path}: {} problem(s){}:\n  {}", problems.len(), context.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(), problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n  "))]
    Mismatch {
        path: PathBuf,
        context: Option<String>,
        problems: Vec<TensorProblem>,
    },
    /// A site cannot take the adapter it was asked to (e.g. rank larger than its width).
    #[error("adapter site `{site}`: {message}")]
    Site { site: String, message: String },
    /// The training loss is not finite.
    #[error(
        "loss is {value} at step {step}: training stopped (nothing was written for this step)"
    )]
    NonFiniteLoss { step: usize, value: f64 },
    /// An error raised by libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
}

impl Error {
    /// A configuration error on `field`, not tied to a file.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Format(formats::Error::config(field, message))
    }

    /// Attaches the file a configuration error came from.
    pub fn in_file(self, file: impl Into<PathBuf>) -> Self {
        match self {
            Self::Format(e) => Self::Format(e.in_file(file)),
            other => other,
        }
    }

    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Format(formats::Error::io(path, source))
    }
}
