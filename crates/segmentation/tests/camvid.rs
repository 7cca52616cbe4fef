//! SAMed's multi-class protocol on the tiny random SAM of the zoo's fixtures and a tiny CamVid
//! folder written here: the rebuilt decoder's class maps, its fresh class head (seeded) beside the
//! loaded weights, a run of the decoder alone and of Serial LoRA with per-class scores, the grid's
//! parameter-matched extra rank, and bad data reported by file before anything trains.

use std::path::{Path, PathBuf};

use image::{GrayImage, Luma, Rgb, RgbImage};
use runner::RunSpec as _;
use runner::{run_one, Experiment as _, Outcome};
use segmentation::predict::class_logits;
use segmentation::{Experiment, RunSpec, Segmentation, Summary};
use tch::{Device, Tensor};

fn sam_tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../zoo/tests/fixtures/sam_tiny")
}

/// Writes pair `stem` of `split` (40×30, labels in bands: every class and void occur).
fn write_pair(split: &Path, stem: &str, seed: u32) {
    let (w, h) = (40, 30);
    let label = |x: u32, y: u32| ((x / 4 + y / 10 + seed) % 12) as u8;
    std::fs::create_dir_all(split.join("images")).unwrap();
    std::fs::create_dir_all(split.join("labels")).unwrap();
    RgbImage::from_fn(w, h, |x, y| {
        let l = u32::from(label(x, y));
        Rgb([(l * 20) as u8, (200 - l * 15) as u8, (x * 5) as u8])
    })
    .save(split.join("images").join(format!("{stem}.png")))
    .unwrap();
    GrayImage::from_fn(w, h, |x, y| Luma([label(x, y)]))
        .save(split.join("labels").join(format!("{stem}.png")))
        .unwrap();
}

/// A data root holding `camvid/` with 3 train, 2 val and 2 test pairs.
fn camvid_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (split, n) in [("train", 3), ("val", 2), ("test", 2)] {
        for i in 0..n {
            write_pair(&root.path().join("camvid").join(split), &format!("f{i}"), i);
        }
    }
    root
}

