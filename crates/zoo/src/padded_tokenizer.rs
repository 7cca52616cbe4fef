//! What every text tower's tokenizer shares: a Hugging Face `tokenizer.json` set to pad a batch on
//! the right (to its longest text, or to a fixed length) and to truncate to the model's positions.

use std::path::Path;

use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::error::{Error, Result};

/// How far a batch is padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadTo {
    /// To the batch's longest text.
    Longest,
    /// To `max_length` tokens (transformers' `padding="max_length"`).
    MaxLength,
}

/// Reads the tokenizer at `path`, padding with `pad_token` (which must be in its vocabulary) as
/// `pad_to` says and truncating to `max_length` tokens; errors name the file.
pub fn read_padded(
    path: &Path,
    pad_token: &str,
    max_length: usize,
    pad_to: PadTo,
) -> Result<Tokenizer> {
    let error = |message: String| Error::Tokenizer {
        path: path.to_path_buf(),
        message,
    };
    let mut inner = Tokenizer::from_file(path).map_err(|e| error(e.to_string()))?;
    let pad_id = inner
        .token_to_id(pad_token)
        .ok_or_else(|| error(format!("no `{pad_token}` token")))?;
    let padding = PaddingParams {
        strategy: match pad_to {
            PadTo::Longest => PaddingStrategy::BatchLongest,
            PadTo::MaxLength => PaddingStrategy::Fixed(max_length),
        },
        pad_id,
        pad_token: pad_token.into(),
        ..Default::default()
    };
    let truncation = TruncationParams {
        max_length,
        ..Default::default()
    };
    inner
        .with_padding(Some(padding))
        .with_truncation(Some(truncation))
        .map_err(|e| error(e.to_string()))?;
    Ok(inner)
}
