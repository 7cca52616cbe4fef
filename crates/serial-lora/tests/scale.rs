//! The update each method adds, checked against the formula at scales other than 1 for every scale
//! rule; dropout acts in training only, draws the same masks for the same step and others for
//! another step; `A` starts inside its Kaiming bound, seeded, and `B` at zero.
mod common;

use common::{fill_seeded, rel_diff, seeded};
use serial_lora::{
    AdaptedLinear, AdapterConfig, AdapterPlan, ModelStore, QkvProjection, ScaleRule, Target,
};
use tch::{Device, Tensor};

const D: i64 = 16;
const RANK: i64 = 4;
const ALPHA: f64 = 3.0;

fn plan(config: AdapterConfig, rule: ScaleRule, dropout: f64) -> AdapterPlan {
    AdapterPlan::from(&AdapterConfig {
        alpha: ALPHA,
        scaling: rule,
        dropout,
        ..config
    })
}

fn rules() -> [(ScaleRule, f64); 3] {
    [
        (ScaleRule::AlphaOverRank, ALPHA / RANK as f64),
        (ScaleRule::AlphaOverSqrtRank, ALPHA / (RANK as f64).sqrt()),
        (ScaleRule::Fixed, ALPHA),
    ]
}

/// A projection `x → W x + b` under `proj`, with a LoRA pair when the plan asks for one.
fn linear(plan: Option<AdapterPlan>) -> (ModelStore, AdaptedLinear) {
    let (store, lin) = ModelStore::build(Device::Cpu, plan, |root| {
        AdaptedLinear::new(&(root / "proj"), Target::Q, D, D, true)
    })
    .unwrap();
    fill_seeded(store.base(), 0.3, |_| true);
    fill_seeded(store.adapters(), 0.3, |n| n.ends_with("lora_B.weight"));
    (store, lin)
}

/// The tensor of `vs` whose name ends with `suffix`.
fn var(vs: &tch::nn::VarStore, suffix: &str) -> Tensor {
    vs.variables()
        .into_iter()
        .find(|(n, _)| n.ends_with(suffix))
        .unwrap_or_else(|| panic!("no variable ending in {suffix}"))
        .1
}

#[test]
fn lora_adds_s_b_a_x_for_every_scale_rule() {
    let x = seeded(&[3, D], "x", 1.0);
    for (rule, s) in rules() {
        let (store, lin) = linear(Some(plan(AdapterConfig::lora(RANK), rule, 0.0)));
        let (a, b) = (
            var(store.adapters(), "lora_A.weight"),
            var(store.adapters(), "lora_B.weight"),
        );
        let (w, bias) = (var(store.base(), "weight"), var(store.base(), "bias"));
        let want = x.matmul(&w.tr()) + &bias + x.matmul(&a.tr()).matmul(&b.tr()) * s;
        let got = lin.forward_t(&x, false);
        let rel = rel_diff(&got, &want);
        assert!(rel <= 1e-6, "{rule:?}: {rel:e}");
        store.merge();
        let rel = rel_diff(&lin.forward_t(&x, false), &want);
        assert!(rel <= 1e-5, "{rule:?} merged: {rel:e}");
    }
}

