//! `zoo merge`: a merged export loads in the reference library (`from_pretrained`) and gives the
//! outputs of the unmerged adapter in our runtime, for LoRA and Serial LoRA on every adaptable
//! family (CLIP, DINOv2, SAM: transformers; the SD3 MMDiT: diffusers); every tensor the adapter
//! does not touch, and every other file, is the base's byte for byte; a run folder exports in one
//! command; an existing output folder is refused. Needs `make setup` (tools/check_merged_export.py).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, workspace_root};
use serial_lora::rng::Draws;
use serial_lora::{AdapterConfig, AdapterPlan};
use tch::Device;

/// Runs the `zoo` binary; its stdout, or a panic with its stderr.
fn zoo(args: &[&Path]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_zoo"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zoo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `zoo merge --run RUN --out OUT`, which must fail; its stderr.
fn merge_run_fails(run: &Path, out: &Path) -> String {
    let result = Command::new(env!("CARGO_BIN_EXE_zoo"))
        .args(["merge", "--run"])
        .arg(run)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        !result.status.success(),
        "zoo merge --run {} succeeded",
        run.display()
    );
    String::from_utf8_lossy(&result.stderr).into_owned()
}

/// Writes an adapter of `config` for the model in `model` with random `A` and `B` into `dir`: each
/// variable drawn from a generator keyed by its name, so every run (and every test running beside
/// it) writes the same adapter.
fn random_adapter(model: &Path, config: &AdapterConfig, dir: &Path) {
    let loaded = zoo::build(model, Some(AdapterPlan::from(config)), Device::Cpu).unwrap();
    tch::no_grad(|| {
        for (name, mut t) in loaded.store.adapters().variables() {
            let draws = Draws::new(&format!("11:merge_export:{name}")).normal(&t.size());
            t.copy_(&(draws * 0.2));
        }
    });
    loaded.store.save_adapter(dir).unwrap();
}

/// The header entries (`dtype`, `shape`) and raw bytes of every tensor of a safetensors file.
fn tensors(path: &Path) -> Vec<(String, String, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(n, v)| {
            (
                n,
                format!("{:?}", v.dtype()),
                v.shape().to_vec(),
                v.data().to_vec(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Names of the tensors whose bytes differ; dtypes and shapes must all agree.
fn changed(base: &Path, merged: &Path) -> Vec<String> {
    let (a, b) = (tensors(base), tensors(merged));
    assert_eq!(a.len(), b.len(), "{}: same tensors", merged.display());
    a.iter()
        .zip(&b)
        .filter_map(|(x, y)| {
            assert_eq!((&x.0, &x.1, &x.2), (&y.0, &y.1, &y.2), "name, dtype, shape");
            (x.3 != y.3).then(|| x.0.clone())
        })
        .collect()
}

#[test]
fn merged_exports_load_in_transformers_and_diffusers_with_the_adapters_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut checks: Vec<PathBuf> = Vec::new();
    for (case, weights) in [
        ("clip", "model.safetensors"),
        ("dinov2", "model.safetensors"),
        ("sam_tiny", "model.safetensors"),
        ("sd3_tiny", "diffusion_pytorch_model.safetensors"),
    ] {
        let model = fixture(case);
        let mut merged_counts = Vec::new();
        for (method, config) in [
            ("lora", AdapterConfig::lora(4)),
            ("serial", AdapterConfig::serial_lora(4)),
        ] {
            let dir = tmp.path().join(format!("{case}_{method}"));
            let (adapter, ours, out) = (
                dir.join("adapter"),
                dir.join("ours.safetensors"),
                dir.join("merged"),
            );
            random_adapter(&model, &config, &adapter);
            let inputs = model.join("inputs.safetensors");
            zoo(&[
                "forward".as_ref(),
                "--model".as_ref(),
                &model,
                "--adapter".as_ref(),
                &adapter,
                "--inputs".as_ref(),
                &inputs,
                "--out".as_ref(),
                &ours,
            ]);
            let said = zoo(&[
                "merge".as_ref(),
                "--model".as_ref(),
                &model,
                "--adapter".as_ref(),
                &adapter,
                "--out".as_ref(),
                &out,
            ]);
            let names = changed(&model.join(weights), &out.join(weights));
            assert!(
                said.contains(&format!("{} merged weight(s)", names.len())),
                "{said}"
            );
            assert!(
                !names.is_empty() && names.iter().all(|n| n.ends_with("weight")),
                "{case} {method}: only projection weights change: {names:?}"
            );
            assert_eq!(
                std::fs::read(model.join("config.json")).unwrap(),
                std::fs::read(out.join("config.json")).unwrap(),
                "config.json is the base's"
            );
            merged_counts.push(names.len());
            checks.extend([out, inputs, ours]);
        }
        // Serial LoRA leaves W_o alone: fewer weights change than with LoRA on q, k, v, o.
        assert!(
            merged_counts[1] < merged_counts[0],
            "{case}: {merged_counts:?}"
        );
    }
    let python = workspace_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup`",
        python.display()
    );
    let out = Command::new(&python)
        .arg(workspace_root().join("tools/check_merged_export.py"))
        .args(&checks)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(
        out.status.success(),
        "the reference libraries disagree:\n{text}"
    );
    assert_eq!(
        text.matches("largest relative difference").count(),
        8,
        "{text}"
    );
}

#[test]
fn a_run_folder_exports_in_one_command_and_nothing_is_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture("dinov2");
    let run = tmp.path().join("run");
    random_adapter(&model, &AdapterConfig::serial_lora(4), &run);
    let config = serde_json::json!({ "model_dir": model, "method": "serial_lora" });
    std::fs::write(run.join("config.json"), config.to_string()).unwrap();

    let by_run = tmp.path().join("by_run");
    zoo(&[
        "merge".as_ref(),
        "--run".as_ref(),
        &run,
        "--out".as_ref(),
        &by_run,
    ]);
    let by_adapter = tmp.path().join("by_adapter");
    zoo(&[
        "merge".as_ref(),
        "--model".as_ref(),
        &model,
        "--adapter".as_ref(),
        &run,
        "--out".as_ref(),
        &by_adapter,
    ]);
    assert_eq!(
        std::fs::read(by_run.join("model.safetensors")).unwrap(),
        std::fs::read(by_adapter.join("model.safetensors")).unwrap()
    );

    let stderr = merge_run_fails(&run, &by_run);
    assert!(
        stderr.contains("already exists") && stderr.lines().count() == 1,
        "{stderr}"
    );

    // A segmentation run that also trained the mask decoder cannot be exported from its adapter.
    let decoder = serde_json::json!({ "model_dir": model, "train_decoder": true });
    std::fs::write(run.join("config.json"), decoder.to_string()).unwrap();
    let stderr = merge_run_fails(&run, &tmp.path().join("never"));
    assert!(stderr.contains("train_decoder"), "{stderr}");
    std::fs::write(run.join("config.json"), config.to_string()).unwrap();

    std::fs::remove_file(run.join("adapter_config.json")).unwrap();
    let stderr = merge_run_fails(&run, &tmp.path().join("never"));
    assert!(stderr.contains("holds no adapter"), "{stderr}");
    assert!(!tmp.path().join("never").exists());
}
