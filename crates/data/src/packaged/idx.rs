//! Reader of gzip-compressed IDX files (the MNIST format): big-endian header, then u8 data.

use std::io::Read;
use std::path::Path;

use flate2::read::GzDecoder;

use crate::error::{DataError, Result};

/// The decoded contents of an IDX file holding unsigned bytes.
#[derive(Debug)]
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    /// Writes `bytes` gzip-compressed to a temp file.
    fn gz(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = dir.join(name);
        let mut enc = GzEncoder::new(std::fs::File::create(&path).unwrap(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap();
        path
    }

    /// An IDX image header for `n` images of 2×3, plus `data_len` zero bytes.
    fn images(n: u32, data_len: usize) -> Vec<u8> {
        let mut b = vec![0, 0, 8, 3];
        for d in [n, 2, 3] {
            b.extend_from_slice(&d.to_be_bytes());
        }
        b.resize(b.len() + data_len, 0);
        b
    }

    #[test]
    fn reads_a_well_formed_file() {
        let tmp = tempfile::tempdir().unwrap();
        let idx = read_idx_gz(&gz(tmp.path(), "ok.gz", &images(2, 12)), 3).unwrap();
        assert_eq!(idx.dims, [2, 2, 3]);
        assert_eq!(idx.data.len(), 12);
    }

    #[test]
    fn truncated_wrong_magic_and_trailing_bytes_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let msg = read_idx_gz(&gz(tmp.path(), "short.gz", &images(2, 7)), 3)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("truncated IDX file") && msg.contains("short.gz"),
            "{msg}"
        );
        assert!(msg.contains("12 bytes") && msg.contains("found 7"), "{msg}");
        let msg = read_idx_gz(&gz(tmp.path(), "head.gz", &[0, 0, 8]), 3)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("truncated IDX file") && msg.contains("head.gz"),
            "{msg}"
        );
        let msg = read_idx_gz(&gz(tmp.path(), "rank.gz", &images(2, 12)), 1)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("rank.gz") && msg.contains("IDX magic"),
            "{msg}"
        );
        let msg = read_idx_gz(&gz(tmp.path(), "long.gz", &images(1, 9)), 3)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("long.gz") && msg.contains("3 bytes after"),
            "{msg}"
        );
    }
}
