//! SD3's MMDiT and flow-matching sampler against diffusers 0.42 on tiny random models (fixtures by
//! tools/fixtures/make_sd3_fixtures.py): the transformer with and without qk RMSNorm, on a square
//! latent covering the whole position table and on a non-square one using a centre crop of it; a
//! PEFT LoRA on to_q/to_k/to_v/to_out.0 unmerged and merged; the scheduler's σ schedules; one
//! guided trajectory through the SD3 pipeline's loop. All fp32, ≤ 1e-5 relative.
mod common;

use common::{assert_matches, fixture, tensors, TOLERANCE};
use serde_json::Value;
use tch::{Device, Tensor};
use zoo::mmdit::{self, FlowMatchEulerDiscreteScheduler};
use zoo::Model;

fn check_case(case: &str, inputs: &str, outputs: &str) -> f64 {
    let dir = fixture(case);
    let loaded = zoo::load(&dir, None, Device::Cpu).unwrap();
    let ours = loaded.model.forward(&tensors(&dir.join(inputs))).unwrap();
    assert_matches(
        &format!("{case} {inputs}"),
        &ours,
        &tensors(&dir.join(outputs)),
        TOLERANCE,
    )
}

#[test]
fn transformer_matches_diffusers_without_qk_norm() {
    check_case("sd3_tiny", "inputs.safetensors", "outputs.safetensors");
}

#[test]
fn transformer_matches_diffusers_on_a_non_square_latent_with_a_cropped_table() {
    check_case(
        "sd3_tiny",
        "inputs_nonsquare.safetensors",
        "outputs_nonsquare.safetensors",
    );
}

#[test]
fn transformer_matches_diffusers_with_rms_qk_norm() {
    check_case("sd3_qk_norm", "inputs.safetensors", "outputs.safetensors");
}

#[test]
fn peft_lora_matches_peft_unmerged_and_merged() {
    let dir = fixture("sd3_tiny");
    let loaded = zoo::load(&dir, Some(&dir.join("peft")), Device::Cpu).unwrap();
    let count = loaded.store.parameter_count();
    assert_eq!(
        count.sites.len(),
        4 * 3,
        "q, k, v, o of 3 blocks: {:?}",
        count.sites
    );
    let inputs = tensors(&dir.join("inputs_peft.safetensors"));
    assert_matches(
        "sd3_tiny + PEFT LoRA",
        &loaded.model.forward(&inputs).unwrap(),
        &tensors(&dir.join("outputs_peft.safetensors")),
        TOLERANCE,
    );
    loaded.store.merge();
    assert_matches(
        "sd3_tiny + PEFT LoRA merged",
        &loaded.model.forward(&inputs).unwrap(),
        &tensors(&dir.join("outputs_peft_merged.safetensors")),
        TOLERANCE,
    );
}

#[test]
fn computed_position_table_equals_the_stored_one() {
    let dir = fixture("sd3_tiny");
    let stored = &tensors(&dir.join(mmdit::WEIGHTS_FILE))["pos_embed.pos_embed"];
    let computed = mmdit::embeddings::sincos_table(12, 8, 4).unsqueeze(0);
    let rel = common::rel_diff(&computed, stored);
    assert!(rel <= 1e-6, "sin-cos table differs by {rel:e}");
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

#[test]
fn schedules_equal_diffusers_bit_for_bit() {
    let text = std::fs::read_to_string(fixture("flow_match_schedules.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let scheduler = FlowMatchEulerDiscreteScheduler {
            num_train_timesteps: case["num_train_timesteps"].as_u64().unwrap() as usize,
            shift: case["shift"].as_f64().unwrap(),
        };
        let schedule = scheduler.set_timesteps(case["steps"].as_u64().unwrap() as usize);
        assert_eq!(schedule.sigmas, floats(&case["sigmas"]), "sigmas of {case}");
        assert_eq!(
            schedule.timesteps,
            floats(&case["timesteps"]),
            "timesteps of {case}"
        );
    }
}

#[test]
fn guided_trajectory_matches_the_sd3_pipeline() {
    let dir = fixture("sd3_tiny");
    let loaded = zoo::load(&dir, None, Device::Cpu).unwrap();
    let Model::Sd3Transformer(model) = &loaded.model else {
        panic!("not an SD3 transformer")
    };
    let settings: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sampler.json")).unwrap()).unwrap();
    let scheduler = FlowMatchEulerDiscreteScheduler {
        shift: settings["shift"].as_f64().unwrap(),
        ..FlowMatchEulerDiscreteScheduler::sd3()
    };
    let schedule =
        scheduler.set_timesteps(settings["num_inference_steps"].as_u64().unwrap() as usize);
    let inputs = tensors(&dir.join("sampler_inputs.safetensors"));
    // The pipeline's batch: negative prompts first, then the prompts.
    let context = Tensor::cat(
        &[&inputs["negative_prompt_embeds"], &inputs["prompt_embeds"]],
        0,
    );
    let pooled = Tensor::cat(
        &[
            &inputs["negative_pooled_prompt_embeds"],
            &inputs["pooled_prompt_embeds"],
        ],
        0,
    );
    let latents = tch::no_grad(|| {
        mmdit::sample(
            &schedule,
            &inputs["latents"],
            settings["guidance_scale"].as_f64().unwrap(),
            |x, t| model.forward_t(x, &context, &pooled, t, false),
        )
    });
    assert_matches(
        "sd3_tiny guided trajectory",
        &zoo::Tensors::from([("latents".to_string(), latents)]),
        &tensors(&dir.join("sampler_outputs.safetensors")),
        TOLERANCE,
    );
}
