//! Text conditioning of the MMDiT: `prompt_embeds` `[B, T, joint_attention_dim]` (the context
//! tokens) and `pooled_prompt_embeds` `[B, pooled_projection_dim]`, from a safetensors file, from
//! SD3's two CLIP text encoders as `StableDiffusion3Pipeline.encode_prompt` combines them, or from
//! a BERT/MiniLM encoder (the embedded default's conditioning).

use std::path::Path;

use serial_lora::checkpoint::read_tensors;
use tch::{Kind, Tensor};

use super::config::Config;
use crate::bert::BertModel;
use crate::clip::TextModelWithProjection;
use crate::error::{Error, Result};

/// Name of the context tokens in a prompt-embeddings file (diffusers' argument name).
pub const PROMPT_EMBEDS: &str = "prompt_embeds";
/// Name of the pooled vector in a prompt-embeddings file (diffusers' argument name).
pub const POOLED_PROMPT_EMBEDS: &str = "pooled_prompt_embeds";

/// The two conditioning inputs of [`super::SD3Transformer2DModel`].
#[derive(Debug)]
pub struct PromptEmbeds {
    /// Context tokens, `[B, T, joint_attention_dim]` (`encoder_hidden_states`).
    pub prompt_embeds: Tensor,
    /// Pooled text, `[B, pooled_projection_dim]` (`pooled_projections`).
    pub pooled_prompt_embeds: Tensor,
}

impl PromptEmbeds {
    /// Checks the shapes against `config`; the error names the tensor at fault.
    pub fn check(&self, config: &Config) -> Result<()> {
        let (tokens, pooled) = (&self.prompt_embeds, &self.pooled_prompt_embeds);
        let t = tokens.size();
        if !tokens.is_floating_point()
            || t.len() != 3
            || t[1] < 1
            || t[2] != config.joint_attention_dim
        {
            return Err(Error::input(
                PROMPT_EMBEDS,
                format!(
                    "expected float [B, T, joint_attention_dim = {}], got {:?} {t:?}",
                    config.joint_attention_dim,
                    tokens.kind()
                ),
            ));
        }
        if !pooled.is_floating_point() || pooled.size() != [t[0], config.pooled_projection_dim] {
            return Err(Error::input(
                POOLED_PROMPT_EMBEDS,
                format!(
                    "expected float [B = {}, pooled_projection_dim = {}], got {:?} {:?}",
                    t[0],
                    config.pooled_projection_dim,
                    pooled.kind(),
                    pooled.size()
                ),
            ));
        }
        Ok(())
    }

    /// Reads `prompt_embeds` and `pooled_prompt_embeds` (fp32) from a safetensors file and checks
    /// them against `config`; other tensors in the file are refused by name.
    pub fn read(path: &Path, config: &Config) -> Result<Self> {
        let mut tensors = read_tensors(path)?;
        if let Some(other) = tensors
            .keys()
            .find(|k| ![PROMPT_EMBEDS, POOLED_PROMPT_EMBEDS].contains(&k.as_str()))
        {
            return Err(Error::config(
                path,
                format!("tensor `{other}`: not `{PROMPT_EMBEDS}` or `{POOLED_PROMPT_EMBEDS}`"),
            ));
        }
        let mut take = |name: &str| {
            tensors
                .remove(name)
                .map(|t| t.to_kind(Kind::Float))
                .ok_or_else(|| Error::config(path, format!("tensor `{name}`: missing")))
        };
        let embeds = Self {
            prompt_embeds: take(PROMPT_EMBEDS)?,
            pooled_prompt_embeds: take(POOLED_PROMPT_EMBEDS)?,
        };
        embeds
            .check(config)
            .map_err(|e| Error::config(path, e.to_string()))?;
        Ok(embeds)
    }
}

