//! Training guarantees: only adapters move, LoRA+ gives B its own learning rate, the schedule
//! follows warm-up + cosine, optimiser state round-trips, and a NaN loss stops training.
mod common;

use common::{build, input, snapshot};
use serial_lora::{AdamW, AdapterConfig, AdapterPlan, Error, OptimConfig};

fn optim(lr_ratio: f64) -> OptimConfig {
    OptimConfig {
        lr: 1e-3,
        weight_decay: 0.0,
        betas: (0.9, 0.999),
        eps: 1e-8,
        warmup_steps: 0,
        total_steps: 100,
        min_lr: 0.0,
        grad_clip: None,
        lr_ratio,
    }
}

#[test]
fn steps_move_every_adapter_and_no_base_weight() {
    for config in [AdapterConfig::lora(4), AdapterConfig::serial_lora(4)] {
        for fused in [false, true] {
            let (store, model) = build(Some(AdapterPlan::from(&config)), fused);
            let base_before = snapshot(store.base());
            let adapters_before = snapshot(store.adapters());
            let mut opt = AdamW::new(
                &[store.adapters()],
                OptimConfig {
                    weight_decay: 0.01,
                    grad_clip: Some(1.0),
                    ..optim(1.0)
                },
            )
            .unwrap();
            let x = input();
            for _ in 0..3 {
                let loss = model.forward_t(&x, true).square().mean(tch::Kind::Float);
                opt.step(&loss).unwrap();
            }
            assert_eq!(opt.steps_done(), 3);
            for ((name, after), (_, before)) in snapshot(store.base()).iter().zip(&base_before) {
                assert!(
                    after.equal(before),
                    "base weight {name} changed ({:?}, fused {fused})",
                    config.method
                );
            }
            for ((name, after), (_, before)) in
                snapshot(store.adapters()).iter().zip(&adapters_before)
            {
                let moved = (after - before).abs().max().double_value(&[]);
                assert!(
                    moved > 0.0,
                    "adapter {name} did not move ({:?}, fused {fused})",
                    config.method
                );
            }
            assert!(store
                .base()
                .trainable_variables()
                .iter()
                .all(|t| !t.requires_grad()));
        }
    }
}

/// Largest per-element displacement of the variables whose name ends with `suffix`.
fn displacement(
    after: &[(String, tch::Tensor)],
    before: &[(String, tch::Tensor)],
    suffix: &str,
) -> f64 {
    after
        .iter()
        .zip(before)
        .filter(|((n, _), _)| n.ends_with(suffix))
        .map(|((_, a), (_, b))| (a - b).abs().max().double_value(&[]))
        .fold(0.0, f64::max)
}

#[test]
fn lora_plus_trains_b_at_lr_times_lambda() {
    // Adam's first step moves every parameter with a non-zero gradient by lr (± eps effects), so the
    // displacement of B after one step reads off its learning rate. A has zero gradient while B = 0,
    // so it is checked after B has been made non-zero.
    for config in [AdapterConfig::lora(4), AdapterConfig::serial_lora(4)] {
        for lambda in [1.0, 16.0] {
            let (store, model) = build(Some(AdapterPlan::from(&config)), false);
            let mut opt = AdamW::new(&[store.adapters()], optim(lambda)).unwrap();
            assert_eq!(opt.group_lrs(0), (1e-3, 1e-3 * lambda));
            let x = input();
            let before = snapshot(store.adapters());
            opt.step(&model.forward_t(&x, true).square().mean(tch::Kind::Float))
                .unwrap();
            let after = snapshot(store.adapters());
            let b_step = displacement(&after, &before, "lora_B.weight");
            assert!(
                (b_step / (1e-3 * lambda) - 1.0).abs() < 1e-3,
                "B moved {b_step:e}, expected lr·λ = {:e}",
                1e-3 * lambda
            );
            assert_eq!(
                displacement(&after, &before, "lora_A.weight"),
                0.0,
                "A has no gradient while B = 0"
            );

            let mut fresh = AdamW::new(&[store.adapters()], optim(lambda)).unwrap();
            fresh
                .step(&model.forward_t(&x, true).square().mean(tch::Kind::Float))
                .unwrap();
            let a_step = displacement(&snapshot(store.adapters()), &after, "lora_A.weight");
            assert!(
                (a_step / 1e-3 - 1.0).abs() < 1e-3,
                "A moved {a_step:e}, expected lr = 1e-3"
            );
        }
    }
}

