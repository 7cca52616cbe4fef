//! Where an image comes from: a file on disk, or pixels already in memory (packaged data).

use std::path::PathBuf;
use std::sync::Arc;

use image::DynamicImage;

use crate::error::{DataError, Result};

/// The source of one image; decoding happens only when [`ImageSource::load`] is called.
#[derive(Debug, Clone)]
pub enum ImageSource {
    /// An image file (any format the `image` crate decodes: JPEG, PNG, BMP, GIF, TIFF, WebP).
    File(PathBuf),
    /// Decoded pixels held in memory (Fashion-MNIST, digits, faces).
    Memory(Arc<DynamicImage>),
}

impl ImageSource {
    /// Decodes (or clones) the image; a file that cannot be opened or decoded is named in the error.
    pub fn load(&self) -> Result<DynamicImage> {
        match self {
            Self::File(path) => image::ImageReader::open(path)
                .map_err(|e| DataError::io(path, e))?
                .with_guessed_format()
                .map_err(|e| DataError::io(path, e))?
                .decode()
                .map_err(|source| DataError::Image {
                    path: path.clone(),
                    source,
                }),
            Self::Memory(image) => Ok(image.as_ref().clone()),
        }
    }
}

/// One labelled example of a data set.
#[derive(Debug, Clone)]
pub struct Item {
    /// Where the pixels come from.
    pub source: ImageSource,
    /// The class index, in `0..num_classes`.
    pub label: usize,
}
