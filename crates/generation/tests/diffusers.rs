//! The committed reference loads in diffusers: the pre-trained tiny MMDiT (`model/`, written by a
//! `pretrain` run) with a personalisation run's LoRA, through diffusers 0.42's
//! `SD3Transformer2DModel.from_pretrained` + `load_lora_adapter` and through PEFT, gives our
//! `sample` to 1e-5 relative (tools/check_sd3_lora_diffusers.py; needs `make setup`).

use std::path::Path;

use serial_lora::checkpoint::save_tensors;
use tch::{Device, Kind, Tensor};

#[test]
fn the_reference_base_and_a_generation_runs_lora_load_in_diffusers_with_our_output() {
    let root = formats::paths::repo_root();
    let reference = root.join("results/reference/generation");
    let model = reference.join("tiny-mmdit-fashion_fashion-mnist_pretrain_r0_seed1/model");
    let adapter = reference.join("tiny-mmdit-fashion_fashion-mnist_lora_r8_seed1");
    let loaded = zoo::load(&model, Some(&adapter), Device::Cpu).expect("the reference loads");
    tch::manual_seed(3);
    let options = (Kind::Float, Device::Cpu);
    let inputs = [
        ("hidden_states", Tensor::randn([2, 1, 28, 28], options)),
        (
            "encoder_hidden_states",
            Tensor::randn([2, 16, 384], options),
        ),
        ("pooled_projections", Tensor::randn([2, 384], options)),
        ("timestep", Tensor::from_slice(&[250f32, 900.0])),
    ];
    let named: zoo::Tensors = inputs
        .iter()
        .map(|(n, t)| (n.to_string(), t.shallow_clone()))
        .collect();
    let ours = loaded.model.forward(&named).expect("forward");
    let tmp = tempfile::tempdir().unwrap();
    let (inputs_file, outputs_file) = (
        tmp.path().join("inputs.safetensors"),
        tmp.path().join("outputs.safetensors"),
    );
    let listed: Vec<(String, Tensor)> = inputs
        .iter()
        .map(|(n, t)| (n.to_string(), t.shallow_clone()))
        .collect();
    save_tensors(&inputs_file, &listed).unwrap();
    save_tensors(
        &outputs_file,
        &[("sample".into(), ours["sample"].shallow_clone())],
    )
    .unwrap();

    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup`",
        python.display()
    );
    let out = std::process::Command::new(&python)
        .arg(root.join("tools/check_sd3_lora_diffusers.py"))
        .args([&model, &adapter, &inputs_file, &outputs_file].map(|p| p.as_path() as &Path))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "diffusers disagrees with the reference:\n{text}"
    );
    assert!(
        text.contains("diffusers loaded 32 LoRA tensors (r=8"),
        "{text}"
    );
}
