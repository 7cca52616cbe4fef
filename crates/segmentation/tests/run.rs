//! End to end on the tiny random SAM of the zoo's fixtures and a synthetic images/ + masks/ folder:
//! a run writes its folder and summary row; a run stopped half-way and resumed ends exactly like an
//! uninterrupted one; a prompt-free run trains the decoder on semantic masks and draws Figure 4;
//! bad data is reported by file.

use std::path::{Path, PathBuf};

use runner::RunSpec as _;
use runner::{run_one, Experiment as _, Outcome};
use segmentation::{Experiment, RunSpec, Segmentation, Summary};

fn run(spec: &RunSpec, results: &Path, budget: Option<usize>) -> Option<Summary> {
    match run_one::<Segmentation>(spec, results, budget).unwrap() {
        Outcome::Finished(s) => Some(s),
        Outcome::Paused => None,
        Outcome::Busy => panic!("busy"),
        Outcome::Diverged => panic!("diverged"),
    }
}

fn write_pair(root: &Path, name: &str, offset: u32) {
    let blobs = [(10u32, 12u32), (22, 40), (44, 14), (50, 46), (30, 26)];
    let label = |x: u32, y: u32| {
        blobs.iter().position(|&(cx, cy)| {
            let (dx, dy) = (x as i64 - (cx + offset) as i64, y as i64 - cy as i64);
            dx * dx + dy * dy <= 25
        })
    };
    let img = image::GrayImage::from_fn(64, 64, |x, y| {
        image::Luma([if label(x, y).is_some() { 200 } else { 30 }])
    });
    let mask = image::GrayImage::from_fn(64, 64, |x, y| {
        image::Luma([label(x, y).map_or(0, |k| k as u8 + 1)])
    });
    img.save(root.join("images").join(format!("{name}.png")))
        .unwrap();
    mask.save(root.join("masks").join(format!("{name}.png")))
        .unwrap();
}

/// The first run of `experiment`'s grid.
fn first_run(experiment: Experiment) -> RunSpec {
    experiment
        .grid_runs(&formats::paths::repo_root(), None)
        .unwrap()
        .remove(0)
}

/// The box-prompted experiment on `data`.
fn experiment(data: &Path) -> Experiment {
    experiment_with(data, "boxes_per_step = 2")
}

/// A data folder with two 64×64 images of five blobs each.
fn blobs() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("images")).unwrap();
    std::fs::create_dir_all(data.path().join("masks")).unwrap();
    write_pair(data.path(), "a", 0);
    write_pair(data.path(), "b", 3);
    data
}

