//! BERT's WordPiece tokenizer from the model's `tokenizer.json` (normaliser, pre-tokenizer and the
//! `[CLS] … [SEP]` template as the file defines them), right padding with `[PAD]` to the longest text
//! and truncation to the model's positions.

use std::path::{Path, PathBuf};

use tch::{Kind, Tensor};
use tokenizers::Tokenizer;

use crate::error::{Error, Result};
use crate::padded_tokenizer::{read_padded, PadTo};

/// BERT's padding token.
const PAD: &str = "[PAD]";

/// A batch of encoded texts.
#[derive(Debug)]
pub struct Encoded {
    /// `[B, T]` int64 ids, right-padded with `[PAD]` to the longest text.
    pub input_ids: Tensor,
    /// `[B, T]` int64, 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor,
    /// `[B, T]` int64 segment ids (0 for single texts).
    pub token_type_ids: Tensor,
}

/// A BERT tokenizer, matching transformers' `BertTokenizerFast` ids for single texts.
#[derive(Debug)]
pub struct BertTokenizer {
    inner: Tokenizer,
    path: PathBuf,
}

impl BertTokenizer {
    /// Reads `tokenizer.json`; texts are truncated to `max_length` tokens (`[SEP]` kept).
    pub fn from_file(path: &Path, max_length: usize) -> Result<Self> {
        let inner = read_padded(path, PAD, max_length, PadTo::Longest)?;
        Ok(Self {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// Reads `tokenizer.json` padding every text to exactly `max_length` tokens with `[PAD]`
    /// (transformers' `padding="max_length"`), truncating longer ones.
    pub fn padded_to_length(path: &Path, max_length: usize) -> Result<Self> {
        let inner = read_padded(path, PAD, max_length, PadTo::MaxLength)?;
        Ok(Self {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// Encodes `texts` (at least one) into ids, attention mask and token types, padded as the
    /// tokenizer was read.
    pub fn encode(&self, texts: &[&str]) -> Result<Encoded> {
        let error = |message: String| Error::Tokenizer {
            path: self.path.clone(),
            message,
        };
        if texts.is_empty() {
            return Err(error("no texts to encode".into()));
        }
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| error(e.to_string()))?;
        let rows = encodings.len() as i64;
        let flat = |f: fn(&tokenizers::Encoding) -> &[u32]| {
            let values: Vec<i64> = encodings
                .iter()
                .flat_map(|e| f(e).iter().map(|&v| i64::from(v)))
                .collect();
            Tensor::from_slice(&values)
                .view([rows, -1])
                .to_kind(Kind::Int64)
        };
        Ok(Encoded {
            input_ids: flat(|e| e.get_ids()),
            attention_mask: flat(|e| e.get_attention_mask()),
            token_type_ids: flat(|e| e.get_type_ids()),
        })
    }
}
