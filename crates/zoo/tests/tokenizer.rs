//! The CLIP tokenizer gives transformers' `CLIPTokenizer` ids (reference made by
//! tools/fixtures/make_zoo_fixtures.py) on prompts with punctuation, case, whitespace and non-ASCII text.
mod common;

use serde_json::Value;
use zoo::clip::{ClipTokenizer, CACHED_TOKENIZER, CONTEXT_LENGTH};

fn ids(value: &Value) -> Vec<Vec<i64>> {
    serde_json::from_value(value.clone()).unwrap()
}

fn rows(t: &tch::Tensor) -> Vec<Vec<i64>> {
    Vec::<Vec<i64>>::try_from(t).unwrap()
}

#[test]
fn clip_tokenizer_matches_transformers() {
    let path = common::cached(CACHED_TOKENIZER, "tools/make_clip_tokenizer.py");
    let tokenizer = ClipTokenizer::from_file(&path, CONTEXT_LENGTH).unwrap();
    let text = std::fs::read_to_string(common::fixture("clip_tokenizer_ids.json")).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    let prompts: Vec<String> = serde_json::from_value(reference["prompts"].clone()).unwrap();
    let prompts: Vec<&str> = prompts.iter().map(String::as_str).collect();

    let encoded = tokenizer.encode(&prompts).unwrap();
    assert_eq!(rows(&encoded.input_ids), ids(&reference["input_ids"]));
    assert_eq!(
        rows(&encoded.attention_mask),
        ids(&reference["attention_mask"])
    );

    let long = tokenizer
        .encode(&[reference["long_prompt"].as_str().unwrap()])
        .unwrap();
    let want: Vec<i64> = serde_json::from_value(reference["long_input_ids"].clone()).unwrap();
    assert_eq!(
        rows(&long.input_ids),
        vec![want],
        "truncation to {CONTEXT_LENGTH} keeps <|endoftext|> last"
    );
}

#[test]
fn missing_tokenizer_file_is_a_clear_error() {
    let err = ClipTokenizer::from_file(
        std::path::Path::new("/nonexistent/tokenizer.json"),
        CONTEXT_LENGTH,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/tokenizer.json"),
        "{err}"
    );
}
