//! The text conditioning of a run: every prompt it uses, encoded once into MMDiT inputs (context
//! tokens, pooled vector) by a BERT/MiniLM encoder (the embedded default) or by SD3's CLIP pair,
//! and looked up by prompt index per batch row.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use tch::{Device, Kind, Tensor};
use zoo::bert::BertTokenizer;
use zoo::clip::{ClipTokenizer, TextModelWithProjection, CONTEXT_LENGTH};
use zoo::mmdit::text::{bert_prompt_embeds, sd3_clip_prompt_embeds, PromptEmbeds};
use zoo::mmdit::T5Embeds;
use zoo::{mmdit, Model};

use crate::models::TextSource;

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
    /// missing) with `source`: a BERT encoder (`bert`) or SD3's CLIP pair (`sd3_clip`).
    pub fn encode(
        source: &TextSource,
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
        let texts: Vec<&str> = all.iter().map(String::as_str).collect();
        let embeds = match source {
            TextSource::Bert(dir) => bert(dir, &texts, max_tokens, config, device)?,
            TextSource::Sd3Clip(dir) => sd3_clip(dir, &texts, max_tokens, config, device)?,
        };
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

/// The embedded default's conditioning: the BERT/MiniLM encoder in `dir`, each text padded or
/// truncated to `max_tokens` tokens (padding positions are masked in the encoder; their states are
/// context tokens, as SD3 keeps its padding tokens).
fn bert(
    dir: &Path,
    texts: &[&str],
    max_tokens: usize,
    config: &mmdit::Config,
    device: Device,
) -> Result<PromptEmbeds> {
    let loaded =
        zoo::build(dir, None, device).with_context(|| format!("text encoder {}", dir.display()))?;
    let Model::Bert(bert) = &loaded.model else {
        bail!(
            "text encoder {}: a BERT model (model_type `bert`) is needed, found `{}`",
            dir.display(),
            loaded.model.model_type()
        );
    };
    let tokenizer = BertTokenizer::padded_to_length(&dir.join(TOKENIZER_FILE), max_tokens)?;
    let encoded = tokenizer.encode(texts)?;
    let ids = encoded.input_ids.to_device(device);
    let mask = encoded.attention_mask.to_device(device);
    Ok(tch::no_grad(|| {
        bert_prompt_embeds(bert, &ids, &mask, config)
    })?)
}

/// SD3's conditioning as `StableDiffusion3Pipeline.encode_prompt` makes it without T5: CLIP-L
/// (`text_encoder/`, `tokenizer/`) and CLIP-G (`text_encoder_2/`, `tokenizer_2/`) of the pipeline
/// folder `dir`, every text padded to 77 tokens with its tokenizer's `pad_token` (the pipeline's
/// `padding="max_length"`), then `max_tokens` zero T5 tokens.
fn sd3_clip(
    dir: &Path,
    texts: &[&str],
    max_tokens: usize,
    config: &mmdit::Config,
    device: Device,
) -> Result<PromptEmbeds> {
    let tower = |name: &str| {
        let folder = dir.join(name);
        TextModelWithProjection::load(&folder, device)
            .with_context(|| format!("text encoder {}", folder.display()))
    };
    let (_store_l, clip_l) = tower("text_encoder")?;
    let (_store_g, clip_g) = tower("text_encoder_2")?;
    let ids_l = clip_ids(&dir.join("tokenizer"), texts)?.to_device(device);
    let ids_g = clip_ids(&dir.join("tokenizer_2"), texts)?.to_device(device);
    let t5 = T5Embeds::Zeros {
        max_sequence_length: max_tokens as i64,
        joint_attention_dim: config.joint_attention_dim,
    };
    Ok(tch::no_grad(|| {
        sd3_clip_prompt_embeds(&clip_l, &ids_l, &clip_g, &ids_g, t5)
    })?)
}

/// Ids `[B, 77]` of `texts` by the CLIP tokenizer in `folder` (`tokenizer.json`; SD3's folders ship
/// `vocab.json` + `merges.txt`, which tools/sd3_tokenizer_json.py converts), padded with the
/// `pad_token` of its `tokenizer_config.json` (SD3: `<|endoftext|>` for CLIP-L, `!` for CLIP-G).
fn clip_ids(folder: &Path, texts: &[&str]) -> Result<Tensor> {
    let file = folder.join(TOKENIZER_FILE);
    if !file.is_file() {
        bail!(
            "{}: missing; make it from vocab.json and merges.txt with \
             `.venv/bin/python tools/sd3_tokenizer_json.py <pipeline folder>`",
            file.display()
        );
    }
    let config_file = folder.join("tokenizer_config.json");
    let config: Value = formats::run::read_json(&config_file)?;
    let pad = match &config["pad_token"] {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => bail!("{}: field `pad_token` is missing", config_file.display()),
    };
    let tokenizer = ClipTokenizer::padded_to_length(&file, &pad, CONTEXT_LENGTH)?;
    Ok(tokenizer.encode(texts)?.input_ids)
}
