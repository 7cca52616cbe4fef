//! Side-by-side benchmark, our half: the CLIP ViT-B/16 vision tower (random weights, CPU) — one
//! training step (forward, backward, AdamW over the adapters only; loss = mean of the squared
//! pooled output) with LoRA on q,k,v,o and with Serial LoRA at rank 8, and inference of the base
//! tower vs the merged adapted towers. Both compute the pooled output as the runners do
//! (`pooled_t`: the last block for the class token only, since nothing reads its other tokens);
//! transformers computes every token of the last block. `tools/bench/vit_b16_peft.py` is the transformers + peft
//! half and `tools/bench/vit_b16.sh` runs both, one case per process, so that each case's peak RSS
//! is its own.
//!
//! Cases (arguments; all of the first five when none is given):
//! * `train:lora`, `train:serial_lora`, `infer:base`, `infer:lora_merged`,
//!   `infer:serial_lora_merged`: median wall time of a step; the line also carries the step's
//!   GEMM FLOP count (dense products only: projections, attention products, adapters, patch
//!   embedding; a training step counts the backward's input and adapter gradients, not the frozen
//!   weights' gradients, which are never computed);
//! * `gemm`: the rate of one dense product shaped like the tower's MLP (`[B·T, d] × [d, 4d]`) in
//!   the chosen precision, the peak the step's FLOP rate is compared with;
//! * `profile:lora`, `profile:serial_lora`: one training step under libtorch's profiler, one line
//!   per operator with its self time.
//!
//! Environment: `BENCH_THREADS` (torch threads, default: the number of cores), `BENCH_PRECISION`
//! (`fp32` or `bf16`: bf16 autocast with the frozen matrices stored in bf16, as `--precision bf16`
//! runs), `BENCH_BATCH` (default 8), `BENCH_IMAGE` (pixels, at least 16, default 224; the patch
//! convolution drops a remainder, as for 56 px), `BENCH_DEVICE` (`cpu`, `cuda`, `cuda:N`; on CUDA
//! every timed call ends with a synchronisation),
//! `BENCH_ITERS` (timed iterations, default 5, after 2 warm-ups), `BENCH_TINY=1` (2 blocks of width
//! 64 at 32 px, 1 warm-up and 2 timed iterations, for checking).

use std::time::Instant;

use serial_lora::precision::{autocast, store_frozen};
use serial_lora::{AdamW, AdapterConfig, AdapterPlan, ModelStore, OptimConfig, Precision};
use tch::{Device, Kind, Tensor};
use torch_ext::{profile, OpProfile};
use zoo::clip::{Config, VisionConfig, VisionTransformer};

const RANK: i64 = 8;
const CASES: [&str; 5] = [
    "train:lora",
    "train:serial_lora",
    "infer:base",
    "infer:lora_merged",
    "infer:serial_lora_merged",
];

/// Model size, precision and iteration counts of one run.
struct Setup {
    vision: VisionConfig,
    batch: i64,
    precision: Precision,
    device: Device,
    warmup: usize,
    iters: usize,
    threads: i32,
}

/// `name` from the environment, parsed, or `default`.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}=`{v}` is not a valid value")),
        _ => default,
    }
}

