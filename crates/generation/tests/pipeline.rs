//! The SD3 pipeline mode on tiny random models: a diffusers pipeline folder (`transformer/`,
//! `vae/`, `text_encoder/` + `tokenizer/`, `text_encoder_2/` + `tokenizer_2/`) assembled from the
//! zoo's fixtures, a folder of RGB instance images, personalised in the VAE's latent space with
//! prompts from the CLIP pair. One test, since runs draw from libtorch's global generator.

use std::path::Path;

use formats::Method;
use generation::{Experiment, Generation, RunSpec};
use runner::RunSpec as _;
use runner::{run_one, Experiment as _, Outcome};
use serial_lora::ModelStore;
use zoo::Architecture;

/// Latent 16 channels (the VAE fixture's), 16 px images → 8×8 latents, patch 2; context width 16 =
/// CLIP-L 8 + CLIP-G 8, pooled 12 = 4 + 8 projections.
const TRANSFORMER: &str = r#"{
  "_class_name": "SD3Transformer2DModel",
  "sample_size": 8, "patch_size": 2, "in_channels": 16, "out_channels": 16,
  "num_layers": 2, "attention_head_dim": 4, "num_attention_heads": 2,
  "joint_attention_dim": 16, "caption_projection_dim": 8, "pooled_projection_dim": 12,
  "pos_embed_max_size": 4, "dual_attention_layers": [], "qk_norm": null
}"#;

