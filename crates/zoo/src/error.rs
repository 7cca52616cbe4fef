//! Errors of the model zoo. Every variant names the file, tensor or field at fault.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Errors of the model zoo.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error of the adapter core (checkpoint loading, adapter files, libtorch).
    #[error(transparent)]
    Core(#[from] serial_lora::Error),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A model configuration (`config.json`) is malformed, inconsistent or unsupported.
    #[error("{path}: {message}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// The field at fault and why.
        message: String,
    },
    /// An input tensor is missing or has the wrong shape or dtype.
    #[error("input `{name}`: {message}")]
    Input {
        /// The input's name (`pixel_values`, `input_ids`, …).
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// The tokenizer file cannot be read or a text cannot be encoded.
    #[error("tokenizer {path}: {message}")]
    Tokenizer {
        /// The `tokenizer.json` file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// A configuration error in `path`.
    pub fn config(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Config {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An error about input tensor `name`.
    pub fn input(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Input {
            name: name.into(),
            message: message.into(),
        }
    }

    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<tch::TchError> for Error {
    fn from(e: tch::TchError) -> Self {
        Self::Core(e.into())
    }
}
