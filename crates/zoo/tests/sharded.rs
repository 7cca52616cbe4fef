//! Sharded diffusers checkpoints (`diffusion_pytorch_model.safetensors.index.json` + shards, saved by
//! diffusers 0.42 with a small `max_shard_size`, tools/fixtures/make_sharded_fixtures.py): the MMDiT and
//! the VAE load from their shards and give the unsharded model's outputs; a missing shard and a model
//! tensor the index does not map are refused by name.
mod common;

use std::path::Path;

use common::{assert_matches, fixture, tensors, TOLERANCE};
use serde_json::Value;
use tch::Device;

const INDEX: &str = "diffusion_pytorch_model.safetensors.index.json";

fn matches_unsharded(case: &str) {
    let sharded = fixture(&format!("{case}_sharded"));
    assert!(sharded.join(INDEX).is_file() && !sharded.join(zoo::mmdit::WEIGHTS_FILE).exists());
    let loaded = zoo::load(&sharded, None, Device::Cpu).unwrap();
    let reference = fixture(case);
    assert_matches(
        &format!("{case} from shards"),
        &loaded
            .model
            .forward(&tensors(&reference.join("inputs.safetensors")))
            .unwrap(),
        &tensors(&reference.join("outputs.safetensors")),
        TOLERANCE,
    );
}

#[test]
fn sharded_mmdit_equals_the_unsharded_one() {
    matches_unsharded("sd3_tiny");
}

#[test]
fn sharded_vae_equals_the_unsharded_one() {
    matches_unsharded("vae_quant_tiny");
}

/// A copy of the sharded VAE fixture in a temporary folder.
fn copy_of_sharded_vae() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture("vae_quant_tiny_sharded")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, tmp.path().join(path.file_name().unwrap())).unwrap();
    }
    tmp
}

fn index(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(INDEX)).unwrap()).unwrap()
}

#[test]
fn a_missing_shard_is_named() {
    let tmp = copy_of_sharded_vae();
    let shard = "diffusion_pytorch_model-00002-of-00003.safetensors";
    std::fs::remove_file(tmp.path().join(shard)).unwrap();
    let error = zoo::load(tmp.path(), None, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(INDEX)
            && error.contains(&format!("shard `{shard}`"))
            && error.contains("missing"),
        "{error}"
    );
}

#[test]
fn a_tensor_missing_from_the_weight_map_is_named() {
    let tmp = copy_of_sharded_vae();
    let mut map = index(tmp.path());
    let dropped = "decoder.mid_block.attentions.0.to_k.weight";
    assert!(map["weight_map"]
        .as_object_mut()
        .unwrap()
        .remove(dropped)
        .is_some());
    std::fs::write(tmp.path().join(INDEX), map.to_string()).unwrap();
    let error = zoo::load(tmp.path(), None, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(INDEX)
            && error.contains("weight_map names no shard")
            && error.contains(&format!("missing tensor `{dropped}`")),
        "{error}"
    );
}

#[test]
fn a_mapped_tensor_absent_from_its_shard_is_named_with_the_shard() {
    let tmp = copy_of_sharded_vae();
    let mut map = index(tmp.path());
    // quant_conv.weight lives in the last shard; the first other shard is loaded before it.
    let moved = "quant_conv.weight";
    let weight_map = map["weight_map"].as_object_mut().unwrap();
    let home = weight_map[moved].as_str().unwrap().to_string();
    let elsewhere = weight_map
        .values()
        .map(|v| v.as_str().unwrap().to_string())
        .find(|s| *s != home)
        .unwrap();
    weight_map.insert(moved.into(), Value::from(elsewhere.clone()));
    std::fs::write(tmp.path().join(INDEX), map.to_string()).unwrap();
    let error = zoo::load(tmp.path(), None, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&elsewhere) && error.contains(&format!("missing tensor `{moved}`")),
        "{error}"
    );
}
