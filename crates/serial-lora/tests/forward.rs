//! Forward-pass guarantees: zero-initialised adapters change nothing, merging changes nothing,
//! and Serial LoRA has exactly a quarter of LoRA's parameters on q, k, v, o.
mod common;

use common::{build, build_sized, copy_base, input, randomize_b, rel_diff};
use serial_lora::{AdapterConfig, AdapterKind, AdapterPlan, ScaleRule, Target};

fn plans() -> Vec<(&'static str, AdapterPlan)> {
    let mut lora_mlp = AdapterConfig::lora(4);
    lora_mlp.targets.push(Target::Mlp);
    let scaled = |config: AdapterConfig, scaling: ScaleRule| AdapterConfig {
        alpha: 3.0,
        scaling,
        ..config
    };
    vec![
        ("lora qkvo", AdapterPlan::from(&AdapterConfig::lora(4))),
        ("lora qkvo+mlp", AdapterPlan::from(&lora_mlp)),
        ("serial", AdapterPlan::from(&AdapterConfig::serial_lora(4))),
        (
            "lora, alpha 3 / sqrt(r)",
            AdapterPlan::from(&scaled(
                AdapterConfig::lora(4),
                ScaleRule::AlphaOverSqrtRank,
            )),
        ),
        (
            "lora, fixed 3",
            AdapterPlan::from(&scaled(AdapterConfig::lora(4), ScaleRule::Fixed)),
        ),
        (
            "serial, alpha 3 / r",
            AdapterPlan::from(&scaled(
                AdapterConfig::serial_lora(4),
                ScaleRule::AlphaOverRank,
            )),
        ),
        (
            "serial, alpha 3 / sqrt(r)",
            AdapterPlan::from(&scaled(
                AdapterConfig::serial_lora(4),
                ScaleRule::AlphaOverSqrtRank,
            )),
        ),
    ]
}

#[test]
fn adapted_model_starts_exactly_at_the_base_model() {
    for fused in [false, true] {
        for (name, plan) in plans() {
            let (adapted_store, adapted) = build(Some(plan), fused);
            let (base_store, base) = build(None, fused);
            copy_base(&adapted_store, &base_store);
            let x = input();
            let diff = (adapted.forward_t(&x, false) - base.forward_t(&x, false))
                .abs()
                .max()
                .double_value(&[]);
            assert_eq!(
                diff, 0.0,
                "{name} (fused {fused}) changes the output at initialisation"
            );
        }
    }
}

#[test]
fn merged_forward_equals_adapted_forward() {
    for fused in [false, true] {
        for (name, plan) in plans() {
            let (store, model) = build(Some(plan), fused);
            randomize_b(&store);
            let x = input();
            let base_before: Vec<_> = common::snapshot(store.base());
            let adapted = model.forward_t(&x, false);
            store.merge();
            let merged = model.forward_t(&x, false);
            let rel = rel_diff(&merged, &adapted);
            assert!(
                rel <= 1e-5,
                "{name} (fused {fused}): merged differs from adapted by {rel:e} relative"
            );
            // The adapters really are non-trivial: the merged weights moved.
            let moved = common::snapshot(store.base())
                .iter()
                .zip(&base_before)
                .any(|((_, a), (_, b))| a != b);
            assert!(moved, "{name}: merge left every weight unchanged");
            store.unmerge();
            let unmerged = model.forward_t(&x, false);
            let rel = rel_diff(&unmerged, &adapted);
            assert!(
                rel <= 1e-5,
                "{name} (fused {fused}): unmerged differs from adapted by {rel:e} relative"
            );
            for ((n, a), (_, b)) in common::snapshot(store.base()).iter().zip(&base_before) {
                assert!(
                    rel_diff(a, b) <= 1e-5,
                    "{name}: unmerge did not restore {n}"
                );
            }
        }
    }
}

#[test]
fn serial_lora_has_a_quarter_of_lora_parameters() {
    let (dim, layers) = (128, 3);
    for rank in [1, 8, 64] {
        let (lora, _) = build_sized(
            Some(AdapterPlan::from(&AdapterConfig::lora(rank))),
            false,
            dim,
            layers,
        );
        let (serial, _) = build_sized(
            Some(AdapterPlan::from(&AdapterConfig::serial_lora(rank))),
            false,
            dim,
            layers,
        );
        let (lora, serial) = (lora.parameter_count(), serial.parameter_count());
        assert_eq!(
            lora.total,
            8 * dim * rank * layers as i64,
            "LoRA q,k,v,o at r={rank}"
        );
        assert_eq!(
            serial.total,
            2 * dim * rank * layers as i64,
            "Serial LoRA at r={rank}"
        );
        assert_eq!(4 * serial.total, lora.total);
        assert_eq!(lora.sites.len(), 4 * layers);
        assert_eq!(serial.sites.len(), layers);
        assert_eq!(serial.sites[0].module, "encoder.layers.0.self_attn");
    }
}

#[test]
fn fused_qkv_lora_counts_per_slice_and_blocks_restrict_sites() {
    let mut config = AdapterConfig::lora(2);
    config.targets = vec![Target::Q, Target::V];
    config.blocks = Some(vec![1]);
    let (store, _) = build(Some(AdapterPlan::from(&config)), true);
    let count = store.parameter_count();
    let modules: Vec<_> = count.sites.iter().map(|s| s.module.as_str()).collect();
    assert_eq!(
        modules,
        ["encoder.layers.1.attn.qkv.q", "encoder.layers.1.attn.qkv.v"]
    );
    assert_eq!(count.total, 2 * 2 * common::DIM * 2);
}

#[test]
fn serial_adapter_is_computed_before_qkv_and_leaves_w_o_alone() {
    // With the Serial pair folded by hand into W_q, W_k, W_v only, a base model reproduces the
    // adapted output: the adapter acts on the q/k/v input and nowhere else.
    let plan = AdapterPlan::from(&AdapterConfig::serial_lora(3));
    assert_eq!(plan.method, AdapterKind::SerialLora);
    let (store, model) = build(Some(plan), false);
    randomize_b(&store);
    let x = input();
    let adapted = model.forward_t(&x, false);
    let (base_store, base) = build(None, false);
    copy_base(&store, &base_store);
    let vars = store.adapters().variables();
    let base_vars = base_store.base().variables();
    tch::no_grad(|| {
        for layer in 0..common::LAYERS {
            let prefix = format!("encoder.layers.{layer}.self_attn");
            let a = &vars[&format!("base_model.model.{prefix}.serial_lora_A.weight")];
            let b = &vars[&format!("base_model.model.{prefix}.serial_lora_B.weight")];
            let eye = tch::Tensor::eye(common::DIM, (tch::Kind::Float, tch::Device::Cpu));
            let factor = eye + b.matmul(a);
            for proj in ["q_proj", "k_proj", "v_proj"] {
                let mut w = base_vars[&format!("{prefix}.{proj}.weight")].shallow_clone();
                let folded = w.matmul(&factor);
                w.copy_(&folded);
            }
        }
    });
    let rel = rel_diff(&base.forward_t(&x, false), &adapted);
    assert!(rel <= 1e-5, "hand-folded base model differs by {rel:e}");
}