#[test]
fn serial_lora_feeds_x_plus_s_b_a_x_to_q_k_v_for_every_scale_rule() {
    let x = seeded(&[3, D], "x", 1.0);
    for (rule, s) in rules() {
        for fused in [false, true] {
            let (store, qkv) = ModelStore::build(
                Device::Cpu,
                Some(plan(AdapterConfig::serial_lora(RANK), rule, 0.0)),
                |root| {
                    let attn = root / "attn";
                    if fused {
                        QkvProjection::fused(&attn, "qkv", D, true)
                    } else {
                        QkvProjection::separate(&attn, ["q_proj", "k_proj", "v_proj"], D, true)
                    }
                },
            )
            .unwrap();
            fill_seeded(store.base(), 0.3, |_| true);
            fill_seeded(store.adapters(), 0.3, |n| n.ends_with("lora_B.weight"));
            let a = var(store.adapters(), "serial_lora_A.weight");
            let b = var(store.adapters(), "serial_lora_B.weight");
            let shifted = &x + x.matmul(&a.tr()).matmul(&b.tr()) * s;
            let weights: Vec<(Tensor, Tensor)> = if fused {
                let (w, bias) = (
                    var(store.base(), "qkv.weight"),
                    var(store.base(), "qkv.bias"),
                );
                (0..3)
                    .map(|i| (w.narrow(0, i * D, D), bias.narrow(0, i * D, D)))
                    .collect()
            } else {
                ["q_proj", "k_proj", "v_proj"]
                    .iter()
                    .map(|p| {
                        (
                            var(store.base(), &format!("{p}.weight")),
                            var(store.base(), &format!("{p}.bias")),
                        )
                    })
                    .collect()
            };
            let (q, k, v) = qkv.forward_t(&x, false);
            for (got, (w, bias)) in [q, k, v].iter().zip(&weights) {
                let want = shifted.matmul(&w.tr()) + bias;
                let rel = rel_diff(got, &want);
                assert!(rel <= 1e-6, "{rule:?} fused {fused}: {rel:e}");
            }
        }
    }
}

#[test]
fn dropout_acts_in_training_only_and_is_keyed_by_step() {
    let x = seeded(&[64, D], "x", 1.0);
    let (store, lin) = linear(Some(plan(
        AdapterConfig::lora(RANK),
        ScaleRule::AlphaOverRank,
        0.5,
    )));
    let eval = lin.forward_t(&x, false);
    assert!(
        eval.equal(&lin.forward_t(&x, false)),
        "evaluation is deterministic"
    );
    store.set_step(7);
    let first = lin.forward_t(&x, true);
    assert!(!first.equal(&eval), "training applies dropout");
    let second = lin.forward_t(&x, true);
    assert!(
        !second.equal(&first),
        "a second draw in a step is another mask"
    );
    store.set_step(8);
    let next = lin.forward_t(&x, true);
    store.set_step(7);
    let again = lin.forward_t(&x, true);
    assert!(
        again.equal(&first),
        "the same step redraws the same first mask"
    );
    assert!(!next.equal(&first), "another step draws another mask");
    // The update is unbiased: over many draws the mean of the dropped update approaches the full one.
    let full = &eval - var(store.base(), "bias");
    let mut sum = Tensor::zeros_like(&eval);
    for step in 0..200 {
        store.set_step(100 + step);
        sum += lin.forward_t(&x, true) - var(store.base(), "bias");
    }
    let rel = rel_diff(&(sum / 200.0), &full);
    assert!(rel < 0.1, "inverted dropout keeps the expectation ({rel})");
}

#[test]
fn a_starts_inside_its_kaiming_bound_seeded_and_b_at_zero() {
    let build = |seed: u64| {
        ModelStore::build(
            Device::Cpu,
            Some(AdapterPlan::from(&AdapterConfig::lora(RANK)).with_seed(seed)),
            |root| AdaptedLinear::new(&(root / "proj"), Target::Q, D, D, true),
        )
        .unwrap()
        .0
    };
    let (one, same, other) = (build(1), build(1), build(2));
    let a = var(one.adapters(), "lora_A.weight");
    let bound = 1.0 / (D as f64).sqrt();
    let largest = a.abs().max().double_value(&[]);
    assert!(
        largest <= bound && largest > 0.5 * bound,
        "max |A| = {largest}, bound {bound}"
    );
    assert!(
        a.equal(&var(same.adapters(), "lora_A.weight")),
        "same seed, same A"
    );
    assert!(
        !a.equal(&var(other.adapters(), "lora_A.weight")),
        "another seed, another A"
    );
    let b = var(one.adapters(), "lora_B.weight");
    assert_eq!(b.abs().max().double_value(&[]), 0.0, "B starts at zero");
}
