//! Training must learn: on a small two-class task (the packaged faces vs non-faces), accuracy after
//! training beats accuracy before by a clear margin, for LoRA and Serial LoRA, on a tiny random
//! DINOv2 (cosine head) and on a tiny random CLIP trained as CLIP-LoRA trains it (text classifier
//! from "a photo of a {class}.", adapters in both towers). A broken adapter, optimiser or head
//! would leave the accuracy where it started.

use std::path::Path;

use classification::{Classification, Experiment, Summary};
use rand::distributions::{Distribution, Uniform};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use runner::RunSpec as _;
use runner::{run_one, Experiment as _, Outcome};
use serial_lora::ModelStore;
use tch::{Device, Tensor};

/// Accuracy must rise by at least this much (faces: 100 test images, two classes).
const MARGIN: f64 = 0.1;

fn experiment(model_dir: &Path, resolution: u32, lr: &str) -> Experiment {
    let text = format!(
        r#"
backbone = "tiny"
model_dir = "{}"
datasets = ["faces"]
shots = [8]
seeds = [3]
methods = ["lora", "serial_lora"]
ranks = [4]
iters = 150
batch_size = 16
resolution = {resolution}
test_limit = 100
logit_scale = 30.0
checkpoint_every = 1000

[adapter]
alpha = 4.0
targets = ["q", "k", "v", "o"]
plus_ratio = 16.0

[optim]
lr = {lr}
weight_decay = 0.01
min_lr = 0.0
"#,
        model_dir.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("learn.toml");
    std::fs::write(&path, text).unwrap();
    let e: Experiment = runner::read_toml(&path).unwrap();
    e.validate().unwrap();
    e
}

/// Trains every run of `e` and checks that each learned.
fn assert_learns(e: &Experiment) {
    let results = tempfile::tempdir().unwrap();
    let runs = e.grid_runs(&formats::paths::repo_root(), None).unwrap();
    assert_eq!(runs.len(), 2);
    for spec in &runs {
        let Outcome::Finished(s) = run_one::<Classification>(spec, results.path(), None).unwrap()
        else {
            panic!("{} did not finish", spec.name())
        };
        let s: Summary = s;
        assert!(
            s.accuracy >= s.zero_shot_accuracy + MARGIN,
            "{}: accuracy {} after training, {} before",
            s.method,
            s.accuracy,
            s.zero_shot_accuracy
        );
    }
}

#[test]
fn lora_and_serial_lora_learn_on_a_tiny_dinov2() {
    let fixture = formats::paths::repo_root().join("crates/zoo/tests/fixtures/dinov2");
    assert_learns(&experiment(&fixture, 12, "3e-3"));
}

/// A tiny random CLIP (the zoo fixture's shape, with the real tokenizer's vocabulary and context
/// length) written as a transformers folder, its weights drawn from a seeded generator.
fn tiny_clip(dir: &Path) {
    let fixture = formats::paths::repo_root().join("crates/zoo/tests/fixtures/clip/config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let text = &mut config["text_config"];
    text["vocab_size"] = 49408.into();
    text["max_position_embeddings"] = 77.into();
    text["eos_token_id"] = 49407.into();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let architecture = zoo::Architecture::from_dir(dir).unwrap();
    let (store, _model) = ModelStore::build(Device::Cpu, None, |root| {
        architecture
            .build(root)
            .map_err(|e| serial_lora::Error::config("model", e.to_string()))
    })
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut tensors: Vec<(String, Tensor)> = store.base().variables().into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let tensors: Vec<(String, Tensor)> = tensors
        .into_iter()
        .map(|(name, t)| {
            let value = if name.ends_with("logit_scale") {
                Tensor::from(2.6592f32)
            } else if name.contains("norm") && name.ends_with("weight") {
                Tensor::ones(t.size(), (tch::Kind::Float, Device::Cpu))
            } else {
                let dist = Uniform::new(-0.1f32, 0.1);
                let values: Vec<f32> = (0..t.numel()).map(|_| dist.sample(&mut rng)).collect();
                Tensor::from_slice(&values).view(t.size().as_slice())
            };
            (name, value)
        })
        .collect();
    serial_lora::checkpoint::save_tensors(&dir.join("model.safetensors"), &tensors).unwrap();
}

#[test]
fn lora_and_serial_lora_learn_on_a_tiny_clip_with_its_text_classifier() {
    let model = tempfile::tempdir().unwrap();
    tiny_clip(model.path());
    assert_learns(&experiment(model.path(), 16, "3e-3"));
}
