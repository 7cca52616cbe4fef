//! The text conditioning of a run: every prompt it uses, encoded once by the BERT/MiniLM text
//! encoder into MMDiT inputs (context tokens padded to a fixed length, mean-pooled vector), and
//! looked up by prompt index per batch row.

use std::path::Path;

use anyhow::{Context, Result};
use tch::{Device, Kind, Tensor};
use zoo::bert::BertTokenizer;
use zoo::mmdit::text::bert_prompt_embeds;
use zoo::{mmdit, Model};

/// The tokenizer file of a text-encoder directory.
const TOKENIZER_FILE: &str = "tokenizer.json";

/// Encoded prompts: row `i` of both tensors belongs to `prompts[i]`.
#[derive(Debug)]
pub struct Conditioning {
    prompts: Vec<String>,
    /// Context tokens `[P, T, joint_attention_dim]`.
    embeds: Tensor,
    /// Pooled vectors `[P, pooled_projection_dim]`.
    pooled: Tensor,
}

impl Conditioning {
    /// Encodes `prompts` (the empty prompt, for classifier-free guidance, is added first when
    /// missing) with the text encoder in `dir`, each padded or truncated to `max_tokens` tokens
    /// (padding positions are masked in the encoder; their states are context tokens, as SD3
    /// keeps its padding tokens).
    pub fn encode(
        dir: &Path,
        prompts: &[String],
        max_tokens: usize,
        config: &mmdit::Config,
        device: Device,
    ) -> Result<Self> {
        let mut all = vec![String::new()];
        for p in prompts {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        let loaded = zoo::build(dir, None, device)
            .with_context(|| format!("text encoder {}", dir.display()))?;
        let Model::Bert(bert) = &loaded.model else {
            anyhow::bail!(
                "text encoder {}: a BERT model (model_type `bert`) is needed, found `{}`",
                dir.display(),
                loaded.model.model_type()
            );
        };
        let tokenizer = BertTokenizer::from_file(&dir.join(TOKENIZER_FILE), max_tokens)?;
        let texts: Vec<&str> = all.iter().map(String::as_str).collect();
        let encoded = tokenizer.encode(&texts)?;
        let pad = max_tokens as i64 - encoded.input_ids.size()[1];
        let ids = encoded
            .input_ids
            .constant_pad_nd([0, pad])
            .to_device(device);
        let mask = encoded
            .attention_mask
            .constant_pad_nd([0, pad])
            .to_device(device);
        let embeds = tch::no_grad(|| bert_prompt_embeds(bert, &ids, &mask, config))?;
        Ok(Self {
            prompts: all,
            embeds: embeds.prompt_embeds.to_kind(Kind::Float),
            pooled: embeds.pooled_prompt_embeds.to_kind(Kind::Float),
        })
    }

    /// The row of `prompt`.
    pub fn index(&self, prompt: &str) -> Result<i64> {
        self.prompts
            .iter()
            .position(|p| p == prompt)
            .map(|i| i as i64)
            .with_context(|| format!("prompt `{prompt}` was not encoded"))
    }

    /// The device the encoded prompts live on.
    pub fn device(&self) -> Device {
        self.embeds.device()
    }

    /// The row of the empty prompt (the unconditional input).
    pub fn empty(&self) -> i64 {
        0
    }

    /// Context tokens and pooled vectors of `rows` (int64 `[B]` prompt indices).
    pub fn select(&self, rows: &Tensor) -> (Tensor, Tensor) {
        let rows = rows.to_device(self.embeds.device());
        (
            self.embeds.index_select(0, &rows),
            self.pooled.index_select(0, &rows),
        )
    }
}
