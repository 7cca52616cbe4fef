//! SD3's text conditioning: `StableDiffusion3Pipeline.encode_prompt` with two tiny random CLIP text
//! encoders and no T5 (fixtures by tools/fixtures/make_sd3_text_fixtures.py), fp32 ≤ 1e-5 relative;
//! prompt embeddings read from a safetensors file, with named errors; and the BERT/MiniLM
//! conditioning of the embedded default (token states and their mean, zero-padded).
mod common;

use std::path::Path;

use common::{assert_matches, fixture, tensors, TOLERANCE};
use serial_lora::checkpoint::save_tensors;
use tch::{Device, Kind, Tensor};
use zoo::clip::TextModelWithProjection;
use zoo::mmdit::text::{bert_prompt_embeds, sd3_clip_prompt_embeds};
use zoo::mmdit::{Config, PromptEmbeds, T5Embeds};
use zoo::{Architecture, Model, Tensors};

fn sd3_tiny_config() -> Config {
    match Architecture::from_dir(&fixture("sd3_tiny")).unwrap() {
        Architecture::Sd3Transformer(c) => c,
        other => panic!("not an SD3 transformer: {other:?}"),
    }
}

fn as_tensors(embeds: PromptEmbeds) -> Tensors {
    Tensors::from([
        ("prompt_embeds".to_string(), embeds.prompt_embeds),
        (
            "pooled_prompt_embeds".to_string(),
            embeds.pooled_prompt_embeds,
        ),
    ])
}

#[test]
fn clip_l_and_g_without_t5_match_diffusers_encode_prompt() {
    let dir = fixture("sd3_text");
    let (_store_l, clip_l) =
        TextModelWithProjection::load(&dir.join("clip_l"), Device::Cpu).unwrap();
    let (_store_g, clip_g) =
        TextModelWithProjection::load(&dir.join("clip_g"), Device::Cpu).unwrap();
    let inputs = tensors(&dir.join("inputs.safetensors"));
    let config = sd3_tiny_config();
    let embeds = tch::no_grad(|| {
        sd3_clip_prompt_embeds(
            &clip_l,
            &inputs["input_ids_l"],
            &clip_g,
            &inputs["input_ids_g"],
            T5Embeds::Zeros {
                max_sequence_length: 5,
                joint_attention_dim: config.joint_attention_dim,
            },
        )
        .unwrap()
    });
    embeds.check(&config).unwrap();
    assert_eq!(embeds.prompt_embeds.size(), [2, 77 + 5, 20]);
    let padding = embeds.prompt_embeds.narrow(2, 16, 4).abs().max();
    assert_eq!(
        padding.double_value(&[]),
        0.0,
        "CLIP's 16 channels padded to 20"
    );
    assert_matches(
        "sd3_text encode_prompt",
        &as_tensors(embeds),
        &tensors(&dir.join("outputs.safetensors")),
        TOLERANCE,
    );
}

fn write(dir: &Path, tensors: &[(&str, Tensor)]) -> std::path::PathBuf {
    let file = dir.join("prompt.safetensors");
    let tensors: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| (n.to_string(), t.shallow_clone()))
        .collect();
    save_tensors(&file, &tensors).unwrap();
    file
}

#[test]
fn prompt_embeddings_read_from_a_file_with_named_errors() {
    let config = sd3_tiny_config();
    let tmp = tempfile::tempdir().unwrap();
    let f = (Kind::Float, Device::Cpu);
    let tokens = Tensor::randn([2, 7, 20], f);
    let pooled = Tensor::randn([2, 12], f);
    let file = write(
        tmp.path(),
        &[
            ("prompt_embeds", tokens.shallow_clone()),
            ("pooled_prompt_embeds", pooled.shallow_clone()),
        ],
    );
    let read = PromptEmbeds::read(&file, &config).unwrap();
    assert!(read.prompt_embeds.equal(&tokens) && read.pooled_prompt_embeds.equal(&pooled));

    let error = |tensors: &[(&str, Tensor)]| {
        PromptEmbeds::read(&write(tmp.path(), tensors), &config)
            .unwrap_err()
            .to_string()
    };
    let e = error(&[("prompt_embeds", tokens.shallow_clone())]);
    assert!(e.contains("tensor `pooled_prompt_embeds`: missing"), "{e}");
    let e = error(&[
        ("prompt_embeds", Tensor::randn([2, 7, 16], f)),
        ("pooled_prompt_embeds", pooled.shallow_clone()),
    ]);
    assert!(
        e.contains("prompt_embeds") && e.contains("joint_attention_dim = 20"),
        "{e}"
    );
    let e = error(&[
        ("prompt_embeds", tokens.shallow_clone()),
        ("pooled_prompt_embeds", Tensor::randn([3, 12], f)),
    ]);
    assert!(
        e.contains("pooled_prompt_embeds") && e.contains("B = 2"),
        "{e}"
    );
    let e = error(&[
        ("prompt_embeds", tokens.shallow_clone()),
        ("pooled_prompt_embeds", pooled.shallow_clone()),
        ("negative_prompt_embeds", tokens.shallow_clone()),
    ]);
    assert!(e.contains("tensor `negative_prompt_embeds`"), "{e}");
}

#[test]
fn bert_conditioning_is_its_token_states_and_their_mean_padded() {
    let dir = fixture("bert_tiny");
    let loaded = zoo::load(&dir, None, Device::Cpu).unwrap();
    let Model::Bert(bert) = &loaded.model else {
        panic!("bert_tiny is not a BERT")
    };
    let inputs = tensors(&dir.join("inputs.safetensors"));
    let (ids, mask) = (&inputs["input_ids"], &inputs["attention_mask"]);
    let config = Config {
        pooled_projection_dim: 24,
        ..sd3_tiny_config()
    };
    let embeds = tch::no_grad(|| bert_prompt_embeds(bert, ids, mask, &config).unwrap());
    embeds.check(&config).unwrap();
    let out = tch::no_grad(|| bert.forward_t(ids, Some(mask), None, false));
    let width = bert.config.hidden_size;
    assert!(embeds
        .prompt_embeds
        .narrow(2, 0, width)
        .equal(&out.last_hidden_state));
    assert!(embeds
        .pooled_prompt_embeds
        .narrow(1, 0, width)
        .equal(&zoo::bert::mean_pool(&out.last_hidden_state, mask)));
    for (t, full) in [
        (&embeds.prompt_embeds, 20),
        (&embeds.pooled_prompt_embeds, 24),
    ] {
        let pad = t
            .narrow(-1, width, full - width)
            .abs()
            .max()
            .double_value(&[]);
        assert_eq!(pad, 0.0, "zero padding beyond the encoder's width");
    }
    let narrow = Config {
        pooled_projection_dim: 12,
        ..config
    };
    let e = bert_prompt_embeds(bert, ids, mask, &narrow)
        .unwrap_err()
        .to_string();
    assert!(e.contains("pooled_projection_dim"), "{e}");
}
