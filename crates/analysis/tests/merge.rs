//! Merge formulas against dense hand computations, through real safetensors files.

mod common;

use analysis::adapter::Adapter;
use analysis::site::{Proj, Site};
use analysis::tensors::TensorFile;
use analysis::update::site_updates;
use analysis::Error;
use common::*;
use ndarray::{s, Array2};

const D: usize = 6;
const R: usize = 2;

fn clip_base(dir: &std::path::Path) -> (TensorFile, Vec<Array2<f64>>) {
    let ws: Vec<Array2<f64>> = (0..3).map(|i| random(D, D, 10 + i)).collect();
    let names = ["q_proj", "k_proj", "v_proj"];
    let tensors: Vec<(String, Array2<f64>)> = names
        .iter()
        .zip(&ws)
        .map(|(n, w)| {
            (
                format!("vision_model.encoder.layers.3.self_attn.{n}.weight"),
                w.clone(),
            )
        })
        .collect();
    write_safetensors(&dir.join("model.safetensors"), &tensors, false);
    (
        TensorFile::open(&dir.join("model.safetensors")).unwrap(),
        ws,
    )
}

fn site(tower: &str, block: usize, proj: Proj) -> Site {
    Site {
        tower: tower.into(),
        block,
        proj,
    }
}

#[test]
fn lora_merge_matches_dense_with_both_scale_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, ws) = clip_base(tmp.path());
    for (rslora, scale) in [(false, 3.0 / R as f64), (true, 3.0 / (R as f64).sqrt())] {
        let m = "vision_model.encoder.layers.3.self_attn.v_proj";
        let (a, b) = (random(R, D, 1), random(D, R, 2));
        let dir = tmp.path().join(format!("lora-{rslora}"));
        write_json(
            &dir.join("adapter_config.json"),
            &adapter_config("LORA", R, 3.0, rslora),
        );
        write_safetensors(
            &dir.join("adapter_model.safetensors"),
            &[
                (key(m, "lora", "A"), a.clone()),
                (key(m, "lora", "B"), b.clone()),
            ],
            true,
        );
        let adapter = Adapter::read(&dir).unwrap();
        assert!((adapter.config.scale - scale).abs() < 1e-15);
        let updates = site_updates(&base, &adapter).unwrap();
        assert_eq!(
            updates.keys().cloned().collect::<Vec<_>>(),
            vec![site("vision_model.encoder", 3, Proj::V)]
        );
        let update = updates.values().next().unwrap();
        let w = update.source.load(&base).unwrap();
        assert_eq!(w, ws[2]);
        let merged = update.apply(&w, &adapter).unwrap();
        assert!(max_diff(&merged, &dense_lora(&ws[2], &a, &b, scale)) < 1e-12);
        assert!(max_diff(&merged, &ws[2]) > 1e-3, "the update must change W");
    }
}

#[test]
fn serial_merge_matches_dense_on_separate_projections() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, ws) = clip_base(tmp.path());
    let m = "vision_model.encoder.layers.3.self_attn";
    let (a, b) = (random(R, D, 3), random(D, R, 4));
    let dir = tmp.path().join("serial");
    write_json(
        &dir.join("adapter_config.json"),
        &adapter_config("SERIAL_LORA", R, 1.0, false),
    );
    write_safetensors(
        &dir.join("adapter_model.safetensors"),
        &[
            (key(m, "serial_lora", "A"), a.clone()),
            (key(m, "serial_lora", "B"), b.clone()),
        ],
        false,
    );
    let adapter = Adapter::read(&dir).unwrap();
    let updates = site_updates(&base, &adapter).unwrap();
    assert_eq!(updates.len(), 3);
    for (proj, w) in Proj::ALL.into_iter().zip(&ws) {
        let update = &updates[&site("vision_model.encoder", 3, proj)];
        let merged = update
            .apply(&update.source.load(&base).unwrap(), &adapter)
            .unwrap();
        assert!(
            max_diff(&merged, &dense_serial(w, &a, &b, 0.5)) < 1e-12,
            "{proj}"
        );
    }
}

