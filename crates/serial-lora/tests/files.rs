//! Adapter files: bit-exact round trips, PEFT interop both ways, and a clear error for every kind of
//! bad input (naming the file and the tensor or field).
mod common;

use std::path::{Path, PathBuf};

use common::{build, randomize_b, snapshot, workspace_root};
use serial_lora::{
    read_adapter_plan, AdapterConfig, AdapterPlan, ModelStore, ScaleRule, ADAPTER_CONFIG,
    ADAPTER_WEIGHTS,
};
use tch::Tensor;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Saves a randomised adapter of `config` and returns its directory.
fn saved(config: &AdapterConfig, fused: bool) -> (tempfile::TempDir, ModelStore) {
    let (store, _) = build(Some(AdapterPlan::from(config)), fused);
    randomize_b(&store);
    let dir = tempfile::tempdir().unwrap();
    store.save_adapter(dir.path()).unwrap();
    (dir, store)
}

fn reload(dir: &Path, fused: bool) -> serial_lora::Result<ModelStore> {
    let plan = read_adapter_plan(dir)?;
    let (store, _) = build(Some(plan), fused);
    store.load_adapter(dir, str::to_string)?;
    Ok(store)
}

#[test]
fn save_then_load_is_bit_exact() {
    let mut fixed = AdapterConfig::lora(8);
    fixed.scaling = ScaleRule::Fixed;
    fixed.alpha = 0.5;
    let mut sliced = AdapterConfig::lora(2);
    sliced.targets = vec![serial_lora::Target::Q, serial_lora::Target::V];
    sliced.blocks = Some(vec![1]);
    for (config, fused) in [
        (AdapterConfig::lora(4), false),
        (AdapterConfig::serial_lora(4), false),
        (AdapterConfig::serial_lora(4), true),
        (fixed, false),
        (sliced, true),
    ] {
        let (dir, store) = saved(&config, fused);
        let loaded = reload(dir.path(), fused).unwrap();
        let plan = loaded.plan().unwrap();
        assert_eq!((plan.method, plan.rank), (config.method, config.rank));
        assert_eq!(plan.scale(), config.scale(), "scale of {config:?}");
        assert_eq!(plan.blocks, config.blocks);
        let (a, b) = (snapshot(store.adapters()), snapshot(loaded.adapters()));
        assert_eq!(a.len(), b.len());
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            assert!(x.equal(y), "{name} differs after save → load");
        }
        assert_eq!(store.parameter_count(), loaded.parameter_count());
    }
}

#[test]
fn reads_a_peft_lora_adapter() {
    let dir = fixtures().join("peft_lora");
    let plan = read_adapter_plan(&dir).unwrap();
    assert_eq!(plan.rank, 4);
    assert_eq!(plan.scaling, ScaleRule::AlphaOverSqrtRank);
    assert_eq!(plan.scale(), 8.0 / 2.0);
    let (store, _) = build(Some(plan), false);
    store.load_adapter(&dir, str::to_string).unwrap();
    let file = serial_lora::checkpoint::read_tensors(&dir.join(ADAPTER_WEIGHTS)).unwrap();
    let vars = store.adapters().variables();
    assert_eq!(
        file.len(),
        common::LAYERS * 4 * 2,
        "two tensors per q, k, v, o site per layer"
    );
    assert_eq!(vars.len(), file.len());
    for (name, tensor) in &file {
        assert!(
            vars[name].equal(tensor),
            "site variable {name} does not hold the file's tensor"
        );
        assert!(
            tensor.abs().max().double_value(&[]) > 0.0,
            "{name} is all zero: fixture too weak"
        );
    }
    let modules: Vec<_> = store
        .parameter_count()
        .sites
        .into_iter()
        .map(|s| s.module)
        .collect();
    assert!(modules.contains(&"encoder.layers.1.self_attn.out_proj".to_string()));
}

