//! Side-by-side benchmark, our half: the CLIP ViT-B/16 vision tower (random weights, batch 8,
//! 224 px, fp32, CPU) — one training step (forward, backward, AdamW over the adapters only; loss =
//! mean of the squared pooled output) with LoRA on q,k,v,o and with Serial LoRA at rank 8, and
//! inference of the base tower vs the merged adapted towers. `tools/bench/vit_b16_peft.py` is the
//! transformers + peft half and `tools/bench/vit_b16.sh` runs both, one case per process, so that
//! each case's peak RSS is its own.
//!
//! Arguments: the cases to run (`train:lora`, `train:serial_lora`, `infer:base`,
//! `infer:lora_merged`, `infer:serial_lora_merged`); all when none is given. Prints one JSON line
//! per case. Environment: `BENCH_THREADS` (torch threads, default: the number of cores),
//! `BENCH_TINY=1` (2 blocks of width 64 at 32 px, 1 warm-up and 2 timed iterations, for checking).

use std::time::Instant;

use serial_lora::{AdamW, AdapterConfig, AdapterPlan, ModelStore, OptimConfig};
use tch::{Device, Kind, Tensor};
use zoo::clip::{Config, VisionConfig, VisionTransformer};

const BATCH: i64 = 8;
const RANK: i64 = 8;
const CASES: [&str; 5] = [
    "train:lora",
    "train:serial_lora",
    "infer:base",
    "infer:lora_merged",
    "infer:serial_lora_merged",
];

/// Model size and iteration counts of one run.
struct Setup {
    vision: VisionConfig,
    warmup: usize,
    iters: usize,
    threads: i32,
}

impl Setup {
    fn from_env() -> Self {
        let tiny = std::env::var("BENCH_TINY").is_ok_and(|v| !v.is_empty() && v != "0");
        let full = Config::vit_b_16().vision;
        let vision = if tiny {
            VisionConfig {
                hidden_size: 64,
                intermediate_size: 256,
                num_hidden_layers: 2,
                num_attention_heads: 4,
                image_size: 32,
                ..full
            }
        } else {
            full
        };
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as i32);
        let threads = std::env::var("BENCH_THREADS")
            .ok()
            .map(|t| t.parse().expect("BENCH_THREADS is a positive integer"))
            .unwrap_or(cores);
        let (warmup, iters) = if tiny { (1, 2) } else { (2, 5) };
        Self {
            vision,
            warmup,
            iters,
            threads,
        }
    }

    /// The tower with adapters as `config` says (none when `None`).
    fn build(&self, config: Option<AdapterConfig>) -> (ModelStore, VisionTransformer) {
        let plan = config.as_ref().map(AdapterPlan::from);
        ModelStore::build(Device::Cpu, plan, |root| {
            VisionTransformer::new(root, &self.vision)
                .map_err(|e| serial_lora::Error::config("vision tower", e.to_string()))
        })
        .expect("vision tower builds")
    }

    /// Median wall time of `f` in milliseconds, after the warm-up calls.
    fn median_ms(&self, mut f: impl FnMut()) -> f64 {
        (0..self.warmup).for_each(|_| f());
        let mut times: Vec<f64> = (0..self.iters)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let mid = times.len() / 2;
        if times.len().is_multiple_of(2) {
            (times[mid - 1] + times[mid]) / 2.0
        } else {
            times[mid]
        }
    }

    /// Runs `case` and prints its JSON line.
    fn run(&self, case: &str, pixels: &Tensor) {
        let (kind, method) = case
            .split_once(':')
            .unwrap_or_else(|| panic!("unknown case `{case}`; cases: {CASES:?}"));
        let adapter = match method.trim_end_matches("_merged") {
            "lora" => Some(AdapterConfig::lora(RANK)),
            "serial_lora" => Some(AdapterConfig::serial_lora(RANK)),
            "base" => None,
            _ => panic!("unknown case `{case}`; cases: {CASES:?}"),
        };
        let rank = adapter.as_ref().map_or(0, |a| a.rank);
        let (store, tower) = self.build(adapter);
        let ms = match kind {
            "train" => {
                let mut opt = AdamW::new(&[store.adapters()], optim()).expect("optimiser");
                self.median_ms(|| {
                    let loss = tower
                        .forward_t(pixels, true)
                        .pooler_output
                        .square()
                        .mean(Kind::Float);
                    opt.step(&loss).expect("finite loss");
                })
            }
            "infer" => {
                if method.ends_with("_merged") {
                    store.merge();
                }
                self.median_ms(|| {
                    let _ = tch::no_grad(|| tower.forward_t(pixels, false));
                })
            }
            _ => panic!("unknown case `{case}`; cases: {CASES:?}"),
        };
        let line = serde_json::json!({
            "impl": "ours",
            "case": if kind == "train" { "train_step" } else { "inference" },
            "method": method,
            "rank": rank,
            "median_step_ms": ms,
            "images_per_s": BATCH as f64 * 1e3 / ms,
            "peak_rss_mb": peak_rss_mb(),
            "threads": self.threads,
            "batch": BATCH,
            "image_size": self.vision.image_size,
            "layers": self.vision.num_hidden_layers,
            "hidden_size": self.vision.hidden_size,
            "warmup": self.warmup,
            "iters": self.iters,
        });
        println!("{line}");
    }
}

/// torch.optim.AdamW's defaults at lr 1e-4, weight decay 0.01, no clipping or schedule.
fn optim() -> OptimConfig {
    OptimConfig {
        lr: 1e-4,
        weight_decay: 0.01,
        betas: (0.9, 0.999),
        eps: 1e-8,
        warmup_steps: 0,
        total_steps: 1_000_000,
        min_lr: 0.0,
        grad_clip: None,
        lr_ratio: 1.0,
    }
}

/// This process's peak resident set (`VmHWM`) in MiB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib / 1024.0
}

fn main() {
    let setup = Setup::from_env();
    tch::set_num_threads(setup.threads);
    tch::manual_seed(0);
    let cases: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let cases = if cases.is_empty() {
        CASES.map(String::from).to_vec()
    } else {
        cases
    };
    let v = &setup.vision;
    let pixels = Tensor::randn(
        [BATCH, v.num_channels, v.image_size, v.image_size],
        (Kind::Float, Device::Cpu),
    );
    for case in &cases {
        setup.run(case, &pixels);
    }
}
