//! `--precision auto`: a short start-up probe times one matrix product of a transformer's shape in
//! fp32 and in bf16 on the run's device and picks bf16 only where it is measurably faster
//! ([`AUTO_SPEEDUP`]): CUDA with bf16 support, a CPU with matrix units (AMX) or bf16 dot products
//! fast enough to beat fp32; fp32 elsewhere. The probe's inputs are fixed, not drawn.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::precision::{Precision, PrecisionChoice};

/// How many times faster bf16 must be than fp32 for `auto` to pick it.
pub const AUTO_SPEEDUP: f64 = 1.25;

/// The probe's product: `[M, K] × [K, N]` (a ViT-B block's projection of 8 × 197 tokens' worth).
const SHAPE: (i64, i64, i64) = (512, 768, 768);

/// Timed repetitions of each precision (the median counts), after one untimed warm-up.
const REPEATS: usize = 7;

/// What the probe measured on a device and what `auto` picks from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// The device, as libtorch names it (`Cpu`, `Cuda(0)`).
    pub device: String,
    /// libtorch's intra-op threads during the probe.
    pub threads: i32,
    /// Median milliseconds of the fp32 product.
    pub fp32_ms: f64,
    /// Median milliseconds of the bf16 product (`None`: the device has no bf16 product).
    pub bf16_ms: Option<f64>,
    /// The precision `auto` picks.
    pub chosen: Precision,
}

/// bf16 when it takes at most `1 / AUTO_SPEEDUP` of fp32's time, else fp32.
pub fn choose(fp32_ms: f64, bf16_ms: Option<f64>) -> Precision {
    match bf16_ms {
        Some(b) if b * AUTO_SPEEDUP <= fp32_ms => Precision::Bf16,
        _ => Precision::Fp32,
    }
}

/// Median milliseconds of `a.matmul(b)` on `device` (synchronised on CUDA).
fn time_product(a: &Tensor, b: &Tensor, device: Device) -> f64 {
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    let _ = a.matmul(b);
    sync();
    let mut times: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            let _ = a.matmul(b);
            sync();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[REPEATS / 2]
}

/// Runs the probe on `device`.
pub fn probe(device: Device) -> Probe {
    let (m, k, n) = SHAPE;
    let a = (Tensor::arange(m * k, (Kind::Float, device)).view([m, k]) * 1e-4).sin();
    let b = (Tensor::arange(k * n, (Kind::Float, device)).view([k, n]) * 1e-4).cos();
    let fp32_ms = tch::no_grad(|| time_product(&a, &b, device));
    let bf16_ms = tch::no_grad(|| {
        let (a, b) = (
            a.f_to_kind(Kind::BFloat16).ok()?,
            b.f_to_kind(Kind::BFloat16).ok()?,
        );
        let _ = a.f_matmul(&b).ok()?;
        Some(time_product(&a, &b, device))
    });
    Probe {
        device: format!("{device:?}"),
        threads: tch::get_num_threads(),
        fp32_ms,
        bf16_ms,
        chosen: choose(fp32_ms, bf16_ms),
    }
}

/// The precision `choice` means on `device`: itself, or for `auto` the probe's pick (with the
/// probe, to be reported).
pub fn resolve(choice: PrecisionChoice, device: Device) -> (Precision, Option<Probe>) {
    match choice {
        PrecisionChoice::Fixed(p) => (p, None),
        PrecisionChoice::Auto => {
            let p = probe(device);
            (p.chosen, Some(p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_bf16_only_when_it_is_measurably_faster() {
        assert_eq!(choose(10.0, Some(8.0)), Precision::Bf16);
        assert_eq!(choose(10.0, Some(8.1)), Precision::Fp32);
        assert_eq!(choose(10.0, Some(20.0)), Precision::Fp32);
        assert_eq!(choose(10.0, None), Precision::Fp32);
    }

    #[test]
    fn the_probe_times_both_products_and_picks_by_its_rule() {
        let p = probe(Device::Cpu);
        assert!(
            p.fp32_ms > 0.0 && p.bf16_ms.is_some_and(|b| b > 0.0),
            "{p:?}"
        );
        assert_eq!(p.chosen, choose(p.fp32_ms, p.bf16_ms));
        assert_eq!(p.device, "Cpu");
        let (fixed, none) = resolve(PrecisionChoice::Fixed(Precision::Fp16), Device::Cpu);
        assert_eq!((fixed, none), (Precision::Fp16, None));
    }
}