#[test]
fn peft_loads_an_adapter_we_save() {
    let (dir, _) = saved(&AdapterConfig::lora(4), false);
    let python = workspace_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup`",
        python.display()
    );
    let out = std::process::Command::new(&python)
        .arg(workspace_root().join("tools/check_peft_load.py"))
        .arg(fixtures().join("clip_vision_tiny"))
        .arg(dir.path())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "PEFT refused our adapter:\n{text}");
    assert!(text.contains("PEFT loaded 16 tensors"), "{text}");
}

/// Asserts that `err` names every one of `needles`.
fn assert_names(err: impl std::fmt::Display, needles: &[&str]) {
    let text = err.to_string();
    for needle in needles {
        assert!(
            text.contains(needle),
            "error does not name `{needle}`:\n{text}"
        );
    }
}

fn rewrite(dir: &Path, edit: impl FnOnce(&mut Vec<(String, Tensor)>)) {
    let path = dir.join(ADAPTER_WEIGHTS);
    let mut tensors: Vec<(String, Tensor)> = serial_lora::checkpoint::read_tensors(&path)
        .unwrap()
        .into_iter()
        .collect();
    edit(&mut tensors);
    serial_lora::checkpoint::save_tensors(&path, &tensors).unwrap();
}

const Q_A: &str = "base_model.model.encoder.layers.0.self_attn.q_proj.lora_A.weight";

#[test]
fn truncated_or_corrupt_safetensors_is_named() {
    let (dir, _) = saved(&AdapterConfig::lora(4), false);
    let path = dir.path().join(ADAPTER_WEIGHTS);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_names(
        reload(dir.path(), false).unwrap_err(),
        &[ADAPTER_WEIGHTS, "not a readable safetensors"],
    );
    std::fs::write(&path, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}").unwrap();
    assert_names(
        reload(dir.path(), false).unwrap_err(),
        &[ADAPTER_WEIGHTS, "not a readable safetensors"],
    );
}

#[test]
fn missing_unexpected_misshaped_and_mistyped_tensors_are_all_reported() {
    let (dir, _) = saved(&AdapterConfig::lora(4), false);
    let k_b = Q_A.replace("q_proj.lora_A", "k_proj.lora_B");
    let v_a = Q_A.replace("q_proj", "v_proj");
    rewrite(dir.path(), |t| {
        t.retain(|(n, _)| n != Q_A);
        t.push((
            "base_model.model.vision_model.head.lora_A.weight".into(),
            Tensor::zeros([4, 48], tch::kind::FLOAT_CPU),
        ));
        for (n, x) in t.iter_mut() {
            if *n == k_b {
                *x = Tensor::zeros([48, 3], tch::kind::FLOAT_CPU);
            } else if *n == v_a {
                *x = Tensor::zeros([4, 48], tch::kind::INT64_CPU);
            }
        }
    });
    let err = reload(dir.path(), false).unwrap_err();
    assert_names(
        &err,
        &[
            ADAPTER_WEIGHTS,
            ADAPTER_CONFIG,
            "4 problem(s)",
            &format!("missing tensor `{Q_A}`"),
            "unexpected tensor `base_model.model.vision_model.head.lora_A.weight`",
        ],
    );
    assert_names(
        &err,
        &[
            &format!("`{k_b}` has shape [48, 3], expected [48, 4]"),
            &format!("`{v_a}` has dtype I64"),
        ],
    );
}

#[test]
fn adapter_config_that_disagrees_with_its_file_is_named() {
    // Rank: the config says 8, the file holds rank-4 pairs.
    let (dir, _) = saved(&AdapterConfig::lora(4), false);
    let config_path = dir.path().join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, text.replace("\"r\": 4", "\"r\": 8")).unwrap();
    assert_names(
        reload(dir.path(), false).unwrap_err(),
        &[ADAPTER_CONFIG, "has shape [4, 48], expected [8, 48]"],
    );
    // Targets: the config drops k_proj, the file still holds its pairs.
    std::fs::write(&config_path, text.replace("\"k_proj\",", "")).unwrap();
    assert_names(
        reload(dir.path(), false).unwrap_err(),
        &[ADAPTER_CONFIG, "unexpected tensor", "k_proj.lora_A.weight"],
    );
}

#[test]
fn bad_config_values_and_unknown_keys_are_named() {
    let (dir, _) = saved(&AdapterConfig::lora(4), false);
    let config_path = dir.path().join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&config_path).unwrap();
    for (from, to, field) in [
        ("\"r\": 4", "\"r\": 0", "`r`"),
        (
            "\"bias\": \"none\"",
            "\"bias\": \"none\", \"colour\": 3",
            "`colour`: unknown key",
        ),
        (
            "\"use_rslora\": false",
            "\"use_rslora\": false, \"use_dora\": true",
            "`use_dora`",
        ),
    ] {
        std::fs::write(&config_path, text.replace(from, to)).unwrap();
        assert_names(
            read_adapter_plan(dir.path()).unwrap_err(),
            &[ADAPTER_CONFIG, field],
        );
    }
    // A rank larger than the width is refused by the site, which is named.
    std::fs::write(&config_path, text.replace("\"r\": 4", "\"r\": 49")).unwrap();
    let plan = read_adapter_plan(dir.path()).unwrap();
    let err = ModelStore::build(tch::Device::Cpu, Some(plan), common_site).unwrap_err();
    assert_names(
        err,
        &["vision_model.q_proj", "rank 49", "min(d_in, d_out) = 48"],
    );
}

fn common_site(root: &serial_lora::SitePath) -> serial_lora::Result<serial_lora::AdaptedLinear> {
    serial_lora::AdaptedLinear::new(
        &(root / "vision_model" / "q_proj"),
        serial_lora::Target::Q,
        48,
        48,
        true,
    )
}

#[test]
fn adapter_config_toml_rejects_unknown_keys_and_bad_values() {
    let parse = |text: &str| -> Result<AdapterConfig, String> {
        let c: AdapterConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())?;
        Ok(c)
    };
    let ok = parse("method = \"serial_lora\"\nrank = 8\nalpha = 8.0\nscaling = \"alpha/sqrt(r)\"\nlr_ratio = 16.0").unwrap();
    assert_eq!(ok.scale(), 8.0 / 8f64.sqrt());
    assert!(parse("method = \"lora\"\nrank = 8\nalpha = 8.0\nrnak = 3")
        .unwrap_err()
        .contains("unknown field `rnak`"));
    assert!(parse("method = \"lora\"\nrank = 0\nalpha = 8.0")
        .unwrap_err()
        .contains("`rank`"));
    assert!(
        parse("method = \"lora\"\nrank = 4\nalpha = 8.0\ndropout = 1.5")
            .unwrap_err()
            .contains("`dropout`")
    );
    assert!(
        parse("method = \"lora\"\nrank = 4\nalpha = 8.0\ntargets = []")
            .unwrap_err()
            .contains("`targets`")
    );
    assert!(parse("method = \"dora\"\nrank = 4\nalpha = 8.0")
        .unwrap_err()
        .contains("unknown variant `dora`"));
}