/// The experiment on `data` with the prompt lines `prompt`.
fn experiment_with(data: &Path, prompt: &str) -> Experiment {
    let zoo_fixture =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../zoo/tests/fixtures/sam_tiny");
    let text = format!(
        r#"backbone = "sam-tiny"
model_dir = "{}"
dataset = "folder:{}"
seeds = [3]
methods = ["serial_lora"]
ranks = [2]
iters = 4
{prompt}
normalize = "imagenet"
train_decoder = true
checkpoint_every = 1
[adapter]
alpha = 2.0
targets = ["q", "v"]
plus_ratio = 16.0
[optim]
lr = 0.01
weight_decay = 0.01
warmup_steps = 1
grad_clip = 1.0
"#,
        zoo_fixture.display(),
        data.display(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.toml");
    std::fs::write(&path, text).unwrap();
    let e: Experiment = runner::read_toml(&path).unwrap();
    e.validate().unwrap();
    e
}

#[test]
fn a_resumed_run_ends_like_an_uninterrupted_one() {
    let data = blobs();
    let spec = first_run(experiment(data.path()));
    let (straight, resumed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let full = run(&spec, straight.path(), None).unwrap();
    assert!(run(&spec, resumed.path(), Some(2)).is_none());
    let again = run(&spec, resumed.path(), None).unwrap();
    assert_eq!(full.test, again.test);
    let folder = |root: &Path| root.join("segmentation").join(spec.name());
    let metrics = |root: &Path| std::fs::read_to_string(folder(root).join("metrics.csv")).unwrap();
    assert_eq!(metrics(straight.path()), metrics(resumed.path()));
    for file in [
        "config.json",
        "summary.json",
        "adapter_model.safetensors",
        "adapter_config.json",
        "mask_decoder.safetensors",
    ] {
        assert!(folder(resumed.path()).join(file).exists(), "{file} missing");
    }
    assert!(!folder(resumed.path()).join("checkpoint").exists());
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(folder(resumed.path()).join("config.json")).unwrap(),
    )
    .unwrap();
    for field in ["backbone", "model_dir", "method", "rank"] {
        assert!(config.get(field).is_some(), "config.json lacks {field}");
    }
    assert!(
        config.get("prompt").is_none(),
        "box runs keep their config.json"
    );
    assert_eq!(config["boxes_per_step"], 2);
    runner::collect::<Segmentation>(resumed.path()).unwrap();
    let table = std::fs::read_to_string(resumed.path().join("segmentation/summary.csv")).unwrap();
    assert_eq!(table.lines().count(), 2);
    assert!(table.starts_with(
        "model,dataset,method,rank,seed,trainable_params,dice,iou,zero_shot_dice,steps"
    ));
}

#[test]
fn a_prompt_free_run_trains_the_decoder_on_semantic_masks() {
    let data = blobs();
    let spec = first_run(experiment_with(data.path(), "prompt = \"none\""));
    let results = tempfile::tempdir().unwrap();
    let summary = run(&spec, results.path(), None).unwrap();
    // One right-half test tile per image, each scored once as a semantic mask.
    assert_eq!(summary.test.instances, 2);
    assert_eq!(
        summary
            .zero_shot
            .expect("nuclei runs score the unadapted model")
            .instances,
        2
    );
    assert!((0.0..=1.0).contains(&summary.test.dice), "{summary:?}");
    assert!(summary.trainable_params > 0);
    let folder = results.path().join("segmentation").join(spec.name());
    assert!(folder.join("mask_decoder.safetensors").exists());
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(config["prompt"], "none");
    assert!(config.get("boxes_per_step").is_none(), "{config}");
    // The shared zero-shot cache keeps the prompt-free score apart from the box one.
    let cache =
        std::fs::read_to_string(results.path().join("segmentation/zero_shot.json")).unwrap();
    assert!(cache.contains("|none\""), "{cache}");
    // Figure 4 of the run: image, ground truth and the run's semantic mask (64 px panels).
    let out = results.path().join("fig4.png");
    segmentation::figure::draw(&[folder], None, &out).unwrap();
    let png = image::open(&out).unwrap();
    assert_eq!(png.width(), 3 * 64 + 2 * 6);
}

#[test]
fn bad_data_and_overrides_are_reported() {
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(data.path().join("images")).unwrap();
    std::fs::create_dir_all(data.path().join("masks")).unwrap();
    let spec = first_run(experiment(data.path()));
    let e = format!(
        "{:#}",
        run_one::<Segmentation>(&spec, tempfile::tempdir().unwrap().path(), None).unwrap_err()
    );
    assert!(e.contains("images") && e.contains("no images"), "{e}");
    let mut rank_zero = experiment(data.path());
    rank_zero.grid.ranks = vec![0];
    let e = format!(
        "{:#}",
        rank_zero
            .grid_runs(&formats::paths::repo_root(), None)
            .unwrap_err()
    );
    assert!(e.contains("rank"), "{e}");
}

/// Writes each sample's grey crop as an 8-bit PNG `tile<i>.png` in `dir` (the crops are the data's
/// 8-bit values over 255, so the PNG holds them exactly).
fn write_tiles(dir: &Path, samples: &[segmentation::samples::Sample]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    samples
        .iter()
        .enumerate()
        .map(|(i, sample)| {
            let s = (sample.grey.len() as f64).sqrt() as u32;
            let path = dir.join(format!("tile{i}.png"));
            image::GrayImage::from_fn(s, s, |x, y| {
                image::Luma([(sample.grey[(y * s + x) as usize] * 255.0).round() as u8])
            })
            .save(&path)
            .unwrap();
            path
        })
        .collect()
}

#[test]
fn predict_on_the_test_tiles_reproduces_the_reported_dice() {
    use segmentation::segment::segment_images;

    let data = blobs();
    let spec = first_run(experiment_with(data.path(), "prompt = \"none\""));
    let results = tempfile::tempdir().unwrap();
    let summary = run(&spec, results.path(), None).unwrap();
    let folder = results.path().join("segmentation").join(spec.name());
    let seg_data =
        segmentation::samples::SegData::load(&spec.dataset, &formats::paths::repo_root(), None)
            .unwrap();
    let tiles = seg_data.semantic_test_samples(64, spec.normalize).unwrap();
    let inputs = write_tiles(&results.path().join("tiles"), &tiles);
    let out = results.path().join("predicted");
    let files = segment_images(&folder, &inputs, None, &out, tch::Device::Cpu).unwrap();
    assert_eq!(files.len(), 2 * tiles.len());
    let mut dice = 0.0;
    for (i, tile) in tiles.iter().enumerate() {
        let labels = image::open(out.join(format!("tile{i}_labels.png")))
            .unwrap()
            .to_luma8();
        let target = Vec::<f32>::try_from(tile.masks.flatten(0, -1)).unwrap();
        let (mut inter, mut a, mut b) = (0.0, 0.0, 0.0);
        for (&l, &t) in labels.as_raw().iter().zip(&target) {
            assert!(l <= 1, "a prompt-free label map holds 0 and 1");
            let p = f64::from(l);
            inter += p * f64::from(t);
            a += p;
            b += f64::from(t);
        }
        dice += 2.0 * inter / (a + b).max(1e-12);
        assert!(out.join(format!("tile{i}_overlay.png")).is_file());
    }
    let dice = dice / tiles.len() as f64;
    assert!(
        (dice - summary.test.dice).abs() < 1e-9,
        "{dice} vs {}",
        summary.test.dice
    );

    // Refusals: files already there, boxes for a prompt-free run, a run without its decoder.
    let err = segment_images(&folder, &inputs, None, &out, tch::Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("exists"), "{err}");
    let boxes = results.path().join("boxes.json");
    std::fs::write(&boxes, "{}").unwrap();
    let err = segment_images(&folder, &inputs, Some(&boxes), &out, tch::Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("takes no --boxes"), "{err}");
    std::fs::remove_file(folder.join("mask_decoder.safetensors")).unwrap();
    let err = segment_images(
        &folder,
        &inputs,
        None,
        &results.path().join("x"),
        tch::Device::Cpu,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("mask_decoder.safetensors: missing"),
        "{err}"
    );
}

#[test]
fn predict_with_boxes_labels_each_instance() {
    use segmentation::segment::segment_images;

    let data = blobs();
    let spec = first_run(experiment(data.path()));
    let results = tempfile::tempdir().unwrap();
    run(&spec, results.path(), None).unwrap();
    let folder = results.path().join("segmentation").join(spec.name());
    let image = data.path().join("images/a.png");
    let out = results.path().join("predicted");
    let err = segment_images(
        &folder,
        std::slice::from_ref(&image),
        None,
        &out,
        tch::Device::Cpu,
    )
    .unwrap_err();
    assert!(err.to_string().contains("--boxes"), "{err}");
    let boxes = results.path().join("boxes.json");
    std::fs::write(&boxes, r#"{"a.png": [[5, 7, 15, 17], [45, 41, 55, 51]]}"#).unwrap();
    segment_images(
        &folder,
        std::slice::from_ref(&image),
        Some(&boxes),
        &out,
        tch::Device::Cpu,
    )
    .unwrap();
    let labels = image::open(out.join("a_labels.png")).unwrap().to_luma8();
    assert_eq!(labels.dimensions(), (64, 64));
    assert!(labels.as_raw().iter().all(|&l| l <= 2));
    // A box outside the image is named; so is an image the boxes file leaves out.
    std::fs::write(&boxes, r#"{"a.png": [[5, 7, 70, 17]]}"#).unwrap();
    let err = segment_images(
        &folder,
        std::slice::from_ref(&image),
        Some(&boxes),
        &results.path().join("y"),
        tch::Device::Cpu,
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("box 1"), "{err:#}");
    std::fs::write(&boxes, r#"{"b.png": []}"#).unwrap();
    let err = segment_images(
        &folder,
        &[image],
        Some(&boxes),
        &results.path().join("z"),
        tch::Device::Cpu,
    )
    .unwrap_err();
    assert!(err.to_string().contains("no entry for a.png"), "{err}");
}