/// The CamVid experiment on the tiny SAM with `methods`, reading data from `data_root`.
fn experiment(data_root: &Path, methods: &str) -> Experiment {
    let text = format!(
        r#"backbone = "sam-tiny"
model_dir = "{}"
dataset = "camvid"
data_root = "{}"
seeds = [3]
methods = [{methods}]
ranks = [2]
iters = 3
prompt = "none"
normalize = "unit"
train_decoder = true
checkpoint_every = 1
[extra_ranks]
serial_lora = [4]
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
        sam_tiny().display(),
        data_root.display(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.toml");
    std::fs::write(&path, text).unwrap();
    let e: Experiment = runner::read_toml(&path).unwrap();
    e.validate().unwrap();
    e
}

fn runs(e: &Experiment) -> Vec<RunSpec> {
    e.grid_runs(&formats::paths::repo_root(), None).unwrap()
}

fn finish(spec: &RunSpec, results: &Path) -> Summary {
    match run_one::<Segmentation>(spec, results, None).unwrap() {
        Outcome::Finished(s) => s,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_rebuilt_decoder_gives_one_map_per_class_from_a_seeded_fresh_head() {
    let built = |seed| zoo::build_semantic(&sam_tiny(), None, Device::Cpu, 5, None, seed).unwrap();
    let (a, b, c) = (built(1), built(1), built(2));
    let base = zoo::build(&sam_tiny(), None, Device::Cpu).unwrap();
    let var = |l: &zoo::Loaded, name: &str| l.store.base().variables()[name].shallow_clone();
    // Mask tokens: one per class after the single-mask token, N(0, 1) from the seed.
    let tokens = var(&a, "mask_decoder.mask_tokens.weight");
    assert_eq!(tokens.size(), [6, 16]);
    assert!(tokens.equal(&var(&b, "mask_decoder.mask_tokens.weight")));
    assert!(!tokens.equal(&var(&c, "mask_decoder.mask_tokens.weight")));
    let hyper = "mask_decoder.output_hypernetworks_mlps.5.proj_out.weight";
    assert!(var(&a, hyper).equal(&var(&b, hyper)));
    // Every other weight is the checkpoint's.
    for name in [
        "mask_decoder.transformer.layers.0.self_attn.q_proj.weight",
        "mask_decoder.upscale_conv1.weight",
        "vision_encoder.layers.0.attn.qkv.weight",
    ] {
        assert!(var(&a, name).equal(&var(&base, name)), "{name}");
    }
    // Prompt-free, the multimask output is one logit map per class at the decoder's resolution.
    let seg = a.model.segmenter().unwrap();
    let pixels = Tensor::zeros([2, 3, 64, 64], (tch::Kind::Float, Device::Cpu));
    let logits = tch::no_grad(|| class_logits(seg, &seg.embed_t(&pixels, false)));
    assert_eq!(logits.size(), [2, 5, 32, 32]);
    // LiteMedSAM alone runs at another input size; SAM is refused with its config file named.
    let err = zoo::build_semantic(&sam_tiny(), None, Device::Cpu, 5, Some(32), 1)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("config.json") && err.contains("SAM runs at its own size"),
        "{err}"
    );
}

#[test]
fn the_decoder_alone_and_serial_lora_train_and_report_per_class_scores() {
    let data = camvid_root();
    let e = experiment(data.path(), r#""probe", "serial_lora""#);
    let specs = runs(&e);
    let names: Vec<String> = specs.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "sam-tiny_camvid_probe_r0_seed3_dec",
            "sam-tiny_camvid_serial_lora_r2_seed3_dec",
            "sam-tiny_camvid_serial_lora_r4_seed3_dec",
        ]
    );
    let results = tempfile::tempdir().unwrap();
    let probe = finish(&specs[0], results.path());
    let serial = finish(&specs[1], results.path());
    for s in [&probe, &serial] {
        let c = s.classes.as_ref().expect("per-class scores");
        assert_eq!(c.class_iou.len(), 11);
        // Two 40×30 test images; the void band is left out.
        let void = (0..2u32)
            .map(|seed| {
                (0..40u32)
                    .flat_map(|x| (0..30u32).map(move |y| (x, y)))
                    .filter(|&(x, y)| (x / 4 + y / 10 + seed) % 12 == 11)
                    .count() as u64
            })
            .sum::<u64>();
        assert_eq!(c.pixels, 2 * 40 * 30 - void);
        assert!((0.0..=1.0).contains(&c.miou) && (0.0..=1.0).contains(&c.pixel_accuracy));
        assert_eq!((s.test.iou, s.test.instances), (c.miou, 2));
        assert!(s.zero_shot.is_none());
    }
    assert!(serial.trainable_params > probe.trainable_params);
    let folder = |spec: &RunSpec| results.path().join("segmentation").join(spec.name());
    assert!(folder(&specs[0]).join("mask_decoder.safetensors").exists());
    assert!(!folder(&specs[0]).join("adapter_model.safetensors").exists());
    assert!(folder(&specs[1]).join("adapter_model.safetensors").exists());
    let config = std::fs::read_to_string(folder(&specs[1]).join("config.json")).unwrap();
    let data_path = data.path().display().to_string();
    assert!(
        !config.contains(&data_path),
        "no data path in config.json: {config}"
    );
    // The same seed on the same machine gives the same numbers.
    let again = tempfile::tempdir().unwrap();
    assert_eq!(finish(&specs[1], again.path()).classes, serial.classes);
    // Figure 4 for scenes: three test images (two exist: picks repeat) × image, ground truth and
    // each run at half size, titled with mIoU; a legend below.
    let runs = [folder(&specs[0]), folder(&specs[1])];
    let out = results.path().join("fig4.png");
    let err = segmentation::figure::draw(&runs, None, &out)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--data-root"), "{err}");
    segmentation::figure::draw(&runs, Some(data.path()), &out).unwrap();
    let png = image::open(&out).unwrap().to_rgb8();
    assert_eq!(png.width(), 4 * 20 + 3 * 6);
    assert!(png.height() > 3 * 15 + 2 * 6);
    // predict: each image's class map at its own size, every value a class, and an overlay.
    let predicted = results.path().join("predicted");
    let image = data.path().join("camvid/test/images/f0.png");
    let files =
        segmentation::segment::segment_images(&runs[1], &[image], None, &predicted, Device::Cpu)
            .unwrap();
    assert_eq!(files.len(), 2);
    let labels = image::open(predicted.join("f0_labels.png"))
        .unwrap()
        .to_luma8();
    assert_eq!(labels.dimensions(), (40, 30));
    assert!(labels.pixels().all(|p| p.0[0] < 11));
    let overlay = image::open(predicted.join("f0_overlay.png")).unwrap();
    assert_eq!((overlay.width(), overlay.height()), (40, 30));
}

#[test]
fn bad_scenes_are_named_before_anything_trains() {
    let data = camvid_root();
    let test = data.path().join("camvid/test");
    GrayImage::from_fn(40, 30, |x, _| Luma([if x == 7 { 12 } else { 1 }]))
        .save(test.join("labels/f1.png"))
        .unwrap();
    let spec = runs(&experiment(data.path(), r#""probe""#)).remove(0);
    let results = tempfile::tempdir().unwrap();
    let err = format!(
        "{:#}",
        run_one::<Segmentation>(&spec, results.path(), None).unwrap_err()
    );
    assert!(
        err.contains("f1.png") && err.contains("label value 12"),
        "{err}"
    );
    let folder = results.path().join("segmentation").join(spec.name());
    assert!(!folder.join("metrics.csv").exists() && !folder.join("checkpoint").exists());
    // Without a data root the run says how to give one.
    let mut e = experiment(data.path(), r#""probe""#);
    e.task.data_root = None;
    let spec = runs(&e).remove(0);
    let err = format!(
        "{:#}",
        run_one::<Segmentation>(&spec, results.path(), None).unwrap_err()
    );
    assert!(err.contains("--data-root"), "{err}");
}

#[test]
fn multi_class_fields_are_checked() {
    let data = camvid_root();
    let check = |edit: &dyn Fn(&mut Experiment)| {
        let mut e = experiment(data.path(), r#""probe""#);
        edit(&mut e);
        e.validate().map(|_| ()).map_err(|err| err.to_string())
    };
    let err = check(&|e| e.task.prompt = segmentation::Prompt::Box).unwrap_err();
    assert!(err.contains("prompt"), "{err}");
    let err = check(&|e| e.task.dataset = "stardist".into()).unwrap_err();
    assert!(err.contains("`probe` is not an adapter method"), "{err}");
    let err = check(&|e| {
        e.task.dataset = "stardist".into();
        e.grid.methods = vec![formats::Method::Lora];
        e.task.image_size = Some(64);
    })
    .unwrap_err();
    assert!(err.contains("image_size"), "{err}");
    let err = check(&|e| {
        e.grid.extra_ranks.insert(formats::Method::Probe, vec![2]);
    })
    .unwrap_err();
    assert!(err.contains("extra_ranks"), "{err}");
}
