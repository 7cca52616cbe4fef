//! `analysis bench-scaling` on a small synthetic `bench/vit_b16_scaling.csv`.

use std::fmt::Write;
use std::path::Path;
use std::process::Command;

use analysis::bench_scaling::{bench_scaling, BenchScalingOptions, Case, Series, COLUMNS};
use analysis::plot::style::color;
use formats::{Method, Precision};

/// (case, method, rank, cost relative to inference).
const LINES: [(&str, &str, usize, f64); 3] = [
    ("inference", "base", 0, 1.0),
    ("train_step", "lora", 8, 3.1),
    ("train_step", "serial_lora", 8, 3.3),
];

/// A table with every batch × image size of every line, at each of `precisions`.
fn table(precisions: &[(&str, f64)]) -> String {
    let mut text = COLUMNS.join(",") + "\n";
    for &(precision, speed) in precisions {
        for (case, method, rank, cost) in LINES {
            for batch in [1usize, 8, 32] {
                for size in [56usize, 112, 224] {
                    let tokens = (size / 16) * (size / 16) + 1;
                    let ms = (2.0 + 0.09 * cost * (batch * tokens) as f64) / speed;
                    let ips = batch as f64 * 1e3 / ms;
                    writeln!(
                        text,
                        "ours,{precision},{case},{method},{rank},{batch},{size},{ms:.3},{ips:.3}"
                    )
                    .unwrap();
                }
            }
        }
    }
    text
}

