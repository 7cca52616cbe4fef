//! Figure 4 from two fake run folders: one panel per run, side by side, the same bytes twice, and
//! an error naming a missing samples file.

use std::path::{Path, PathBuf};

use generation::figure::{draw, GAP};
use generation::task::SAMPLES_FILE;
use generation::Summary;
use tch::{Device, Kind, Tensor};

/// A finished grid run of `method` at `rank`, as its `summary.json` reports it.
fn summary(method: &str, rank: i64, fd: f64, accuracy: f64) -> Summary {
    Summary {
        model: "tiny-mmdit-fashion".into(),
        dataset: "fashion-mnist".into(),
        method: method.into(),
        rank,
        seed: 1,
        lr: 1e-4,
        plus_ratio: 1.0,
        trainable_params: 12_288,
        fd_dinov2: Some(fd),
        kid: Some(0.012),
        instance_accuracy: Some(accuracy),
        preservation_accuracy: Some(0.91),
        validation_loss: None,
        samples: 64,
        training: runner::TrainStats {
            steps: 400,
            train_seconds: 120.5,
            peak_rss_mb: 900.0,
        },
    }
}

/// A run folder `name` under `root` with `summary` and `n` samples `[n, 1, 28, 28]` in `[−1, 1]`.
fn fake_run(root: &Path, name: &str, summary: &Summary, n: i64, seed: i64) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("summary.json"),
        serde_json::to_string_pretty(summary).unwrap(),
    )
    .unwrap();
    tch::manual_seed(seed);
    let samples = Tensor::rand([n, 1, 28, 28], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
    serial_lora::checkpoint::save_tensors(&dir.join(SAMPLES_FILE), &[("samples".into(), samples)])
        .unwrap();
    dir
}

#[test]
fn figure_puts_one_titled_panel_per_run_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = vec![
        fake_run(tmp.path(), "lora", &summary("lora", 8, 140.25, 0.75), 16, 1),
        fake_run(
            tmp.path(),
            "serial",
            &summary("serial_lora", 8, 123.4, 0.875),
            16,
            2,
        ),
    ];
    let out = tmp.path().join("figures/fig4_generation.png");
    draw(&runs, &out).unwrap();
    let img = image::open(&out).unwrap().to_rgb8();
    // 16 samples, 8 per row: 28-pixel tiles upscaled ×3 to 84, 2 pixels apart.
    let panel = (8 * (84 + 2) - 2, 2 * (84 + 2) - 2);
    assert_eq!(img.width(), 2 * panel.0 + GAP);
    assert!(img.height() > panel.1, "a title band above the panels");

    // Deterministic: the same runs give the same bytes.
    let again = tmp.path().join("again.png");
    draw(&runs, &again).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());

    // A run without samples is named, with the fix.
    std::fs::remove_file(runs[1].join(SAMPLES_FILE)).unwrap();
    let e = format!("{:#}", draw(&runs, &again).unwrap_err());
    assert!(e.contains(SAMPLES_FILE) && e.contains("serial"), "{e}");
    assert!(e.contains("run the grid first"), "{e}");

    // So is one without a summary.
    std::fs::remove_file(runs[0].join("summary.json")).unwrap();
    let e = format!("{:#}", draw(&runs, &again).unwrap_err());
    assert!(e.contains("summary.json"), "{e}");
}