impl Setup {
    fn from_env() -> Self {
        let tiny = std::env::var("BENCH_TINY").is_ok_and(|v| !v.is_empty() && v != "0");
        let full = Config::vit_b_16().vision;
        let mut vision = if tiny {
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
        vision.image_size = env_or("BENCH_IMAGE", vision.image_size);
        assert!(
            vision.image_size >= vision.patch_size,
            "BENCH_IMAGE must be at least the patch size {}",
            vision.patch_size
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as i32);
        let (warmup, iters) = if tiny { (1, 2) } else { (2, 5) };
        let precision: Precision = env_or("BENCH_PRECISION", Precision::Fp32);
        assert!(
            precision != Precision::Fp16,
            "BENCH_PRECISION: fp32 or bf16 (fp16 is a CUDA recipe)"
        );
        Self {
            vision,
            batch: env_or("BENCH_BATCH", 8),
            precision,
            device: serial_lora::parse_device(&env_or("BENCH_DEVICE", "cpu".to_string()))
                .unwrap_or_else(|e| panic!("BENCH_DEVICE: {e}")),
            warmup,
            iters: env_or("BENCH_ITERS", iters),
            threads: env_or("BENCH_THREADS", cores),
        }
    }

    /// Tokens per image: the patches and the class token.
    fn tokens(&self) -> i64 {
        let side = self.vision.image_size / self.vision.patch_size;
        side * side + 1
    }

    /// The tower with adapters as `config` says (none when `None`), frozen matrices stored in the
    /// run's precision.
    fn build(&self, config: Option<AdapterConfig>) -> (ModelStore, VisionTransformer) {
        let plan = config.as_ref().map(AdapterPlan::from);
        ModelStore::build(self.device, plan, |root| {
            VisionTransformer::new(root, &self.vision)
                .map_err(|e| serial_lora::Error::config("vision tower", e.to_string()))
        })
        .expect("vision tower builds")
    }

    /// Waits for the device's queued work (CUDA); nothing on the CPU.
    fn synchronize(&self) {
        if let Device::Cuda(i) = self.device {
            tch::Cuda::synchronize(i as i64);
        }
    }

    /// Median wall time of `f` in milliseconds, after the warm-up calls.
    fn median_ms(&self, mut f: impl FnMut()) -> f64 {
        (0..self.warmup).for_each(|_| f());
        let mut times: Vec<f64> = (0..self.iters)
            .map(|_| {
                self.synchronize();
                let start = Instant::now();
                f();
                self.synchronize();
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

    /// The fields every line carries.
    fn header(&self, case: &str, method: &str, rank: i64) -> serde_json::Value {
        serde_json::json!({
            "impl": "ours",
            "case": case,
            "method": method,
            "rank": rank,
            "precision": self.precision.as_str(),
            "device": format!("{:?}", self.device).to_lowercase(),
            "threads": self.threads,
            "batch": self.batch,
            "image_size": self.vision.image_size,
            "layers": self.vision.num_hidden_layers,
            "hidden_size": self.vision.hidden_size,
        })
    }

    /// Dense-product FLOPs (2 per multiply-add) of one pooled forward pass (the last block for the
    /// class token only), split into the frozen projections, the attention products and the
    /// adapters (`rank` 0: none).
    fn forward_flops(&self, method: &str, rank: i64) -> ForwardFlops {
        let v = &self.vision;
        let (d, m, r) = (
            v.hidden_size as f64,
            v.intermediate_size as f64,
            rank as f64,
        );
        let tokens = self.tokens() as f64;
        let all = self.batch as f64 * tokens;
        // One block whose queries (Q, W_o, MLP) cover `rows` of the `all` token rows.
        let block = |rows: f64| {
            let adapters = match method {
                "lora" => 2.0 * all + 2.0 * rows,
                "serial_lora" => all,
                _ => 0.0,
            };
            ForwardFlops {
                frozen: 2.0 * (2.0 * all * d * d + 2.0 * rows * d * d + 2.0 * rows * d * m),
                attention: 2.0 * 2.0 * rows * tokens * d,
                adapters: 2.0 * 2.0 * adapters * d * r,
            }
        };
        let (full, last) = (block(all), block(self.batch as f64));
        let blocks = (v.num_hidden_layers - 1) as f64;
        let patch_in = (v.num_channels * v.patch_size * v.patch_size) as f64;
        let patches = (self.batch * (self.tokens() - 1)) as f64;
        ForwardFlops {
            frozen: blocks * full.frozen + last.frozen + 2.0 * patches * patch_in * d,
            attention: blocks * full.attention + last.attention,
            adapters: blocks * full.adapters + last.adapters,
        }
    }

    /// Runs `case` and prints its JSON line(s).
    fn run(&self, case: &str, pixels: &Tensor) {
        if case == "gemm" {
            return self.gemm();
        }
        let (kind, method) = case.split_once(':').unwrap_or_else(|| {
            panic!("unknown case `{case}`; cases: {CASES:?}, gemm, profile:<method>")
        });
        let adapter = match method.trim_end_matches("_merged") {
            "lora" => Some(AdapterConfig::lora(RANK)),
            "serial_lora" => Some(AdapterConfig::serial_lora(RANK)),
            "base" => None,
            _ => panic!("unknown case `{case}`; cases: {CASES:?}, gemm, profile:<method>"),
        };
        let rank = adapter.as_ref().map_or(0, |a| a.rank);
        let (store, tower) = self.build(adapter);
        if method.ends_with("_merged") {
            store.merge();
        }
        let _autocast = autocast(self.precision, self.device).expect("autocast");
        store_frozen(&store, self.precision);
        let flops = self.forward_flops(method.trim_end_matches("_merged"), rank);
        let mut line = match kind {
            "train" | "profile" => {
                let mut opt = AdamW::new(&[store.adapters()], optim()).expect("optimiser");
                let mut step = || {
                    let loss = tower
                        .pooled_t(pixels, true)
                        .to_kind(Kind::Float)
                        .square()
                        .mean(Kind::Float);
                    opt.step(&loss).expect("finite loss");
                };
                if kind == "profile" {
                    return self.profile(method, rank, step);
                }
                let ms = self.median_ms(&mut step);
                self.timed(
                    self.header("train_step", method, rank),
                    ms,
                    flops.train_step(),
                )
            }
            "infer" => {
                let ms = self.median_ms(|| {
                    let _ = tch::no_grad(|| tower.pooled_t(pixels, false));
                });
                self.timed(self.header("inference", method, rank), ms, flops.total())
            }
            _ => panic!("unknown case `{case}`; cases: {CASES:?}, gemm, profile:<method>"),
        };
        line["peak_rss_mb"] = peak_rss_mb().into();
        println!("{line}");
    }

    /// A step's line: its median time, throughput and FLOP rate.
    fn timed(&self, mut line: serde_json::Value, ms: f64, flops: f64) -> serde_json::Value {
        line["median_step_ms"] = ms.into();
        line["images_per_s"] = (self.batch as f64 * 1e3 / ms).into();
        line["gemm_flop_per_step"] = flops.into();
        line["achieved_gflop_per_s"] = (flops / ms / 1e6).into();
        line["warmup"] = self.warmup.into();
        line["iters"] = self.iters.into();
        line
    }

    /// One training step under the profiler, after the warm-up: a `profile_step` line, then one
    /// `profile` line per operator by descending self time.
    fn profile(&self, method: &str, rank: i64, mut step: impl FnMut()) {
        (0..self.warmup).for_each(|_| step());
        let start = Instant::now();
        let ((), events) = profile(&mut step).expect("libtorch profiler");
        let step_ms = start.elapsed().as_secs_f64() * 1e3;
        let mut line = self.header("profile_step", method, rank);
        line["kind"] = "profile_step".into();
        line["step_ms"] = step_ms.into();
        println!("{line}");
        for (op, stat) in OpProfile::from_events(&events).by_self_time() {
            if stat.self_ns == 0 {
                continue;
            }
            let mut line = self.header("profile", method, rank);
            line["kind"] = "profile".into();
            line["op"] = op.into();
            line["calls"] = stat.calls.into();
            line["self_ms"] = (stat.self_ns as f64 / 1e6).into();
            println!("{line}");
        }
    }

    /// The rate of one `[B·T, d] × [d, 4d]` product in the run's precision (the MLP's first
    /// projection, the tower's largest GEMM shape).
    fn gemm(&self) {
        let kind = match self.precision {
            Precision::Bf16 => Kind::BFloat16,
            _ => Kind::Float,
        };
        let (rows, d, m) = (
            self.batch * self.tokens(),
            self.vision.hidden_size,
            self.vision.intermediate_size,
        );
        let a = Tensor::randn([rows, d], (kind, self.device));
        let b = Tensor::randn([d, m], (kind, self.device));
        let repeats = 10;
        let ms = self.median_ms(|| {
            for _ in 0..repeats {
                let _ = a.mm(&b);
            }
        }) / repeats as f64;
        let flops = 2.0 * (rows * d * m) as f64;
        let mut line = self.header("gemm", "gemm", 0);
        line["shape"] = format!("{rows}x{d} by {d}x{m}").into();
        line["median_ms"] = ms.into();
        line["gemm_peak_gflop_per_s"] = (flops / ms / 1e6).into();
        println!("{line}");
    }
}

/// A forward pass's dense-product FLOPs by kind.
struct ForwardFlops {
    frozen: f64,
    attention: f64,
    adapters: f64,
}

impl ForwardFlops {
    fn total(&self) -> f64 {
        self.frozen + self.attention + self.adapters
    }

    /// Forward plus backward: every frozen projection's input gradient (as many FLOPs as its
    /// forward), both operands' gradients of the attention products (twice theirs), and the
    /// adapters' input and weight gradients (twice theirs).
    fn train_step(&self) -> f64 {
        2.0 * self.frozen + 3.0 * self.attention + 3.0 * self.adapters
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
        [setup.batch, v.num_channels, v.image_size, v.image_size],
        (Kind::Float, setup.device),
    );
    for case in &cases {
        setup.run(case, &pixels);
    }
}
