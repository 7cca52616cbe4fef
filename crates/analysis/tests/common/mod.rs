//! Helpers shared by the integration tests: random matrices, safetensors and JSON writers, run folders.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::Path;

use ndarray::Array2;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde_json::{json, Value};

/// A matrix of deterministic pseudo-random values in [-1, 1), exactly representable in f32.
pub fn random(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    Array2::from_shape_simple_fn((rows, cols), || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let unit = (state >> 40) as f64 / (1u64 << 24) as f64;
        (2.0 * unit - 1.0) as f32 as f64
    })
}

/// Writes `tensors` to a safetensors file as F32 (`f64 == false`) or F64.
pub fn write_safetensors(path: &Path, tensors: &[(String, Array2<f64>)], f64: bool) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, m)| {
            if f64 {
                m.iter().flat_map(|v| v.to_le_bytes()).collect()
            } else {
                m.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect()
            }
        })
        .collect();
    let dtype = if f64 { Dtype::F64 } else { Dtype::F32 };
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, m), b)| {
            (
                name.clone(),
                TensorView::new(dtype, m.shape().to_vec(), b).unwrap(),
            )
        })
        .collect();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// Writes `value` as JSON to `path`.
pub fn write_json(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// `adapter_config.json` contents.
pub fn adapter_config(peft_type: &str, r: usize, alpha: f64, rslora: bool) -> Value {
    json!({ "peft_type": peft_type, "r": r, "lora_alpha": alpha, "use_rslora": rslora, "target_modules": ["x"] })
}

/// A run folder: `config.json` (with extra fields the analysis must ignore), the adapter config and weights.
pub fn write_run(
    dir: &Path,
    backbone: &str,
    model_dir: &Path,
    method: &str,
    config: &Value,
    tensors: &[(String, Array2<f64>)],
) {
    let run = json!({
        "backbone": backbone,
        "model_dir": model_dir,
        "method": method,
        "rank": config["r"],
        "seed": 1,
        "dataset": "pets",
        "optim": { "lr": 2e-4 },
    });
    write_json(&dir.join("config.json"), &run);
    write_json(&dir.join("adapter_config.json"), config);
    write_safetensors(&dir.join("adapter_model.safetensors"), tensors, false);
}

/// `base_model.model.<module>.<kind>_<AB>.weight`.
pub fn key(module: &str, kind: &str, ab: &str) -> String {
    format!("base_model.model.{module}.{kind}_{ab}.weight")
}

/// `W + s·B A`, by explicit loops.
pub fn dense_lora(w: &Array2<f64>, a: &Array2<f64>, b: &Array2<f64>, s: f64) -> Array2<f64> {
    let mut out = w.clone();
    for i in 0..w.nrows() {
        for j in 0..w.ncols() {
            out[[i, j]] += s * (0..a.nrows()).map(|k| b[[i, k]] * a[[k, j]]).sum::<f64>();
        }
    }
    out
}

/// `W (I + s·B A)`, by explicit loops.
pub fn dense_serial(w: &Array2<f64>, a: &Array2<f64>, b: &Array2<f64>, s: f64) -> Array2<f64> {
    let d = w.ncols();
    let mut m = Array2::<f64>::eye(d);
    for i in 0..d {
        for j in 0..d {
            m[[i, j]] += s * (0..a.nrows()).map(|k| b[[i, k]] * a[[k, j]]).sum::<f64>();
        }
    }
    let mut out = Array2::zeros(w.raw_dim());
    for i in 0..w.nrows() {
        for j in 0..d {
            out[[i, j]] = (0..d).map(|k| w[[i, k]] * m[[k, j]]).sum();
        }
    }
    out
}

/// Largest absolute difference.
pub fn max_diff(a: &Array2<f64>, b: &Array2<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Copies the folder `from` with everything in it to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