/// The T5 part of SD3's context: `text_encoder_3`'s states `[B, T5, joint_attention_dim]`, or, as
/// the pipeline does without T5, zeros of that shape.
#[derive(Debug)]
pub enum T5Embeds<'a> {
    /// The T5 encoder's states.
    Given(&'a Tensor),
    /// No T5: `max_sequence_length` zero tokens of width `joint_attention_dim`.
    Zeros {
        /// Tokens (the pipeline's `max_sequence_length`, 256 by default).
        max_sequence_length: i64,
        /// Width (the transformer's `joint_attention_dim`).
        joint_attention_dim: i64,
    },
}

/// `_get_clip_prompt_embeds` for one encoder: the penultimate hidden state `[B, T, d]` and the
/// projected pooled state `[B, p]` (no attention mask, as the pipeline calls it).
fn clip_embeds(encoder: &TextModelWithProjection, input_ids: &Tensor) -> (Tensor, Tensor) {
    let (out, text_embeds) = encoder.forward_t(input_ids, None, false);
    let penultimate = out.hidden_states.len() - 2;
    (out.hidden_states[penultimate].shallow_clone(), text_embeds)
}

/// `StableDiffusion3Pipeline.encode_prompt` (no guidance, clip_skip none): CLIP-L's and CLIP-G's
/// penultimate states concatenated on the feature axis, zero-padded to T5's width and followed by
/// T5's tokens; pooled is the concatenation of both projected pooled states. `input_ids_l` and
/// `input_ids_g` are the two tokenizers' ids `[B, 77]`.
pub fn sd3_clip_prompt_embeds(
    clip_l: &TextModelWithProjection,
    input_ids_l: &Tensor,
    clip_g: &TextModelWithProjection,
    input_ids_g: &Tensor,
    t5: T5Embeds,
) -> Result<PromptEmbeds> {
    let (states_l, pooled_l) = clip_embeds(clip_l, input_ids_l);
    let (states_g, pooled_g) = clip_embeds(clip_g, input_ids_g);
    let clip = Tensor::cat(&[states_l, states_g], -1);
    let t5 = match t5 {
        T5Embeds::Given(t) => t.shallow_clone(),
        T5Embeds::Zeros {
            max_sequence_length,
            joint_attention_dim,
        } => Tensor::zeros(
            [clip.size()[0], max_sequence_length, joint_attention_dim],
            (clip.kind(), clip.device()),
        ),
    };
    let (width, t5_width) = (clip.size()[2], t5.size()[2]);
    if width > t5_width {
        return Err(Error::input(
            "text_encoder_3",
            format!("T5 width {t5_width} is narrower than the CLIP states' {width}"),
        ));
    }
    let clip = clip.constant_pad_nd([0, t5_width - width]);
    Ok(PromptEmbeds {
        prompt_embeds: Tensor::cat(&[clip, t5], 1),
        pooled_prompt_embeds: Tensor::cat(&[pooled_l, pooled_g], -1),
    })
}

/// The embedded default's conditioning from a BERT/MiniLM encoder: its token states as the context
/// and their mean-pooled vector (sentence-transformers' pooling, [`crate::bert::mean_pool`]) as the pooled input, each
/// zero-padded to `joint_attention_dim` / `pooled_projection_dim` (the encoder must not be wider).
pub fn bert_prompt_embeds(
    bert: &BertModel,
    input_ids: &Tensor,
    attention_mask: &Tensor,
    config: &Config,
) -> Result<PromptEmbeds> {
    let width = bert.config.hidden_size;
    for (field, target) in [
        ("joint_attention_dim", config.joint_attention_dim),
        ("pooled_projection_dim", config.pooled_projection_dim),
    ] {
        if target < width {
            return Err(Error::input(
                field,
                format!("{target} is narrower than the text encoder's hidden_size {width}"),
            ));
        }
    }
    bert.check_input(input_ids, Some(attention_mask), None)?;
    let out = bert.forward_t(input_ids, Some(attention_mask), None, false);
    let pooled = out.sentence_embedding;
    Ok(PromptEmbeds {
        prompt_embeds: out
            .last_hidden_state
            .constant_pad_nd([0, config.joint_attention_dim - width]),
        pooled_prompt_embeds: pooled.constant_pad_nd([0, config.pooled_projection_dim - width]),
    })
}