#[test]
fn fused_qkv_serial_and_lora_slices_match_dense() {
    let tmp = tempfile::tempdir().unwrap();
    let qkv = random(3 * D, D, 20);
    let attn = "vision_encoder.layers.1.attn";
    write_safetensors(
        &tmp.path().join("model.safetensors"),
        &[(format!("{attn}.qkv.weight"), qkv.clone())],
        false,
    );
    let base = TensorFile::open(&tmp.path().join("model.safetensors")).unwrap();

    // Serial: merge the whole fused weight by hand, then split it into q, k, v.
    let (a, b) = (random(R, D, 5), random(D, R, 6));
    let dir = tmp.path().join("serial");
    write_json(
        &dir.join("adapter_config.json"),
        &adapter_config("SERIAL_LORA", R, 4.0, true),
    );
    write_safetensors(
        &dir.join("adapter_model.safetensors"),
        &[
            (key(attn, "serial_lora", "A"), a.clone()),
            (key(attn, "serial_lora", "B"), b.clone()),
        ],
        false,
    );
    let adapter = Adapter::read(&dir).unwrap();
    let fused = dense_serial(&qkv, &a, &b, 4.0 / (R as f64).sqrt());
    let updates = site_updates(&base, &adapter).unwrap();
    for (i, proj) in Proj::ALL.into_iter().enumerate() {
        let update = &updates[&site("vision_encoder", 1, proj)];
        let merged = update
            .apply(&update.source.load(&base).unwrap(), &adapter)
            .unwrap();
        assert!(
            max_diff(&merged, &fused.slice(s![i * D..(i + 1) * D, ..]).to_owned()) < 1e-12,
            "{proj}"
        );
    }

    // LoRA on the k slice (SAMed-style key `<m>.k.lora_A.weight`) changes rows D..2D only.
    let (a, b) = (random(R, D, 7), random(D, R, 8));
    let dir = tmp.path().join("lora");
    let m = format!("{attn}.qkv.k");
    write_json(
        &dir.join("adapter_config.json"),
        &adapter_config("LORA", R, 2.0, false),
    );
    write_safetensors(
        &dir.join("adapter_model.safetensors"),
        &[
            (key(&m, "lora", "A"), a.clone()),
            (key(&m, "lora", "B"), b.clone()),
        ],
        false,
    );
    let adapter = Adapter::read(&dir).unwrap();
    let updates = site_updates(&base, &adapter).unwrap();
    let update = &updates[&site("vision_encoder", 1, Proj::K)];
    let w_k = qkv.slice(s![D..2 * D, ..]).to_owned();
    assert_eq!(update.source.load(&base).unwrap(), w_k);
    let merged = update.apply(&w_k, &adapter).unwrap();
    assert!(max_diff(&merged, &dense_lora(&w_k, &a, &b, 1.0)) < 1e-12);
}

#[test]
fn bad_inputs_name_the_file_and_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, _) = clip_base(tmp.path());
    let m = "vision_model.encoder.layers.3.self_attn.q_proj";
    let dir = tmp.path().join("bad");
    write_json(
        &dir.join("adapter_config.json"),
        &adapter_config("LORA", R, 1.0, false),
    );

    // B has the wrong output size for W_q.
    write_safetensors(
        &dir.join("adapter_model.safetensors"),
        &[
            (key(m, "lora", "A"), random(R, D, 1)),
            (key(m, "lora", "B"), random(D + 1, R, 2)),
        ],
        false,
    );
    let adapter = Adapter::read(&dir).unwrap();
    let updates = site_updates(&base, &adapter).unwrap();
    let update = updates.values().next().unwrap();
    let err = update
        .apply(&update.source.load(&base).unwrap(), &adapter)
        .unwrap_err();
    assert!(
        matches!(&err, Error::Shape { tensor, .. } if tensor == &key(m, "lora", "B")),
        "{err}"
    );

    // A rank other than `r`.
    write_safetensors(
        &dir.join("adapter_model.safetensors"),
        &[
            (key(m, "lora", "A"), random(R + 1, D, 1)),
            (key(m, "lora", "B"), random(D, R + 1, 2)),
        ],
        false,
    );
    let err = Adapter::read(&dir).unwrap_err();
    assert!(
        matches!(&err, Error::Shape { tensor, .. } if tensor == &key(m, "lora", "A")),
        "{err}"
    );

    // B missing.
    write_safetensors(
        &dir.join("adapter_model.safetensors"),
        &[(key(m, "lora", "A"), random(R, D, 1))],
        false,
    );
    let err = Adapter::read(&dir).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensor { tensor, .. } if tensor == &key(m, "lora", "B")),
        "{err}"
    );

    // A Serial key in a LORA adapter.
    write_safetensors(
        &dir.join("adapter_model.safetensors"),
        &[(key(m, "serial_lora", "A"), random(R, D, 1))],
        false,
    );
    let err = Adapter::read(&dir).unwrap_err();
    assert!(
        err.to_string().contains(&key(m, "serial_lora", "A")),
        "{err}"
    );

    // Corrupt weights file.
    std::fs::write(
        dir.join("adapter_model.safetensors"),
        b"\x10\0\0\0\0\0\0\0not json",
    )
    .unwrap();
    let err = Adapter::read(&dir).unwrap_err();
    assert!(
        matches!(err, Error::Safetensors { .. })
            && err.to_string().contains("adapter_model.safetensors"),
        "{err}"
    );

    // Unknown peft_type, and a missing `r`.
    write_json(
        &dir.join("adapter_config.json"),
        &serde_json::json!({ "peft_type": "IA3", "r": 2 }),
    );
    let err = Adapter::read(&dir).unwrap_err();
    assert!(
        matches!(&err, Error::Field { field, .. } if field == "peft_type"),
        "{err}"
    );
    write_json(
        &dir.join("adapter_config.json"),
        &serde_json::json!({ "peft_type": "LORA" }),
    );
    let err = Adapter::read(&dir).unwrap_err();
    assert!(
        matches!(&err, Error::Field { field, .. } if field == "r"),
        "{err}"
    );

    // The base checkpoint lacks the adapted projection.
    let missing = "vision_model.encoder.layers.9.self_attn";
    write_json(
        &dir.join("adapter_config.json"),
        &adapter_config("SERIAL_LORA", R, 1.0, false),
    );
    write_safetensors(
        &dir.join("adapter_model.safetensors"),
        &[
            (key(missing, "serial_lora", "A"), random(R, D, 1)),
            (key(missing, "serial_lora", "B"), random(D, R, 2)),
        ],
        false,
    );
    let err = site_updates(&base, &Adapter::read(&dir).unwrap()).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensor { tensor, .. } if tensor.contains(missing)),
        "{err}"
    );
}