fn write_table(results: &Path, text: &str) -> std::path::PathBuf {
    let path = results.join("bench/vit_b16_scaling.csv");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn options(dir: &Path) -> BenchScalingOptions {
    BenchScalingOptions {
        results: dir.join("results"),
        figures: dir.join("figures"),
    }
}

/// Pixels of exactly `rgb` in `img`.
fn pixels(img: &image::RgbImage, rgb: [u8; 3]) -> usize {
    img.pixels().filter(|p| p.0 == rgb).count()
}

#[test]
fn cli_draws_both_panels_and_prints_the_rows_drawn() {
    let tmp = tempfile::tempdir().unwrap();
    write_table(&tmp.path().join("results"), &table(&[("fp32", 1.0)]));
    let out = Command::new(env!("CARGO_BIN_EXE_analysis"))
        .args(["bench-scaling", "--results"])
        .arg(tmp.path().join("results"))
        .arg("--figures")
        .arg(tmp.path().join("figures"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = tmp.path().join("figures/bench_scaling.png");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        COLUMNS[1..]
    );
    // Per line: 3 batches at 224 px and 56, 112 px at batch 8.
    assert_eq!(lines.len(), 1 + 3 * 5 + 1, "{stdout}");
    assert_eq!(lines[16], format!("wrote {}", png.display()));
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(first[..6], ["fp32", "inference", "base", "0", "1", "224"]);
    assert_eq!(first[6], format!("{:.3}", 2.0 + 0.09 * 197.0));

    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(bytes.len() > 10_000, "{} bytes", bytes.len());
    let img = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (1280, 560));
    // Each method's colour in both halves: lines and markers, not only the legends.
    let (w, h) = img.dimensions();
    for half in [0, w / 2] {
        let part = image::imageops::crop_imm(&img, half, 0, w / 2, h).to_image();
        for method in [Some(Method::Lora), Some(Method::SerialLora)] {
            let c = color(method);
            let n = pixels(&part, [c.0, c.1, c.2]);
            assert!(n > 400, "{method:?} at x ≥ {half}: {n} pixels");
        }
    }
    // Nothing left behind but the figure (written through a temporary file).
    let names: Vec<_> = std::fs::read_dir(tmp.path().join("figures"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["bench_scaling.png"]);
}

#[test]
fn bf16_rows_are_extra_lines_and_other_impls_are_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = table(&[("bf16", 1.8), ("fp32", 1.0)]);
    text.push_str("peft,fp32,train_step,lora,8,8,224,99.0,80.8\n");
    write_table(&tmp.path().join("results"), &text);
    let scaling = bench_scaling(&options(tmp.path())).unwrap();
    assert_eq!(scaling.rows.len(), 2 * 3 * 5);
    // fp32 first, then by case (inference first), method, batch and image size.
    let first = &scaling.rows[0];
    assert_eq!(
        (
            first.series.precision,
            first.series.case,
            first.series.method
        ),
        (Precision::Fp32, Case::Inference, None)
    );
    assert_eq!((first.batch, first.image_size), (1, 224));
    assert_eq!(scaling.rows[15].series.precision, Precision::Bf16);
    assert!(scaling
        .rows
        .iter()
        .all(|r| r.median_step_ms != 99.0 && (r.image_size == 224 || r.batch == 8)));
    let table = scaling.to_string();
    assert_eq!(table.lines().count(), 31, "{table}");
    let last: Vec<&str> = table.lines().last().unwrap().split_whitespace().collect();
    assert_eq!(
        last[..6],
        ["bf16", "train_step", "serial_lora", "8", "32", "224"]
    );
    assert_eq!(scaling.figure, tmp.path().join("figures/bench_scaling.png"));
    let img = image::open(&scaling.figure).unwrap();
    assert_eq!((img.width(), img.height()), (1280, 560));
}

#[test]
fn legend_labels() {
    let series = |precision, case, method| Series {
        precision,
        case,
        method,
    };
    let fp32 = Precision::Fp32;
    assert_eq!(
        series(fp32, Case::Inference, None).label(),
        "base (inference)"
    );
    assert_eq!(
        series(fp32, Case::TrainStep, Some(Method::Lora)).label(),
        "LoRA (train step)"
    );
    assert_eq!(
        series(fp32, Case::TrainStep, Some(Method::SerialLora)).label(),
        "Serial LoRA (train step)"
    );
    assert_eq!(
        series(Precision::Bf16, Case::TrainStep, Some(Method::SerialLora)).label(),
        "Serial LoRA (train step) bf16"
    );
}

#[test]
fn missing_empty_and_malformed_tables_are_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let opts = options(tmp.path());
    let path = results.join("bench/vit_b16_scaling.csv");
    let error = || bench_scaling(&opts).unwrap_err().to_string();

    let e = error();
    assert!(
        e.contains(&path.display().to_string()) && e.contains("make bench"),
        "{e}"
    );

    let good = table(&[("fp32", 1.0)]);
    let check = |text: &str, want: &[&str]| {
        write_table(&results, text);
        let e = error();
        assert!(e.contains(&path.display().to_string()), "{e}");
        for w in want {
            assert!(e.contains(w), "want `{w}` in: {e}");
        }
    };
    check("", &["empty"]);
    check(&(COLUMNS.join(",") + "\n"), &["no data rows"]);
    check(
        "impl,precision,case,method,rank,batch,image_size,median_step_ms\nours,fp32,inference,base,0,1,224,5.0\n",
        &["line 1", "header", "images_per_s"],
    );
    // Malformed values, on line 4 of the file.
    let with = |bad: &str| {
        let mut lines: Vec<&str> = good.lines().collect();
        lines.insert(3, bad);
        lines.join("\n") + "\n"
    };
    check(
        &with("ours,fp32,inference,base,0,2,224,abc,1.0"),
        &["line 4", "median_step_ms", "float"],
    );
    check(
        &with("ours,half,inference,base,0,2,224,5.0,1.0"),
        &["line 4", "precision", "half"],
    );
    check(
        &with("ours,fp32,eval,base,0,2,224,5.0,1.0"),
        &["line 4", "case", "eval"],
    );
    check(
        &with("ours,fp32,inference,base,0,0,224,5.0,1.0"),
        &["line 4", "batch", "is 0"],
    );
    check(
        &with("ours,fp32,inference,base,0,2,224,-1,1.0"),
        &["line 4", "median_step_ms", "positive"],
    );
    check(&with("ours,fp32,inference,base,0,2,224"), &["line: 4"]);
    check(
        &with("ours,fp32,train_step,dora,8,2,224,5.0,1.0"),
        &["dora"],
    );
    check(
        &with("ours,fp32,inference,base,0,8,224,5.0,1.0"),
        &["line 4", "repeats line", "batch 8, image_size 224"],
    );
    // Neither panel may be empty.
    let no_224: String = good
        .lines()
        .filter(|l| !l.contains(",224,"))
        .map(|l| format!("{l}\n"))
        .collect();
    check(&no_224, &["no rows at image_size 224"]);
}
