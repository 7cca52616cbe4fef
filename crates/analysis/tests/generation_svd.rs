//! `analysis svd` on generation runs: a tiny MMDiT in diffusers' layout (`config.json` +
//! `diffusion_pytorch_model.safetensors`, `transformer_blocks.<i>.attn.to_q|to_k|to_v|to_out.0`
//! and the context stream's `add_*_proj`/`to_add_out`) with a LoRA and a Serial LoRA run.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use analysis::spectrum::singular_values;
use common::*;
use ndarray::Array2;
use serde_json::json;

const D: usize = 8;
const R: usize = 2;
const BLOCKS: u64 = 2;
const IMAGE: [&str; 4] = ["to_q", "to_k", "to_v", "to_out.0"];
const CONTEXT: [&str; 4] = ["add_q_proj", "add_k_proj", "add_v_proj", "to_add_out"];

fn weight(block: u64, proj: usize) -> Array2<f64> {
    random(D, D, block * 10 + proj as u64)
}

/// The MMDiT folder: diffusers' config and weights (the attention projections of both streams
/// and a tensor outside attention).
fn write_model(dir: &Path) {
    let mut tensors = vec![("pos_embed.proj.weight".to_string(), random(D, 4, 99))];
    for block in 0..BLOCKS {
        for (i, proj) in IMAGE.iter().chain(&CONTEXT).enumerate() {
            tensors.push((
                format!("transformer_blocks.{block}.attn.{proj}.weight"),
                weight(block, i),
            ));
        }
    }
    write_safetensors(
        &dir.join("diffusion_pytorch_model.safetensors"),
        &tensors,
        false,
    );
    write_json(
        &dir.join("config.json"),
        &json!({ "_class_name": "SD3Transformer2DModel", "num_layers": BLOCKS, "attention_head_dim": 4, "num_attention_heads": 2 }),
    );
}

fn serial_a(block: u64) -> Array2<f64> {
    random(R, D, 40 + block)
}

fn serial_b(block: u64) -> Array2<f64> {
    random(D, R, 50 + block)
}

/// LoRA on the image stream's q, k, v, o and on the context stream's `add_q_proj` (left out).
fn lora_tensors() -> Vec<(String, Array2<f64>)> {
    let mut t = Vec::new();
    for block in 0..BLOCKS {
        for proj in IMAGE.iter().chain(&CONTEXT[..1]) {
            let m = format!("transformer_blocks.{block}.attn.{proj}");
            t.push((key(&m, "lora", "A"), random(R, D, 20 + block)));
            t.push((key(&m, "lora", "B"), random(D, R, 30 + block)));
        }
    }
    t
}

/// Serial LoRA at `attn` (image stream) and `attn.context` (context stream, left out).
fn serial_tensors() -> Vec<(String, Array2<f64>)> {
    let mut t = Vec::new();
    for block in 0..BLOCKS {
        for (m, seed) in [("attn", 0), ("attn.context", 60)] {
            let m = format!("transformer_blocks.{block}.{m}");
            t.push((key(&m, "serial_lora", "A"), random(R, D, 40 + seed + block)));
            t.push((key(&m, "serial_lora", "B"), random(D, R, 50 + seed + block)));
        }
    }
    t
}

fn run_cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_analysis"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn svd_reads_an_mmdit_in_diffusers_layout_and_its_image_stream_adapters() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("tiny-mmdit");
    write_model(&model);
    let results = tmp.path().join("results");
    let runs = results.join("generation");
    let (lora, serial) = (
        runs.join("tiny-mmdit_fashion_lora_r2_seed1"),
        runs.join("tiny-mmdit_fashion_serial_lora_r2_seed1"),
    );
    write_run(
        &lora,
        "tiny-mmdit",
        &model,
        "lora",
        &adapter_config("LORA", R, 2.0, false),
        &lora_tensors(),
    );
    write_run(
        &serial,
        "tiny-mmdit",
        &model,
        "serial_lora",
        &adapter_config("SERIAL_LORA", R, 2.0, false),
        &serial_tensors(),
    );
    let figures = tmp.path().join("figures");
    let out = run_cli(&[
        "svd",
        "--runs",
        lora.to_str().unwrap(),
        serial.to_str().unwrap(),
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

    let mut reader = csv::Reader::from_path(results.join("spectra/tiny-mmdit.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let towers: BTreeSet<&str> = rows.iter().map(|r| &r[3]).collect();
    assert_eq!(towers, BTreeSet::from(["transformer_blocks"]));
    // Every q/k/v site of every block has a pre-trained spectrum and both runs' updates; o has
    // LoRA's only; the context stream has none.
    let sites = |method: &str, matrix: &str| -> BTreeSet<(String, String)> {
        rows.iter()
            .filter(|r| &r[0] == method && &r[2] == matrix)
            .map(|r| (r[4].to_string(), r[5].to_string()))
            .collect()
    };
    let of = |projs: &[&str]| -> BTreeSet<(String, String)> {
        (0..BLOCKS)
            .flat_map(|b| projs.iter().map(move |p| (b.to_string(), p.to_string())))
            .collect()
    };
    assert_eq!(sites("pretrained", "weight"), of(&["q", "k", "v", "o"]));
    assert_eq!(sites("serial_lora", "delta"), of(&["q", "k", "v"]));
    assert_eq!(sites("lora", "delta"), of(&["q", "k", "v", "o"]));
    assert_eq!(rows.len(), 2 * 3 * (3 * D + 2 * R) + 2 * (3 * D + R));

    // Serial LoRA's merged W_q of block 1: W_q (I + s·B A), s = 2 / 2.
    let merged = dense_serial(&weight(1, 0), &serial_a(1), &serial_b(1), 1.0);
    let want = singular_values(&merged, "merged q").unwrap()[0];
    let top = rows
        .iter()
        .find(|r| (&r[0], &r[2], &r[4], &r[5], &r[6]) == ("serial_lora", "weight", "1", "q", "0"))
        .unwrap();
    let got: f64 = top[7].parse().unwrap();
    assert!((got - want).abs() < 1e-4 * want, "{got} vs {want}");

    let png = std::fs::read(figures.join("fig3_tiny-mmdit.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(figures.join("fig3_updates_tiny-mmdit.png").is_file());

    // Without --runs, the runs under <results>/generation are found.
    std::fs::remove_file(results.join("spectra/tiny-mmdit.csv")).unwrap();
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
    assert!(results.join("spectra/tiny-mmdit.csv").is_file());
}
