//! transformers' `BertModel`: embeddings, post-LN encoder layers over the non-padding tokens, the
//! `pooler` (`tanh(dense(h_[CLS]))`), and sentence-transformers' mean pooling.

use serial_lora::SitePath;
use tch::{nn, nn::Module, Kind, Tensor};

use super::config::Config;
use super::embeddings::BertEmbeddings;
use super::layer::BertLayer;
use crate::error::{Error, Result};
use crate::model::Tensors;

/// Output of a BERT encoder.
#[derive(Debug)]
pub struct BertOutput {
    /// Every token's final state, `[B, T, d]`.
    pub last_hidden_state: Tensor,
    /// `tanh(pooler.dense(h_[CLS]))`, `[B, d]`.
    pub pooler_output: Tensor,
    /// The mean of the states of the non-padding tokens ([`mean_pool`]), `[B, d]`.
    pub sentence_embedding: Tensor,
}

/// sentence-transformers' mean pooling: `Σ_t m_t·h_t / max(Σ_t m_t, 1e-9)` of states `[B, T, d]`
/// under the attention mask `[B, T]` (1 for real tokens).
pub fn mean_pool(last_hidden_state: &Tensor, attention_mask: &Tensor) -> Tensor {
    let mask = attention_mask
        .to_kind(last_hidden_state.kind())
        .unsqueeze(-1);
    let sum = (last_hidden_state * &mask).sum_dim_intlist(1, false, None);
    sum / mask.sum_dim_intlist(1, false, None).clamp_min(1e-9)
}

/// The BERT encoder (checkpoint names `embeddings.*`, `encoder.layer.<i>.*`, `pooler.dense`).
#[derive(Debug)]
pub struct BertModel {
    embeddings: BertEmbeddings,
    layers: Vec<BertLayer>,
    pooler: nn::Linear,
    /// The configuration it was built from.
    pub config: Config,
}

/// Checks that `t` is an integer `[B, T]` tensor of the same shape as `input_ids` with values in
/// `0..bound`.
fn check_ids(name: &str, t: &Tensor, shape: &[i64], bound: i64) -> Result<()> {
    if t.is_floating_point() || t.size() != shape {
        return Err(Error::input(
            name,
            format!(
                "expected integer {shape:?} (as input_ids), got {:?} {:?}",
                t.kind(),
                t.size()
            ),
        ));
    }
    let (low, high) = (t.min().int64_value(&[]), t.max().int64_value(&[]));
    if low < 0 || high >= bound {
        return Err(Error::input(
            name,
            format!("values span {low}..={high}, outside 0..{bound}"),
        ));
    }
    Ok(())
}

impl BertModel {
    /// Builds the model at `p` (the checkpoint root); its adapter sites follow the store's plan.
    pub fn new(p: &SitePath, c: &Config) -> Result<Self> {
        c.check()
            .map_err(|message| Error::config("bert", message))?;
        let layer = p / "encoder" / "layer";
        let layers = (0..c.num_hidden_layers)
            .map(|i| BertLayer::new(&layer.layer(i, i), c))
            .collect::<Result<_>>()?;
        let d = c.hidden_size;
        Ok(Self {
            embeddings: BertEmbeddings::new(&(p.base() / "embeddings"), c),
            layers,
            pooler: nn::linear(p.base() / "pooler" / "dense", d, d, Default::default()),
            config: c.clone(),
        })
    }

    /// Checks `input_ids` (integer `[B, T]`, `1 ≤ T ≤ max_position_embeddings`, ids in the
    /// vocabulary) and, if given, `attention_mask` (0/1) and `token_type_ids` of the same shape.
    pub fn check_input(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        token_type_ids: Option<&Tensor>,
    ) -> Result<()> {
        let c = &self.config;
        let size = input_ids.size();
        if size.len() != 2 || size[0] < 1 || size[1] < 1 || size[1] > c.max_position_embeddings {
            return Err(Error::input(
                "input_ids",
                format!(
                    "expected integer [batch, tokens ≤ {}], got {size:?}",
                    c.max_position_embeddings
                ),
            ));
        }
        check_ids("input_ids", input_ids, &size, c.vocab_size)?;
        if let Some(mask) = attention_mask {
            check_ids("attention_mask", mask, &size, 2)?;
        }
        if let Some(types) = token_type_ids {
            check_ids("token_type_ids", types, &size, c.type_vocab_size)?;
        }
        Ok(())
    }

    /// Runs the encoder (see [`check_input`](Self::check_input)); a missing `attention_mask` means
    /// every token is real, missing `token_type_ids` are 0.
    pub fn forward_t(
        &self,
        input_ids: &Tensor,
        attention_mask: Option<&Tensor>,
        token_type_ids: Option<&Tensor>,
        train: bool,
    ) -> BertOutput {
        let mask = attention_mask.map_or_else(|| input_ids.ones_like(), Tensor::shallow_clone);
        let types = token_type_ids.map_or_else(|| input_ids.zeros_like(), Tensor::shallow_clone);
        let keys = mask.ne(0).unsqueeze(1).unsqueeze(1);
        let x = self.embeddings.forward(input_ids, &types);
        let last_hidden_state = self
            .layers
            .iter()
            .fold(x, |x, layer| layer.forward_t(&x, &keys, train));
        let cls = last_hidden_state.select(1, 0);
        BertOutput {
            pooler_output: self.pooler.forward(&cls).tanh(),
            sentence_embedding: mean_pool(&last_hidden_state, &mask),
            last_hidden_state,
        }
    }

    /// Runs the model on transformers' input names (`input_ids`, optional `attention_mask` and
    /// `token_type_ids`, any integer kind) and returns `last_hidden_state`, `pooler_output` and
    /// `sentence_embedding`.
    pub fn forward_named(&self, inputs: &Tensors) -> Result<Tensors> {
        let int64 = |t: &Tensor| {
            if t.is_floating_point() {
                t.shallow_clone()
            } else {
                t.to_kind(Kind::Int64)
            }
        };
        let input_ids = int64(
            inputs
                .get("input_ids")
                .ok_or_else(|| Error::input("input_ids", "missing"))?,
        );
        let mask = inputs.get("attention_mask").map(int64);
        let types = inputs.get("token_type_ids").map(int64);
        self.check_input(&input_ids, mask.as_ref(), types.as_ref())?;
        let out = self.forward_t(&input_ids, mask.as_ref(), types.as_ref(), false);
        Ok(Tensors::from([
            ("last_hidden_state".into(), out.last_hidden_state),
            ("pooler_output".into(), out.pooler_output),
            ("sentence_embedding".into(), out.sentence_embedding),
        ]))
    }
}