/// A word-level tokenizer over the fixtures' 100-token vocabulary, with CLIP's special tokens at
/// their fixture ids.
const TOKENIZER: &str = r#"{"version": "1.0", "truncation": null, "padding": null,
 "added_tokens": [
  {"id": 98, "content": "<|startoftext|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
  {"id": 99, "content": "<|endoftext|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
 "normalizer": {"type": "Lowercase"}, "pre_tokenizer": {"type": "Whitespace"},
 "post_processor": {"type": "TemplateProcessing",
  "single": [{"SpecialToken": {"id": "<|startoftext|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
  "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
  "special_tokens": {"<|startoftext|>": {"id": "<|startoftext|>", "ids": [98], "tokens": ["<|startoftext|>"]},
                     "<|endoftext|>": {"id": "<|endoftext|>", "ids": [99], "tokens": ["<|endoftext|>"]}}},
 "decoder": null,
 "model": {"type": "WordLevel", "unk_token": "<unk>",
  "vocab": {"!": 0, "<unk>": 1, "a": 3, "photo": 4, "of": 5, "sks": 6, "dog": 7, "<|startoftext|>": 98, "<|endoftext|>": 99}}}"#;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

/// The pipeline folder: a random transformer, the fixtures' VAE and CLIP towers, two tokenizers.
fn pipeline(dir: &Path) {
    let fixtures = formats::paths::repo_root().join("crates/zoo/tests/fixtures");
    let transformer = dir.join("transformer");
    std::fs::create_dir_all(&transformer).unwrap();
    std::fs::write(transformer.join("config.json"), TRANSFORMER).unwrap();
    let architecture = Architecture::from_dir(&transformer).unwrap();
    tch::manual_seed(0);
    let (store, _model) = ModelStore::build(tch::Device::Cpu, None, |root| {
        architecture
            .build(root)
            .map_err(|e| serial_lora::Error::config("model", e.to_string()))
    })
    .unwrap();
    let mut vars: Vec<_> = store.base().variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    serial_lora::checkpoint::save_tensors(
        &transformer.join("diffusion_pytorch_model.safetensors"),
        &vars,
    )
    .unwrap();
    copy_dir(&fixtures.join("vae_sd3_tiny"), &dir.join("vae"));
    copy_dir(&fixtures.join("sd3_text/clip_l"), &dir.join("text_encoder"));
    copy_dir(
        &fixtures.join("sd3_text/clip_g"),
        &dir.join("text_encoder_2"),
    );
    for (name, pad) in [("tokenizer", "<|endoftext|>"), ("tokenizer_2", "!")] {
        let folder = dir.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("tokenizer.json"), TOKENIZER).unwrap();
        let config = serde_json::json!({ "pad_token": pad });
        std::fs::write(folder.join("tokenizer_config.json"), config.to_string()).unwrap();
    }
}

/// Three 24×20 RGB images (cropped to squares by the loader).
fn instances(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..3u8 {
        let image = image::RgbImage::from_fn(24, 20, |x, y| {
            image::Rgb([(x * 10) as u8, (y * 12) as u8, 80 * i])
        });
        image.save(dir.join(format!("dog{i}.png"))).unwrap();
    }
}

fn experiment(pipeline: &Path, instances: &Path) -> String {
    let dinov2 = formats::paths::repo_root().join("crates/zoo/tests/fixtures/dinov2");
    format!(
        r#"backbone = "sd3-tiny"
model_dir = "{pipeline}"
feature_model = "{dinov2}"
dataset = "folder:{instances}"
resolution = 16
held_out = "dog"
class_prompt = "a photo of a {{}}"
instance_prompt = "a photo of sks dog"
instance_images = 3
max_tokens = 5
seeds = [1]
methods = ["zero_shot", "lora", "serial_lora"]
ranks = [2]
iters = 2
batch_size = 2

[sampling]
steps = 2
guidance = 2.0
samples = 4
per_class = 0
seed = 0
batch = 2
grid = 4
feature_size = 16
classifier_steps = 1

[adapter]
alpha = 2.0
targets = ["q", "k", "v", "o"]
plus_ratio = 4.0

[optim]
lr = 1e-3
weight_decay = 0.0
"#,
        pipeline = pipeline.display(),
        dinov2 = dinov2.display(),
        instances = instances.display(),
    )
}

#[test]
fn an_sd3_pipeline_folder_personalises_in_latent_space_with_clip_prompts() {
    let dir = tempfile::tempdir().unwrap();
    let (folder, images, results) = (
        dir.path().join("sd3"),
        dir.path().join("dog"),
        dir.path().join("results"),
    );
    pipeline(&folder);
    instances(&images);
    let e: Experiment = experiment(&folder, &images).parse().unwrap();
    e.validate().unwrap();
    let runs: Vec<RunSpec> = e.grid_runs(&formats::paths::repo_root(), None).unwrap();
    assert_eq!(runs.len(), 3);
    let mut params = Vec::new();
    for spec in &runs {
        assert!(
            !spec.name().contains('/'),
            "{}: a folder-safe name",
            spec.name()
        );
        let Outcome::Finished(s) = run_one::<Generation>(spec, &results, None).unwrap() else {
            panic!("{} did not finish", spec.name());
        };
        assert!(s.fd_dinov2.is_some_and(f64::is_finite) && s.kid.is_some());
        assert_eq!(s.instance_accuracy, None, "one class: no classifier");
        assert_eq!(s.preservation_accuracy, None);
        let grid = image::open(
            results
                .join("generation")
                .join(spec.name())
                .join("samples.png"),
        )
        .unwrap();
        assert_eq!(
            grid.color().channel_count(),
            3,
            "RGB samples decoded by the VAE"
        );
        assert_eq!(grid.height(), 16, "one row of 16 px samples");
        params.push((spec.method, s.trainable_params));
    }
    // Image-stream LoRA on q, k, v, o (8·D·r per block) vs one Serial pair (2·D·r), D = 8, r = 2.
    assert_eq!(params[1], (Method::Lora, 2 * 8 * 8 * 2));
    assert_eq!(params[2], (Method::SerialLora, 2 * 2 * 8 * 2));

    std::fs::remove_file(folder.join("tokenizer_2/tokenizer.json")).unwrap();
    let spec = &runs[0];
    std::fs::remove_dir_all(results.join("generation").join(spec.name())).unwrap();
    let error = format!(
        "{:#}",
        run_one::<Generation>(spec, &results, None).unwrap_err()
    );
    assert!(
        error.contains("tokenizer_2") && error.contains("sd3_tokenizer_json.py"),
        "{error}"
    );
}
