//! Reader of gzip-compressed IDX files (the MNIST format): big-endian header, then u8 data.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use crate::error::{DataError, Result};

/// The decoded contents of an IDX file holding unsigned bytes.
pub(crate) struct Idx {
    /// Dimension sizes from the header (`[n]` for labels, `[n, rows, cols]` for images).
    pub dims: Vec<usize>,
    /// The data, row-major.
    pub data: Vec<u8>,
}

/// Reads a `.gz` IDX file of `expected_rank` dimensions and u8 data (type code 0x08), checking the
/// magic number and that the data is as long as the header announces.
pub(crate) fn read_idx_gz(path: &Path, expected_rank: u8) -> Result<Idx> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut bytes = Vec::new();
    GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| DataError::io(path, e))?;
    let header_len = 4 + 4 * usize::from(expected_rank);
    if bytes.len() < header_len {
        return Err(DataError::TruncatedIdx {
            path: path.to_path_buf(),
            expected: header_len,
            found: bytes.len(),
        });
    }
    let magic = [0, 0, 0x08, expected_rank];
    if bytes[..4] != magic {
        return Err(DataError::malformed(
            path,
            format!(
                "IDX magic is {:02x?}, expected {magic:02x?} (u8 data, rank {expected_rank})",
                &bytes[..4]
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected: usize = dims.iter().product();
    let found = bytes.len() - header_len;
    if found > expected {
        return Err(DataError::malformed(
            path,
            format!(
                "{} bytes after the {expected} the header announces",
                found - expected
            ),
        ));
    }
    if found < expected {
        return Err(DataError::TruncatedIdx {
            path: path.to_path_buf(),
            expected,
            found,
        });
    }
    bytes.drain(..header_len);
    Ok(Idx { dims, data: bytes })
}
