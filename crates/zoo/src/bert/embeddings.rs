//! `embeddings`: transformers' `BertEmbeddings`, `LayerNorm(word + position + token_type)`.

use tch::{nn, nn::Module, Kind, Tensor};

use super::config::Config;

/// Word, absolute position and token-type embeddings, summed and normalised.
#[derive(Debug)]
pub struct BertEmbeddings {
    word_embeddings: nn::Embedding,
    position_embeddings: nn::Embedding,
    token_type_embeddings: nn::Embedding,
    layer_norm: nn::LayerNorm,
}

impl BertEmbeddings {
    /// `p.{word,position,token_type}_embeddings` and `p.LayerNorm`.
    pub fn new(p: &nn::Path, c: &Config) -> Self {
        let table = |name: &str, rows: i64| {
            nn::embedding(p / name, rows, c.hidden_size, Default::default())
        };
        let norm = nn::LayerNormConfig {
            eps: c.layer_norm_eps,
            ..Default::default()
        };
        Self {
            word_embeddings: table("word_embeddings", c.vocab_size),
            position_embeddings: table("position_embeddings", c.max_position_embeddings),
            token_type_embeddings: table("token_type_embeddings", c.type_vocab_size),
            layer_norm: nn::layer_norm(p / "LayerNorm", vec![c.hidden_size], norm),
        }
    }

    /// `[B, T]` ids and token types → `[B, T, d]`, positions `0…T−1`.
    pub fn forward(&self, input_ids: &Tensor, token_type_ids: &Tensor) -> Tensor {
        let tokens = input_ids.size()[1];
        let positions = Tensor::arange(tokens, (Kind::Int64, input_ids.device())).unsqueeze(0);
        let sum = self.word_embeddings.forward(input_ids)
            + self.position_embeddings.forward(&positions)
            + self.token_type_embeddings.forward(token_type_ids);
        self.layer_norm.forward(&sum)
    }
}
