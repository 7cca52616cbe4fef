//! Errors of the file formats: every variant names the file or field at fault.

use std::path::PathBuf;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while reading or writing a format.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read, written or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A configuration field is invalid, unknown or inconsistent.
    #[error("{}field `{field}`: {message}", source_file.as_ref().map(|p| format!("{}: ", p.display())).unwrap_or_default())]
    Config {
        /// The file it came from, where known.
        source_file: Option<PathBuf>,
        /// The field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Fields outside their allowed ranges, every one named with its value and the range.
    #[error("{} invalid field(s): {}", .0.len(), .0.join("; "))]
    Ranges(Vec<String>),
    /// A file's content cannot be parsed (JSON, CSV) or is inconsistent.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// A configuration error on `field`, not tied to a file.
    pub fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            source_file: None,
            field: field.into(),
            message: message.into(),
        }
    }

    /// Attaches the file a configuration error came from.
    pub fn in_file(self, file: impl Into<PathBuf>) -> Self {
        match self {
            Self::Config {
                source_file: None,
                field,
                message,
            } => Self::Config {
                source_file: Some(file.into()),
                field,
                message,
            },
            other => other,
        }
    }

    /// Wraps an I/O error with its path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A parse error in `path`.
    pub fn parse(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::Parse {
            path: path.into(),
            message: message.into(),
        }
    }
}
