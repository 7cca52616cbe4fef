//! The generation runner end to end on tiny models: a random MMDiT pre-trained for a few steps on
//! Fashion-MNIST (needs `make setup`) with the zoo's tiny BERT as text encoder and its tiny DINOv2
//! as feature model, then personalised by every method, the learning-rate selection stage, a
//! resumed run, and bad input. Runs draw from their own keyed streams (per step, per sample), so
//! the tests run in parallel.

use std::path::{Path, PathBuf};

use formats::selection::{Table, LR_SELECTION_FILE};
use formats::Method;
use generation::{Experiment, Generation, RunSpec, Summary};
use runner::RunSpec as _;
use runner::{collect_selection, run_one, Experiment as _, Outcome, Stage};

/// A 28×28 one-channel MMDiT: patch 7 (a 4×4 grid), width 8, two blocks, text width 16 (the tiny
/// BERT's).
const TINY_MMDIT: &str = r#"{
  "_class_name": "SD3Transformer2DModel",
  "sample_size": 28, "patch_size": 7, "in_channels": 1, "out_channels": 1,
  "num_layers": 2, "attention_head_dim": 4, "num_attention_heads": 2,
  "joint_attention_dim": 16, "caption_projection_dim": 8, "pooled_projection_dim": 16,
  "pos_embed_max_size": 4, "dual_attention_layers": [], "qk_norm": null
}"#;