#[test]
fn schedule_warms_up_linearly_then_follows_a_cosine() {
    let config = OptimConfig {
        lr: 1.0,
        warmup_steps: 4,
        total_steps: 14,
        min_lr: 0.1,
        ..optim(1.0)
    };
    let lrs: Vec<f64> = (0..15).map(|s| config.lr_at(s)).collect();
    for (step, want) in [(0, 0.25), (1, 0.5), (3, 1.0), (4, 1.0), (14, 0.1)] {
        assert!(
            (lrs[step] - want).abs() < 1e-12,
            "lr at step {step} = {}, expected {want}",
            lrs[step]
        );
    }
    // Half-way through the cosine the rate is the mean of lr and min_lr.
    assert!((lrs[9] - 0.55).abs() < 1e-12);
    assert!(
        lrs[4..].windows(2).all(|w| w[1] <= w[0]),
        "cosine must not increase"
    );
}

#[test]
fn resumed_optimiser_continues_identically() {
    let run = |split: Option<usize>| {
        let (store, model) = build(Some(AdapterPlan::from(&AdapterConfig::lora(2))), false);
        let x = input();
        let mut opt = AdamW::new(&[store.adapters()], optim(4.0)).unwrap();
        for step in 0..6 {
            if Some(step) == split {
                let state: std::collections::BTreeMap<_, _> = opt
                    .state()
                    .into_iter()
                    .map(|(n, t)| (n, t.copy()))
                    .collect();
                opt = AdamW::new(&[store.adapters()], optim(4.0)).unwrap();
                opt.load_state(&state).unwrap();
                assert_eq!(opt.steps_done(), step);
            }
            opt.step(&model.forward_t(&x, true).square().mean(tch::Kind::Float))
                .unwrap();
        }
        snapshot(store.adapters())
    };
    let straight = run(None);
    let resumed = run(Some(3));
    for ((name, a), (_, b)) in straight.iter().zip(&resumed) {
        assert!(a.equal(b), "{name} differs after resuming");
    }
}

#[test]
fn non_finite_loss_is_refused_before_any_update() {
    let (store, _) = build(Some(AdapterPlan::from(&AdapterConfig::lora(2))), false);
    let before = snapshot(store.adapters());
    let mut opt = AdamW::new(&[store.adapters()], optim(1.0)).unwrap();
    let err = opt.step(&tch::Tensor::from(f64::NAN)).unwrap_err();
    assert!(matches!(err, Error::NonFiniteLoss { step: 0, .. }), "{err}");
    assert!(err.to_string().contains("NaN"), "{err}");
    for ((n, a), (_, b)) in snapshot(store.adapters()).iter().zip(&before) {
        assert!(a.equal(b), "{n} changed");
    }
}

#[test]
fn optimiser_config_errors_name_the_field() {
    for (config, field) in [
        (
            OptimConfig {
                lr: 0.0,
                ..optim(1.0)
            },
            "`lr`",
        ),
        (
            OptimConfig {
                total_steps: 0,
                ..optim(1.0)
            },
            "`total_steps`",
        ),
        (
            OptimConfig {
                warmup_steps: 200,
                ..optim(1.0)
            },
            "`warmup_steps`",
        ),
        (
            OptimConfig {
                lr_ratio: -1.0,
                ..optim(1.0)
            },
            "`lr_ratio`",
        ),
    ] {
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains(field), "{err} does not name {field}");
    }
}
