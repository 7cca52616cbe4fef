//! Adapter cost on a ViT-B/16-sized block (d = 768, 197 tokens, batch 8): one training step
//! (forward + backward + AdamW) of LoRA on q,k,v,o vs Serial LoRA at r = 8 and 64, and the merged
//! block vs the base block at inference. After criterion finishes, the medians and ratios are
//! written to `results/bench/adapters.csv`.
#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion};
use serial_lora::{AdamW, AdapterConfig, AdapterPlan, OptimConfig};
use tch::{Kind, Tensor};

const DIM: i64 = 768;
const TOKENS: i64 = 197;
const BATCH: i64 = 8;
const RANKS: [i64; 2] = [8, 64];

fn optim() -> OptimConfig {
    OptimConfig {
        lr: 1e-4,
        weight_decay: 0.01,
        betas: (0.9, 0.999),
        eps: 1e-8,
        warmup_steps: 0,
        total_steps: 1_000_000,
        min_lr: 0.0,
        grad_clip: Some(1.0),
        lr_ratio: 1.0,
    }
}

fn input() -> Tensor {
    Tensor::randn([BATCH, TOKENS, DIM], (Kind::Float, tch::Device::Cpu))
}

fn train_steps(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    group.sample_size(10);
    for rank in RANKS {
        for (method, config) in [
            ("lora", AdapterConfig::lora(rank)),
            ("serial_lora", AdapterConfig::serial_lora(rank)),
        ] {
            let (store, block) =
                common::build_sized(Some(AdapterPlan::from(&config)), false, DIM, 1);
            let mut opt = AdamW::new(&[store.adapters()], optim()).unwrap();
            let x = input();
            group.bench_function(BenchmarkId::new(method, rank), |b| {
                b.iter(|| {
                    opt.step(&block.forward_t(&x, true).square().mean(Kind::Float))
                        .unwrap()
                })
            });
        }
    }
    group.finish();
}

fn inference(c: &mut Criterion) {
    let mut group = c.benchmark_group("inference");
    group.sample_size(10);
    let x = input();
    let (_, base) = common::build_sized(None, false, DIM, 1);
    group.bench_function(BenchmarkId::new("base", 0), |b| {
        b.iter(|| tch::no_grad(|| base.forward_t(&x, false)))
    });
    for rank in RANKS {
        for (method, config) in [
            ("lora", AdapterConfig::lora(rank)),
            ("serial_lora", AdapterConfig::serial_lora(rank)),
        ] {
            let (store, block) =
                common::build_sized(Some(AdapterPlan::from(&config)), false, DIM, 1);
            store.merge();
            group.bench_function(BenchmarkId::new(format!("{method}_merged"), rank), |b| {
                b.iter(|| tch::no_grad(|| block.forward_t(&x, false)))
            });
        }
    }
    group.finish();
}

/// Median of one benchmark in milliseconds, from criterion's estimates.
fn median_ms(criterion_dir: &std::path::Path, group: &str, id: &str) -> f64 {
    let path = criterion_dir
        .join(group)
        .join(id)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["median"]["point_estimate"]
        .as_f64()
        .expect("median in estimates.json")
        / 1e6
}

fn write_csv() {
    let root = common::workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let dir = target.join("criterion");
    let mut rows = vec!["case,method,rank,median_ms,ratio_to_lora,ratio_to_base".to_string()];
    for rank in RANKS {
        let lora = median_ms(&dir, "train_step", &format!("lora/{rank}"));
        let serial = median_ms(&dir, "train_step", &format!("serial_lora/{rank}"));
        rows.push(format!("train_step,lora,{rank},{lora:.3},1.000,"));
        rows.push(format!(
            "train_step,serial_lora,{rank},{serial:.3},{:.3},",
            serial / lora
        ));
    }
    let base = median_ms(&dir, "inference", "base/0");
    rows.push(format!("inference,base,0,{base:.3},,1.000"));
    for rank in RANKS {
        for method in ["lora_merged", "serial_lora_merged"] {
            let t = median_ms(&dir, "inference", &format!("{method}/{rank}"));
            rows.push(format!("inference,{method},{rank},{t:.3},,{:.3}", t / base));
        }
    }
    let out = root.join("results/bench/adapters.csv");
    serial_lora::checkpoint::write_atomic(&out, (rows.join("\n") + "\n").as_bytes()).unwrap();
    println!("wrote {}\n{}", out.display(), rows.join("\n"));
}

fn main() {
    tch::manual_seed(0);
    let mut c = Criterion::default().configure_from_args();
    train_steps(&mut c);
    inference(&mut c);
    c.final_summary();
    if std::env::args().all(|a| a != "--list" && a != "--test") {
        write_csv();
    }
}
