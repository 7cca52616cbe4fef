//! CIFAR-10 by name under a data root (a tiny fixture in its layout): the run folder, `config.json`
//! and `summary.csv` carry the name and never the data path; a missing root or a corrupt image
//! stops the run before its first step with one line naming what is wrong.

use std::path::Path;

use classification::Classification;
use image::{Rgb, RgbImage};
use runner::run_one;

mod common;

use common::{finished, read_experiment, write_tiny};
use runner::RunSpec as _;

/// `root/cifar10/{train,test}/<class>/*.png`: 16×16 images, three train and two test per class.
fn cifar_fixture(root: &Path) {
    for (c, class) in data::CIFAR10_CLASSES.iter().enumerate() {
        for (split, n) in [("train", 3), ("test", 2)] {
            let dir = root.join("cifar10").join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..n {
                let img = RgbImage::from_fn(16, 16, |x, y| {
                    Rgb([(c * 25) as u8, (x * 16) as u8, (y * 8 + i * 60) as u8])
                });
                img.save(dir.join(format!("{i}.png"))).unwrap();
            }
        }
    }
}

/// The LoRA run of the tiny experiment on `cifar10` with the data root `data_root`.
fn cifar_run(data_root: Option<&Path>) -> classification::RunSpec {
    let dir = tempfile::tempdir().unwrap();
    let file = write_tiny(
        dir.path(),
        &[
            ("datasets = [\"faces\"]", "datasets = [\"cifar10\"]"),
            (
                "methods = [\"probe\", \"lora\", \"serial_lora\", \"lora_plus\", \"serial_lora_plus\"]",
                "methods = [\"lora\"]",
            ),
        ],
    );
    let mut experiment = read_experiment(&file);
    experiment.task.data_root = data_root.map(Path::to_path_buf);
    let runs = experiment
        .grid_runs(&formats::paths::repo_root(), None)
        .unwrap();
    assert_eq!(runs.len(), 1);
    runs.into_iter().next().unwrap()
}

#[test]
fn cifar10_runs_by_name_and_records_no_data_path() {
    let data_root = tempfile::tempdir().unwrap();
    cifar_fixture(data_root.path());
    let results = tempfile::tempdir().unwrap();
    let spec = cifar_run(Some(data_root.path()));
    assert!(spec.name().contains("_cifar10_"), "{}", spec.name());
    let summary = finished(&spec, results.path(), None).expect("finished");
    assert_eq!(summary.dataset, "cifar10");
    runner::collect::<Classification>(results.path()).unwrap();
    let data_path = data_root.path().to_string_lossy().into_owned();
    let run_dir = results.path().join("classification").join(spec.name());
    for file in [
        run_dir.join("config.json"),
        run_dir.join("summary.json"),
        results.path().join("classification/summary.csv"),
    ] {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains(&data_path) && !text.contains("data_root"),
            "{} records the data path: {text}",
            file.display()
        );
    }
    // The same run from another data location is the same run: it is found finished.
    let elsewhere = tempfile::tempdir().unwrap();
    cifar_fixture(elsewhere.path());
    let again = finished(&cifar_run(Some(elsewhere.path())), results.path(), None);
    assert_eq!(again.expect("finished").accuracy, summary.accuracy);
}

#[test]
fn cifar10_without_a_data_root_or_with_a_corrupt_image_stops_before_training() {
    let results = tempfile::tempdir().unwrap();
    let err = run_one::<Classification>(&cifar_run(None), results.path(), None)
        .expect_err("no data root");
    assert!(
        format!("{err:#}").contains("needs `--data-root DIR`"),
        "{err:#}"
    );

    let data_root = tempfile::tempdir().unwrap();
    cifar_fixture(data_root.path());
    let bad = data_root.path().join("cifar10/test/horse/1.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nnot a png").unwrap();
    let spec = cifar_run(Some(data_root.path()));
    let err = run_one::<Classification>(&spec, results.path(), None).expect_err("corrupt image");
    let msg = format!("{err:#}");
    assert!(msg.contains("test/horse/1.png"), "{msg}");
    let run_dir = results.path().join("classification").join(spec.name());
    assert!(
        !run_dir.join("metrics.csv").exists(),
        "no training step was taken"
    );
}
