//! `classification predict` on finished runs of the tiny experiment: classifying the run's own test
//! images, saved under class-named folders, gives exactly the accuracy the run reported, for a
//! LoRA run and a probe (head only); the CSV lists the top-k classes in falling probability;
//! a folder that is not a finished run is refused in one line.

use std::path::Path;
use std::process::Command;

use image::{Rgb, RgbImage};

mod common;

use common::{finished, tiny_runs};
use runner::RunSpec as _;

/// Runs `classification predict`; (success, stdout, stderr).
fn predict(args: &[&Path]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_classification"))
        .arg("predict")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_finished_run_classifies_its_test_images_with_its_reported_accuracy() {
    let results = tempfile::tempdir().unwrap();
    // A class-per-folder set of PNGs: the run's test images are files that `predict` reads back.
    let set = results.path().join("set");
    for (split, n) in [("train", 4), ("test", 3)] {
        for (c, class) in ["ring", "bar"].iter().enumerate() {
            let folder = set.join(split).join(class);
            std::fs::create_dir_all(&folder).unwrap();
            for i in 0..n {
                let img = RgbImage::from_fn(20, 20, |x, y| {
                    let on = if c == 0 {
                        (x + y + i) % 5 == 0
                    } else {
                        (x / 3 + i) % 2 == 0
                    };
                    let v = if on { 230 } else { (10 * i + y) as u8 };
                    Rgb([v, v / 2, 255 - v])
                });
                img.save(folder.join(format!("{i}.png"))).unwrap();
            }
        }
    }
    let dataset = format!("datasets = [\"folder:{}\"]", set.display());
    let runs = tiny_runs(&[("datasets = [\"faces\"]", &dataset)]);
    let images = set.join("test");
    let tests = 6;
    for method in ["lora", "probe"] {
        let spec = runs.iter().find(|r| r.method.name() == method).unwrap();
        let summary = finished(spec, results.path(), None).expect("finished");
        let run = results.path().join("classification").join(spec.name());
        let csv_path = results.path().join(format!("{method}.csv"));
        let (ok, stdout, stderr) = predict(&[
            "--run".as_ref(),
            &run,
            "--images".as_ref(),
            &images,
            "--out".as_ref(),
            &csv_path,
            "--top-k".as_ref(),
            "2".as_ref(),
        ]);
        assert!(ok, "{stderr}");
        assert!(stdout.contains(&format!("{tests} image(s)")), "{stdout}");
        let mut reader = csv::Reader::from_path(&csv_path).unwrap();
        assert_eq!(
            reader.headers().unwrap().iter().collect::<Vec<_>>(),
            [
                "file",
                "class_1",
                "probability_1",
                "class_2",
                "probability_2",
                "label"
            ]
        );
        let mut correct = 0;
        let mut rows = 0;
        for record in reader.records() {
            let r = record.unwrap();
            let (p1, p2): (f64, f64) = (r[2].parse().unwrap(), r[4].parse().unwrap());
            assert!(p1 >= p2 && p1 + p2 <= 1.0 + 1e-6, "{r:?}");
            assert_ne!(&r[1], &r[3]);
            correct += usize::from(r[1] == r[5]);
            rows += 1;
        }
        assert_eq!(rows, tests);
        assert_eq!(
            correct as f64 / rows as f64,
            summary.accuracy,
            "{method}: the run's own test accuracy"
        );
    }

    let (ok, _, stderr) = predict(&[
        "--run".as_ref(),
        results.path(),
        "--images".as_ref(),
        &images,
        "--out".as_ref(),
        &results.path().join("never.csv"),
    ]);
    assert!(
        !ok && stderr.contains("is not a finished classification run"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!results.path().join("never.csv").exists());
}
