//! CLIP's text tower (transformers' `CLIPTextModel`): token + position embeddings, causal
//! (and padding) masked encoder, `final_layer_norm`, pooling at the end-of-text token.

use serial_lora::SitePath;
use tch::{nn, nn::Module, Kind, Tensor};

use super::config::TextConfig;
use super::vision::CLIP_BLOCK;
use crate::error::{Error, Result};
use crate::vit::Encoder;

/// Output of a CLIP text tower.
#[derive(Debug)]
pub struct TextOutput {
    /// Every token after `final_layer_norm`, `[B, T, d]`.
    pub last_hidden_state: Tensor,
    /// The end-of-text token's state, `[B, d]`.
    pub pooler_output: Tensor,
    /// transformers' `hidden_states`: the embeddings, then every block's output (before
    /// `final_layer_norm`), each `[B, T, d]`; SD3 conditions on the penultimate one.
    pub hidden_states: Vec<Tensor>,
}

/// The text tower at `p` (checkpoint root for `CLIPTextModel`, `text_model` inside `CLIPModel`).
#[derive(Debug)]
pub struct TextTransformer {
    token_embedding: Tensor,
    position_embedding: Tensor,
    encoder: Encoder,
    final_layer_norm: nn::LayerNorm,
    config: TextConfig,
}

impl TextTransformer {
    /// Builds the tower; its adapter sites follow the store's plan.
    pub fn new(p: &SitePath, c: &TextConfig) -> Result<Self> {
        let e = p.base() / "embeddings";
        let norm = nn::LayerNormConfig {
            eps: c.layer_norm_eps,
            ..Default::default()
        };
        Ok(Self {
            token_embedding: nn::embedding(
                &e / "token_embedding",
                c.vocab_size,
                c.hidden_size,
                Default::default(),
            )
            .ws,
            position_embedding: nn::embedding(
                &e / "position_embedding",
                c.max_position_embeddings,
                c.hidden_size,
                Default::default(),
            )
            .ws,
            encoder: Encoder::new(
                &(p / "encoder"),
                "layers",
                c.num_hidden_layers,
                &c.block(),
                &CLIP_BLOCK,
            )?,
            final_layer_norm: nn::layer_norm(
                p.base() / "final_layer_norm",
                vec![c.hidden_size],
                norm,
            ),
            config: c.clone(),
        })
    }

    /// Checks that `input_ids` is integer `[B, T]` with `1 ≤ T ≤ max_position_embeddings` and ids in the
    /// vocabulary, and that `attention_mask`, if given, has the same shape.
    pub fn check_input(&self, input_ids: &Tensor, attention_mask: Option<&Tensor>) -> Result<()> {
        let c = &self.config;
        let size = input_ids.size();
        if size.len() != 2
            || size[0] < 1
            || size[1] < 1
            || size[1] > c.max_position_embeddings
            || input_ids.is_floating_point()
        {
            let message = format!(
                "expected integer [batch, tokens ≤ {}], got {:?} {size:?}",
                c.max_position_embeddings,
                input_ids.kind()
            );
            return Err(Error::input("input_ids", message));
        }
        let (low, high) = (
            input_ids.min().int64_value(&[]),
            input_ids.max().int64_value(&[]),
        );
        if low < 0 || high >= c.vocab_size {
            return Err(Error::input(
                "input_ids",
                format!(
                    "ids span {low}..={high}, outside the vocabulary 0..{}",
                    c.vocab_size
                ),
            ));
        }
        if let Some(mask) = attention_mask {
            if mask.size() != size {
                return Err(Error::input(
                    "attention_mask",
                    format!("shape {:?} differs from input_ids {size:?}", mask.size()),
                ));
            }
        }
        Ok(())
    }

    /// Boolean `[B, 1, T, T]` mask: token `i` sees token `j ≤ i` unless `j` is padding.
    fn causal_padding_mask(attention_mask: &Tensor) -> Tensor {
        let tokens = attention_mask.size()[1];
        let causal = Tensor::ones([tokens, tokens], (Kind::Bool, attention_mask.device())).tril(0);
        let keys = attention_mask.ne(0).unsqueeze(1).unsqueeze(1);
        keys.logical_and(&causal)
    }

    /// Where each sequence is pooled: the largest id when `eos_token_id` is 2 (OpenAI's configs), else
    /// the first `eos_token_id` (first position when absent), as transformers does.
    fn eos_positions(&self, input_ids: &Tensor) -> Tensor {
        if self.config.eos_token_id == 2 {
            input_ids.argmax(-1, false)
        } else {
            input_ids
                .eq(self.config.eos_token_id)
                .to_kind(Kind::Int)
                .argmax(-1, false)
        }
    }

    /// Runs the tower (see [`check_input`](Self::check_input)); `attention_mask` marks real tokens with 1.
    pub fn forward_t(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        train: bool,
    ) -> TextOutput {
        let tokens = input_ids.size()[1];
        let positions = self.position_embedding.narrow(0, 0, tokens).unsqueeze(0);
        let x = self
            .token_embedding
            .index_select(0, &input_ids.flatten(0, -1))
            .view([input_ids.size()[0], tokens, -1])
            + positions;
        let blocks = match attention_mask {
            Some(mask) => {
                let mask = Self::causal_padding_mask(mask);
                self.encoder.forward_states(&x, Some(&mask), false, train)
            }
            None => self.encoder.forward_states(&x, None, true, train),
        };
        let hidden_states: Vec<Tensor> = std::iter::once(x).chain(blocks).collect();
        let last = hidden_states.last().expect("the embeddings at least");
        let last_hidden_state = self.final_layer_norm.forward(last);
        let rows = Tensor::arange(input_ids.size()[0], (Kind::Int64, input_ids.device()));
        let pooler_output =
            last_hidden_state.index(&[Some(rows), Some(self.eos_positions(input_ids))]);
        TextOutput {
            last_hidden_state,
            pooler_output,
            hidden_states,
        }
    }
}
