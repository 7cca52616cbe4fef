//! End to end: `analysis svd` on a tiny synthetic CLIP-style model with a LoRA and a Serial run.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::*;
use ndarray::Array2;

const D: usize = 8;
const R: usize = 2;
const ATTN: &str = "vision_model.encoder.layers";

fn write_model(dir: &Path) {
    let mut tensors = Vec::new();
    for block in 0..2 {
        for (i, proj) in ["q_proj", "k_proj", "v_proj", "out_proj"]
            .iter()
            .enumerate()
        {
            tensors.push((
                format!("{ATTN}.{block}.self_attn.{proj}.weight"),
                random(D, D, (block * 4 + i) as u64),
            ));
        }
    }
    write_safetensors(&dir.join("model.safetensors"), &tensors, false);
}

fn lora_tensors(seed: u64) -> Vec<(String, Array2<f64>)> {
    let mut t = Vec::new();
    for block in 0..2 {
        for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            let m = format!("{ATTN}.{block}.self_attn.{proj}");
            t.push((key(&m, "lora", "A"), random(R, D, seed + block)));
            t.push((key(&m, "lora", "B"), random(D, R, seed + 7 + block)));
        }
    }
    t
}

fn serial_tensors() -> Vec<(String, Array2<f64>)> {
    (0..2u64)
        .flat_map(|block| {
            let m = format!("{ATTN}.{block}.self_attn");
            [
                (key(&m, "serial_lora", "A"), random(R, D, 40 + block)),
                (key(&m, "serial_lora", "B"), random(D, R, 50 + block)),
            ]
        })
        .collect()
}

