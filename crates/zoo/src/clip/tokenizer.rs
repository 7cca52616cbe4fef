//! The CLIP tokenizer: byte-level BPE from a Hugging Face `tokenizer.json` (tools/make_clip_tokenizer.py
//! builds one offline), with `<|startoftext|>`/`<|endoftext|>` around every text, right padding with
//! `<|endoftext|>` and truncation to the context length.

use std::path::{Path, PathBuf};

use tch::{Kind, Tensor};
use tokenizers::Tokenizer;

use crate::error::{Error, Result};
use crate::padded_tokenizer::{read_padded, PadTo};

/// Where `make setup` (tools/make_clip_tokenizer.py) caches the tokenizer, relative to the workspace root.
pub const CACHED_TOKENIZER: &str = ".cache/models/clip-tokenizer/tokenizer.json";

/// CLIP's context length (`max_position_embeddings` of the released text towers).
pub const CONTEXT_LENGTH: usize = 77;

const END_OF_TEXT: &str = "<|endoftext|>";

/// A batch of encoded texts.
#[derive(Debug)]
pub struct Encoded {
    /// `[B, T]` int64 ids, right-padded with `<|endoftext|>` to the longest text.
    pub input_ids: Tensor,
    /// `[B, T]` int64, 1 for real tokens, 0 for padding.
    pub attention_mask: Tensor,
}

/// CLIP's tokenizer, matching transformers' `CLIPTokenizer` ids.
#[derive(Debug)]
pub struct ClipTokenizer {
    inner: Tokenizer,
    path: PathBuf,
}

impl ClipTokenizer {
    /// Reads `tokenizer.json`; texts are truncated to `max_length` tokens (end-of-text kept).
    pub fn from_file(path: &Path, max_length: usize) -> Result<Self> {
        let inner = read_padded(path, END_OF_TEXT, max_length, PadTo::Longest)?;
        Ok(Self {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// Reads `tokenizer.json` as diffusers' SD3 pipeline calls it: every text padded to exactly
    /// `max_length` tokens with `pad_token` (`padding="max_length"`; SD3's CLIP-G pads with `!`).
    pub fn padded_to_length(path: &Path, pad_token: &str, max_length: usize) -> Result<Self> {
        let inner = read_padded(path, pad_token, max_length, PadTo::MaxLength)?;
        Ok(Self {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// Encodes `texts` (at least one) into ids and attention mask, padded as the tokenizer was read.
    pub fn encode(&self, texts: &[&str]) -> Result<Encoded> {
        if texts.is_empty() {
            let message = "no texts to encode".to_string();
            return Err(Error::Tokenizer {
                path: self.path.clone(),
                message,
            });
        }
        let encodings =
            self.inner
                .encode_batch(texts.to_vec(), true)
                .map_err(|e| Error::Tokenizer {
                    path: self.path.clone(),
                    message: e.to_string(),
                })?;
        let rows = encodings.len() as i64;
        let flat = |f: fn(&tokenizers::Encoding) -> &[u32]| {
            let values: Vec<i64> = encodings
                .iter()
                .flat_map(|e| f(e).iter().map(|&v| v as i64))
                .collect();
            Tensor::from_slice(&values)
                .view([rows, -1])
                .to_kind(Kind::Int64)
        };
        Ok(Encoded {
            input_ids: flat(|e| e.get_ids()),
            attention_mask: flat(|e| e.get_attention_mask()),
        })
    }
}