fn fixture(name: &str) -> String {
    formats::paths::repo_root()
        .join("crates/zoo/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// The tiny experiment with `model_dir`, `methods` and `iters`, plus `extra` lines.
fn experiment(model_dir: &Path, methods: &str, iters: usize, extra: &str) -> String {
    format!(
        r#"backbone = "tiny"
model_dir = "{model}"
text_encoder = "{bert}"
feature_model = "{dinov2}"
dataset = "fashion-mnist"
held_out = "Ankle boot"
class_prompt = "a photo of a {{}}"
instance_prompt = "a photo of a sks boot"
instance_images = 8
max_tokens = 8
seeds = [1]
methods = {methods}
ranks = [2]
iters = {iters}
batch_size = 4
checkpoint_every = 2
{extra}
[flow]
condition_dropout = 0.1

[sampling]
steps = 2
guidance = 2.0
samples = 6
per_class = 2
seed = 0
batch = 4
grid = 4
feature_size = 16
classifier_steps = 3
every = 2

[adapter]
alpha = 2.0
targets = ["q", "k", "v", "o"]
plus_ratio = 4.0

[optim]
lr = 1e-3
full_lr = 1e-3
weight_decay = 0.0
warmup_steps = 1

[select]
lrs = [1e-3, 1e-2]
plus_ratios = [4.0]
rank = 2
seed = 1
validation_fraction = 0.25
"#,
        model = model_dir.display(),
        bert = fixture("bert_tiny"),
        dinov2 = fixture("dinov2"),
    )
}

fn parse(text: &str) -> Experiment {
    let e: Experiment = text.parse().expect("a valid experiment");
    e.validate().expect("valid experiment");
    e
}

fn runs(text: &str) -> Vec<RunSpec> {
    parse(text)
        .grid_runs(&formats::paths::repo_root(), None)
        .expect("runs")
}

fn finished(spec: &RunSpec, results: &Path, budget: Option<usize>) -> Option<Summary> {
    match run_one::<Generation>(spec, results, budget).expect("run") {
        Outcome::Finished(s) => Some(s),
        Outcome::Paused => None,
        other => panic!("{}: {other:?}", spec.name()),
    }
}

/// Writes the tiny config and pre-trains it for 3 steps under `results`; returns the model folder.
fn pretrained(results: &Path) -> PathBuf {
    let config = results.join("tiny-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), TINY_MMDIT).unwrap();
    let spec = &runs(&experiment(&config, r#"["pretrain"]"#, 3, ""))[0];
    let summary = finished(spec, results, None).expect("finished");
    assert_eq!(summary.method, "pretrain");
    results.join("generation").join(spec.name()).join("model")
}

#[test]
fn pretraining_then_every_method_writes_its_files_and_scores() {
    let results = tempfile::tempdir().unwrap();
    let model = pretrained(results.path());
    for file in ["config.json", "diffusion_pytorch_model.safetensors"] {
        assert!(model.join(file).is_file(), "the pretrain run saves {file}");
    }
    // The saved base loads as a diffusers SD3 transformer.
    let loaded = zoo::build(&model, None, tch::Device::Cpu).expect("the saved model loads");
    assert_eq!(loaded.model.model_type(), zoo::mmdit::CLASS_NAME);

    let methods = r#"["zero_shot", "lora", "serial_lora", "lora_plus", "full"]"#;
    let grid = runs(&experiment(&model, methods, 2, ""));
    assert_eq!(grid.len(), 5);
    let mut params = std::collections::BTreeMap::new();
    for spec in &grid {
        let s = finished(spec, results.path(), None).expect("finished");
        let dir = results.path().join("generation").join(spec.name());
        for file in [
            "config.json",
            "summary.json",
            "samples.png",
            "classes.png",
            "samples.safetensors",
        ] {
            assert!(dir.join(file).is_file(), "{} lacks {file}", spec.name());
        }
        assert_eq!(
            dir.join("adapter_model.safetensors").is_file(),
            spec.method.has_adapter(),
            "{}",
            spec.name()
        );
        let fd = s.fd_dinov2.expect("grid runs score FD");
        assert!(fd.is_finite() && fd >= 0.0, "{}: FD {fd}", spec.name());
        assert!(s.kid.expect("KID").is_finite());
        for share in [s.instance_accuracy, s.preservation_accuracy] {
            assert!((0.0..=1.0).contains(&share.expect("scored")));
        }
        assert_eq!(s.samples, 6);
        assert_eq!(
            s.validation_loss, None,
            "every instance image trains in the grid"
        );
        assert_eq!(s.training.steps, if spec.method.trains() { 2 } else { 0 });
        params.insert(spec.method, s.trainable_params);
    }
    assert_eq!(params[&Method::ZeroShot], 0);
    // Serial LoRA: one pair (2·D·r) per block; LoRA: four (8·D·r), with D = 8, r = 2, 2 blocks.
    assert_eq!(params[&Method::Lora], 8 * 8 * 2 * 2);
    assert_eq!(params[&Method::Lora], 4 * params[&Method::SerialLora]);
    assert_eq!(params[&Method::LoraPlus], params[&Method::Lora]);
    // Full fine-tuning trains every weight but the fixed position table.
    let weights =
        serial_lora::checkpoint::read_tensors(&model.join("diffusion_pytorch_model.safetensors"))
            .unwrap();
    let base: i64 = weights
        .iter()
        .filter(|(name, _)| name.as_str() != "pos_embed.pos_embed")
        .map(|(_, t)| t.numel() as i64)
        .sum();
    assert_eq!(params[&Method::Full], base);
    let shared = results.path().join("generation/eval");
    assert!(shared.join("classifier_3steps.json").is_file());
}

#[test]
fn selection_scores_held_out_instances_and_chooses_the_lowest_loss() {
    let results = tempfile::tempdir().unwrap();
    let model = pretrained(results.path());
    let e = parse(&experiment(
        &model,
        r#"["lora", "serial_lora_plus"]"#,
        2,
        "",
    ));
    let root = formats::paths::repo_root();
    let select = e.selection().expect("[select]").clone();
    let candidates = runner::Experiment::runs(&e, &root, Stage::Select(&select)).unwrap();
    assert_eq!(candidates.len(), 4, "two learning rates per method, one λ");
    for spec in &candidates {
        let s = finished(spec, results.path(), None).expect("finished");
        assert!(s.validation_loss.expect("scored").is_finite());
        assert_eq!(s.fd_dinov2, None, "selection runs sample nothing");
        assert!(spec.name().starts_with("selection/"));
    }
    collect_selection::<Generation>(results.path(), None).unwrap();
    let table = Table::read(&results.path().join("generation").join(LR_SELECTION_FILE)).unwrap();
    assert_eq!(table.score_column, "validation_loss");
    for method in [Method::Lora, Method::SerialLoraPlus] {
        let rows: Vec<_> = table
            .rows
            .iter()
            .filter(|(c, _)| c.method == method)
            .collect();
        let lowest = rows
            .iter()
            .map(|(c, _)| c.score)
            .fold(f64::INFINITY, f64::min);
        let chosen: Vec<_> = rows.iter().filter(|(_, chosen)| *chosen).collect();
        assert_eq!(chosen.len(), 1);
        assert_eq!(
            chosen[0].0.score, lowest,
            "{method}: the lowest loss is chosen"
        );
    }
    // The grid then trains with the chosen values.
    let selected =
        formats::Selected::read(&results.path().join("generation").join(LR_SELECTION_FILE))
            .unwrap();
    let grid = e.grid_runs(&root, Some(&selected)).unwrap();
    let lora = grid.iter().find(|r| r.method == Method::Lora).unwrap();
    assert_eq!(
        lora.optim.lr,
        selected
            .get("tiny", "fashion-mnist", Method::Lora)
            .unwrap()
            .lr
    );
}

#[test]
fn a_resumed_run_ends_as_an_uninterrupted_one() {
    let results = tempfile::tempdir().unwrap();
    let model = pretrained(results.path());
    let spec = runs(&experiment(&model, r#"["serial_lora"]"#, 4, ""))[0].clone();
    let straight = finished(&spec, results.path(), None).expect("finished");
    let dir = results.path().join("generation").join(spec.name());
    let adapter = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
    assert!(
        dir.join("progress/step_2.png").is_file(),
        "a sample grid every 2 steps"
    );
    let progress = results.path().join("progress.png");
    generation::figure::draw_progress(&dir, &progress).unwrap();
    let grid = image::open(dir.join("progress/step_2.png")).unwrap();
    let figure = image::open(&progress).unwrap();
    assert_eq!(figure.width(), 2 * grid.width(), "one panel, upscaled 2×");
    assert!(figure.height() > 2 * grid.height(), "under its title");

    let again = tempfile::tempdir().unwrap();
    let model_again = pretrained(again.path());
    let spec_again = runs(&experiment(&model_again, r#"["serial_lora"]"#, 4, ""))[0].clone();
    assert!(
        finished(&spec_again, again.path(), Some(2)).is_none(),
        "paused at the budget"
    );
    let resumed = finished(&spec_again, again.path(), None).expect("finished");
    let dir_again = again.path().join("generation").join(spec_again.name());
    assert_eq!(
        std::fs::read(dir_again.join("adapter_model.safetensors")).unwrap(),
        adapter,
        "same adapter weights"
    );
    assert_eq!(resumed.fd_dinov2, straight.fd_dinov2);
    assert_eq!(resumed.instance_accuracy, straight.instance_accuracy);
}

/// The saved `pretrain` model's tensor file under `results`, trained `iters` steps with `extra`
/// lines, paused once after `pause` steps when given.
fn pretrained_weights(iters: usize, extra: &str, pause: Option<usize>) -> Vec<u8> {
    let results = tempfile::tempdir().unwrap();
    let config = results.path().join("tiny-config");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), TINY_MMDIT).unwrap();
    let spec = &runs(&experiment(&config, r#"["pretrain"]"#, iters, extra))[0];
    if let Some(pause) = pause {
        assert!(finished(spec, results.path(), Some(pause)).is_none());
        let checkpoint = results.path().join("generation").join(spec.name());
        let ema = checkpoint.join("checkpoint/ema.safetensors");
        assert_eq!(
            ema.is_file(),
            extra.contains("ema_decay"),
            "{}",
            ema.display()
        );
    }
    finished(spec, results.path(), None).expect("finished");
    let dir = results.path().join("generation").join(spec.name());
    std::fs::read(dir.join("model/diffusion_pytorch_model.safetensors")).unwrap()
}

#[test]
fn the_moving_average_is_saved_resumed_and_becomes_the_model() {
    let ema = "ema_decay = 0.5\n";
    let straight = pretrained_weights(4, ema, None);
    assert_eq!(
        pretrained_weights(4, ema, Some(2)),
        straight,
        "a run paused at step 2 resumes its average"
    );
    assert_ne!(
        pretrained_weights(4, "", None),
        straight,
        "the saved model is the average, not the last weights"
    );
}

#[test]
fn bad_input_is_named() {
    let results = tempfile::tempdir().unwrap();
    let config = results.path().join("rgb");
    std::fs::create_dir_all(&config).unwrap();
    let rgb = TINY_MMDIT.replace(
        r#""in_channels": 1, "out_channels": 1"#,
        r#""in_channels": 3, "out_channels": 3"#,
    );
    std::fs::write(config.join("config.json"), rgb).unwrap();
    let spec = &runs(&experiment(&config, r#"["pretrain"]"#, 1, ""))[0];
    let error = format!(
        "{:#}",
        run_one::<Generation>(spec, results.path(), None).unwrap_err()
    );
    assert!(error.contains("in_channels"), "{error}");

    std::fs::write(config.join("config.json"), TINY_MMDIT).unwrap();
    let text = experiment(&config, r#"["pretrain"]"#, 1, "").replace("Ankle boot", "Boot");
    let spec = &runs(&text)[0];
    let error = format!(
        "{:#}",
        run_one::<Generation>(spec, results.path(), None).unwrap_err()
    );
    assert!(
        error.contains("held_out") && error.contains("Boot"),
        "{error}"
    );

    let unknown = experiment(&config, r#"["lora"]"#, 1, "guidance = 3.0\n");
    let error = unknown.parse::<Experiment>().unwrap_err().to_string();
    assert!(error.contains("guidance"), "{error}");
    let no_slot = experiment(&config, r#"["lora"]"#, 1, "").replace("a photo of a {}", "a photo");
    let error = no_slot
        .parse::<Experiment>()
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(error.contains("class_prompt"), "{error}");
}

#[test]
fn prior_preservation_samples_class_images_from_the_base_and_trains_on_both() {
    let results = tempfile::tempdir().unwrap();
    let model = pretrained(results.path());
    let prior = "[prior]\nclass_prompt = \"a photo of a shoe\"\nimages = 3\nweight = 1.0\n";
    let with_prior = &runs(&experiment(&model, r#"["lora"]"#, 2, prior))[0];
    assert_eq!(
        with_prior.prior.as_ref().map(|p| p.images),
        Some(3),
        "the run's config keeps [prior]"
    );
    let s = finished(with_prior, results.path(), None).expect("finished");
    let dir = results.path().join("generation").join(with_prior.name());
    let grid = image::open(dir.join("class_images.png")).expect("the class images' grid");
    assert_eq!(grid.height(), 28, "three 28 px class images in one row");
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let last = metrics.lines().last().unwrap();
    let loss: f64 = last.split(',').nth(1).unwrap().parse().unwrap();
    assert!(loss.is_finite() && loss > 0.0, "{last}");

    // The same run without the prior trains on other batches: a different adapter.
    let plain = tempfile::tempdir().unwrap();
    let model_plain = pretrained(plain.path());
    let without = &runs(&experiment(&model_plain, r#"["lora"]"#, 2, ""))[0];
    let t = finished(without, plain.path(), None).expect("finished");
    assert_ne!(s.fd_dinov2, t.fd_dinov2, "the prior term changes training");
}

#[test]
fn sample_redraws_a_runs_samples_and_refuses_what_it_cannot_draw() {
    use generation::sample::{sample, SampleRequest};
    use generation::trained::TrainedRun;

    let results = tempfile::tempdir().unwrap();
    let model = pretrained(results.path());
    let spec = runs(&experiment(&model, r#"["lora"]"#, 2, ""))[0].clone();
    finished(&spec, results.path(), None).expect("finished");
    let dir = results.path().join("generation").join(spec.name());
    let shown = serial_lora::checkpoint::read_tensors(&dir.join(generation::task::SAMPLES_FILE))
        .unwrap()
        .remove("samples")
        .unwrap();
    let n = shown.size()[0] as usize;
    let prompts = [spec.instance_prompt.clone()];
    let run = TrainedRun::open(&dir, &prompts, tch::Device::Cpu).unwrap();
    let again = run
        .generate(&spec.instance_prompt, n, spec.sampling.seed, &spec.sampling)
        .unwrap();
    assert!(again.equal(&shown), "the run's samples, drawn again");

    let out = results.path().join("drawn");
    // The same images in the same batches: the same pixels.
    let request = SampleRequest {
        prompt: spec.instance_prompt.clone(),
        n,
        seed: spec.sampling.seed,
        steps: None,
        guidance: None,
    };
    let files = sample(&dir, &request, &out, tch::Device::Cpu).unwrap();
    assert_eq!(files.len(), n + 1);
    let first = image::open(&files[0]).unwrap().to_luma8();
    let expected = ((shown.get(0).get(0) + 1.0) * 127.5)
        .clamp(0.0, 255.0)
        .round()
        .to_kind(tch::Kind::Uint8);
    assert_eq!(
        first.as_raw().as_slice(),
        Vec::<u8>::try_from(expected.flatten(0, -1)).unwrap()
    );
    assert!(out.join("grid.png").is_file());
    let err = sample(&dir, &request, &out, tch::Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("sample_0.png exists"), "{err}");

    let full = runs(&experiment(&model, r#"["full"]"#, 1, ""))[0].clone();
    finished(&full, results.path(), None).expect("finished");
    let full_dir = results.path().join("generation").join(full.name());
    let err = sample(
        &full_dir,
        &request,
        &results.path().join("f"),
        tch::Device::Cpu,
    )
    .unwrap_err();
    assert!(err.to_string().contains("keeps no weights"), "{err}");
    let err = sample(
        &model,
        &request,
        &results.path().join("g"),
        tch::Device::Cpu,
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("not a finished generation run"),
        "{err}"
    );
}

#[test]
fn calibrate_chooses_among_the_candidates_and_writes_the_floor() {
    use generation::calibrate::{calibrate, CalibrationRequest};

    let results = tempfile::tempdir().unwrap();
    let model = pretrained(results.path());
    let run_dir = model.parent().unwrap().to_path_buf();
    let out = results.path().join("calibration");
    let request = CalibrationRequest {
        steps: vec![1, 2],
        guidance: vec![1.0, 2.0],
        per_class: 4,
    };
    calibrate(&run_dir, &request, &out, tch::Device::Cpu).unwrap();
    let choice: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("calibration.json")).unwrap())
            .unwrap();
    assert!([1, 2].contains(&choice["steps"].as_u64().unwrap()));
    assert!([1.0, 2.0].contains(&choice["guidance"].as_f64().unwrap()));
    assert_eq!(
        choice["per_class"].as_array().unwrap().len(),
        9,
        "every seen class"
    );
    assert_eq!(choice["held_out_floor_fd"].as_array().unwrap().len(), 3);
    let floor = std::fs::read_to_string(out.join("fd_floor.csv")).unwrap();
    assert_eq!(floor.lines().count(), 1 + 9 + 3, "{floor}");
    let rows = std::fs::read_to_string(out.join("calibration.csv")).unwrap();
    // Two step counts at the run's guidance (2.0), then guidance 1.0 at the chosen steps (2.0
    // there is already scored), nine classes each.
    assert_eq!(rows.lines().count(), 1 + 3 * 9, "{rows}");
    assert!(out.join("classes.png").is_file());
    let err = calibrate(&run_dir, &request, &out, tch::Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("exists"), "{err}");
}