fn run_cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_analysis"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn svd_writes_csv_and_png_for_the_latest_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    write_model(&model);
    let results = tmp.path().join("results");
    let runs = results.join("classification");
    // An older LoRA run at another rank: discovery must prefer the newer one.
    let old = runs.join("lora-old");
    write_run(
        &old,
        "tiny-clip",
        &model,
        "lora",
        &adapter_config("LORA", 4, 4.0, false),
        &{
            let mut t = lora_tensors(1);
            t.iter_mut().for_each(|(_, m)| {
                *m = if m.nrows() == 2 {
                    random(4, D, 3)
                } else {
                    random(D, 4, 4)
                }
            });
            t
        },
    );
    std::fs::File::open(&old)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    write_run(
        &runs.join("lora-new"),
        "tiny-clip",
        &model,
        "lora",
        &adapter_config("LORA", R, 2.0, false),
        &lora_tensors(20),
    );
    write_run(
        &results.join("segmentation/serial"),
        "tiny-clip",
        &model,
        "serial_lora",
        &adapter_config("SERIAL_LORA", R, 2.0, true),
        &serial_tensors(),
    );
    std::fs::write(runs.join("summary.csv"), "not a run folder").unwrap();

    let figures = tmp.path().join("figures");
    let out = run_cli(&[
        "svd",
        "--results",
        results.to_str().unwrap(),
        "--figures",
        figures.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let csv_path = results.join("spectra/tiny-clip.csv");
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "method",
            "rank",
            "matrix",
            "tower",
            "block",
            "proj",
            "index",
            "sigma",
            "sigma_normalized",
            "run"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let methods: BTreeSet<(String, String, String)> = rows
        .iter()
        .map(|r| (r[0].into(), r[1].into(), r[2].into()))
        .collect();
    let want = [
        ("lora", "2", "delta"),
        ("lora", "2", "weight"),
        ("pretrained", "", "weight"),
        ("serial_lora", "2", "delta"),
        ("serial_lora", "2", "weight"),
    ];
    assert_eq!(
        methods,
        want.iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect()
    );
    // 2 blocks × 3 projections × (3 weights × D singular values + 2 updates × their rank bound R:
    // the rest are zero and not written), plus 2 blocks of out_proj, which only LoRA updates.
    assert_eq!(rows.len(), 2 * 3 * (3 * D + 2 * R) + 2 * (3 * D + R));
    let o_deltas: BTreeSet<&str> = rows
        .iter()
        .filter(|r| &r[5] == "o" && &r[2] == "delta")
        .map(|r| &r[0])
        .collect();
    assert_eq!(o_deltas, BTreeSet::from(["lora"]));

    for r in &rows {
        let (index, sigma, norm): (usize, f64, f64) = (
            r[6].parse().unwrap(),
            r[7].parse().unwrap(),
            r[8].parse().unwrap(),
        );
        assert!(sigma >= 0.0 && (0.0..=1.0 + 1e-12).contains(&norm));
        if index == 0 {
            assert!((norm - 1.0).abs() < 1e-12);
        }
        // Both updates have rank at most r (W B A and B A): only their first R values are written.
        assert!(&r[2] != "delta" || index < R, "{r:?}");
        if &r[2] == "delta" {
            assert!(norm > 1e-6, "{r:?}");
        }
    }
    // The merged weights differ from the pre-trained ones.
    let top = |method: &str| -> f64 {
        let row = rows
            .iter()
            .find(|r| {
                &r[0] == method && &r[2] == "weight" && &r[4] == "1" && &r[5] == "q" && &r[6] == "0"
            })
            .unwrap();
        row[7].parse().unwrap()
    };
    assert!(
        (top("lora") - top("pretrained")).abs() > 1e-6
            && (top("serial_lora") - top("pretrained")).abs() > 1e-6
    );

    let png = std::fs::read(figures.join("fig3_tiny-clip.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert!(w >= 800 && h >= 800, "{w}x{h}");
    let leftovers: Vec<_> = std::fs::read_dir(&figures)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "temporary files left behind: {leftovers:?}"
    );
    update_figure_shows_serial_lora_only_off_the_o_panel(
        &figures.join("fig3_updates_tiny-clip.png"),
    );
}

/// Pixels of exactly `rgb` in the quadrant (`col`, `row`) of the figure below its title band.
fn quadrant_pixels(img: &image::RgbImage, col: u32, row: u32, rgb: [u8; 3]) -> usize {
    let (w, h) = (img.width() / 2, (img.height() - 60) / 2);
    (col * w..(col + 1) * w)
        .flat_map(|x| (60 + row * h..60 + (row + 1) * h).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0 == rgb)
        .count()
}

/// q (top left) shows both methods; o (bottom right) LoRA only, in the methods' colours.
fn update_figure_shows_serial_lora_only_off_the_o_panel(path: &Path) {
    use analysis::plot::style::color;
    use formats::Method;
    let img = image::open(path).unwrap().to_rgb8();
    assert_eq!((img.width(), img.height()), (1280, 1060));
    let rgb = |m: Method| {
        let c = color(Some(m));
        [c.0, c.1, c.2]
    };
    for m in [Method::Lora, Method::SerialLora] {
        assert!(
            quadrant_pixels(&img, 0, 0, rgb(m)) > 50,
            "{m:?} in the q panel"
        );
    }
    assert!(quadrant_pixels(&img, 1, 1, rgb(Method::Lora)) > 50);
    assert_eq!(quadrant_pixels(&img, 1, 1, rgb(Method::SerialLora)), 0);
}

#[test]
fn svd_errors_name_the_culprit() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    write_model(&model);
    let run = tmp.path().join("run");
    write_run(
        &run,
        "tiny-clip",
        &model,
        "serial_lora",
        &adapter_config("SERIAL_LORA", R, 2.0, false),
        &serial_tensors(),
    );
    let args = |extra: &[&str]| {
        let mut a = vec![
            "svd",
            "--runs",
            run.to_str().unwrap(),
            "--results",
            tmp.path().to_str().unwrap(),
            "--figures",
            tmp.path().to_str().unwrap(),
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let stderr = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_analysis"))
            .args(args(extra))
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(stderr(&["--blocks", "0,7"]).contains("block 7"));

    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    config["method"] = "dora".into();
    write_json(&run.join("config.json"), &config);
    let e = stderr(&[]);
    assert!(
        e.contains("unknown method `dora`") && e.contains("config.json"),
        "{e}"
    );

    config["method"] = "lora".into();
    write_json(&run.join("config.json"), &config);
    let e = stderr(&[]);
    assert!(
        e.contains("peft_type") && e.contains("adapter_config.json"),
        "{e}"
    );

    config["method"] = "serial_lora".into();
    write_json(&run.join("config.json"), &config);
    std::fs::remove_file(model.join("model.safetensors")).unwrap();
    let e = stderr(&[]);
    assert!(e.contains("model.safetensors"), "{e}");
}

/// A checkout-like folder: the model under `.cache/models/tiny`, a LoRA and a Serial run under
/// `results/<results_task>/` whose `config.json` stores that model folder relative to the root.
fn checkout_with_relative_runs(root: &Path, results_task: &str) {
    write_model(&root.join(".cache/models/tiny"));
    let runs = root.join("results").join(results_task);
    let stored = Path::new(".cache/models/tiny");
    write_run(
        &runs.join("tiny_lora_r2_seed1"),
        "tiny-clip",
        stored,
        "lora",
        &adapter_config("LORA", R, 2.0, false),
        &lora_tensors(20),
    );
    write_run(
        &runs.join("tiny_serial_lora_r2_seed1"),
        "tiny-clip",
        stored,
        "serial_lora",
        &adapter_config("SERIAL_LORA", R, 2.0, false),
        &serial_tensors(),
    );
}

/// `svd` from `cwd` with the repository root `root`, its results and figures inside it.
fn svd_in(cwd: &Path, root: &Path, extra: &[&str]) -> std::process::Output {
    let (results, figures) = (root.join("results"), root.join("figures"));
    let mut args = vec![
        "svd",
        "--results",
        results.to_str().unwrap(),
        "--figures",
        figures.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_analysis"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

fn spectrum_runs(root: &Path) -> BTreeSet<String> {
    let mut reader = csv::Reader::from_path(root.join("results/spectra/tiny-clip.csv")).unwrap();
    reader
        .records()
        .map(|r| r.unwrap()[9].to_string())
        .filter(|run| !run.is_empty())
        .collect()
}

#[test]
fn svd_reads_results_copied_to_another_checkout() {
    let tmp = tempfile::tempdir().unwrap();
    let (first, second, elsewhere) = (
        tmp.path().join("first"),
        tmp.path().join("second"),
        tmp.path().join("elsewhere"),
    );
    checkout_with_relative_runs(&first, "classification");
    // The other checkout gets its own copy of the model (`make setup`) and the results folder;
    // the first one disappears, so nothing can be read from it.
    copy_dir(&first, &second);
    std::fs::remove_dir_all(&first).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();

    let out = svd_in(&elsewhere, &second, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        spectrum_runs(&second),
        BTreeSet::from([
            "tiny_lora_r2_seed1".to_string(),
            "tiny_serial_lora_r2_seed1".to_string()
        ])
    );
    assert!(second.join("figures/fig3_tiny-clip.png").is_file());
}

#[test]
fn run_model_dir_is_taken_from_the_root_unless_absolute() {
    let tmp = tempfile::tempdir().unwrap();
    checkout_with_relative_runs(tmp.path(), "classification");
    let dir = tmp.path().join("results/classification/tiny_lora_r2_seed1");
    let root = Path::new("/some/checkout");
    let run = analysis::run::Run::read(&dir, root).unwrap();
    assert_eq!(run.model_dir, root.join(".cache/models/tiny"));
    assert_eq!((run.method, run.rank), (analysis::Method::Lora, R));

    let absolute = tmp.path().join("weights/tiny");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    config["model_dir"] = absolute.to_str().unwrap().into();
    write_json(&dir.join("config.json"), &config);
    assert_eq!(
        analysis::run::Run::read(&dir, root).unwrap().model_dir,
        absolute
    );

    // A baseline run has no adapter to analyse.
    config["method"] = "probe".into();
    config["rank"] = 0.into();
    write_json(&dir.join("config.json"), &config);
    let e = analysis::run::Run::read(&dir, root)
        .unwrap_err()
        .to_string();
    assert!(e.contains("probe") && e.contains("config.json"), "{e}");
}

#[test]
fn svd_without_the_base_model_says_make_setup() {
    let tmp = tempfile::tempdir().unwrap();
    checkout_with_relative_runs(tmp.path(), "classification");
    std::fs::remove_dir_all(tmp.path().join(".cache")).unwrap();
    let out = svd_in(tmp.path(), tmp.path(), &[]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    let model = tmp.path().join(".cache/models/tiny");
    assert!(
        e.contains("make setup") && e.contains(model.to_str().unwrap()),
        "{e}"
    );
}

#[test]
fn svd_falls_back_to_the_committed_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    checkout_with_relative_runs(root, "reference/classification");
    // A baseline run of the user's own (no adapter) does not count as a run to analyse.
    write_json(
        &root.join("results/classification/tiny_probe_r0_seed1/config.json"),
        &serde_json::json!({ "backbone": "tiny-clip", "model_dir": ".cache/models/tiny",
                              "method": "probe", "rank": 0, "seed": 1 }),
    );
    let out = svd_in(root, root, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no runs of your own under")
            && stderr.contains("rendering the committed reference"),
        "{stderr}"
    );
    assert_eq!(spectrum_runs(root).len(), 2);

    // Once the user has a run of their own, only the user's runs are rendered.
    write_run(
        &root.join("results/segmentation/mine_serial_lora_r2_seed1"),
        "tiny-clip",
        Path::new(".cache/models/tiny"),
        "serial_lora",
        &adapter_config("SERIAL_LORA", R, 2.0, true),
        &serial_tensors(),
    );
    let out = svd_in(root, root, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("committed reference"), "{stderr}");
    assert_eq!(
        spectrum_runs(root),
        BTreeSet::from(["mine_serial_lora_r2_seed1".to_string()])
    );
}
