//! The numerics a process computes under: [`pin`] sets a [`NumericsMode`]'s kernel variables
//! before libtorch starts (by starting the program again with them), and [`record`] reads back
//! what libtorch, MKL and the processor report, as a run's `numerics.json`.

use std::collections::BTreeMap;
use std::ffi::CStr;

use formats::numerics::{Cpu, Numerics, NumericsMode, KERNEL_VARIABLES, UNKNOWN};
use formats::Precision;

/// Marks the process started again by [`pin`], so a mode that cannot take hold fails instead of
/// looping.
const PINNED_ENV: &str = "SERIAL_LORA_NUMERICS_PINNED";

/// Makes `mode`'s kernel variables hold from the start of libtorch: when one is missing or has
/// another value, the program is started again (same executable, arguments and environment, plus
/// the variables) and this call does not return. libtorch, MKL and oneDNN read them once, when
/// first used, so setting them inside a running process is not enough. Call it first in `main`,
/// before any tensor exists. `native` changes nothing.
pub fn pin(mode: NumericsMode) -> Result<(), crate::Error> {
    let missing: Vec<(&str, &str)> = mode
        .variables()
        .iter()
        .copied()
        .filter(|(name, value)| std::env::var(name).ok().as_deref() != Some(*value))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if std::env::var_os(PINNED_ENV).is_some() {
        return Err(crate::Error(format!(
            "--numerics {mode}: {} still unset after starting again",
            missing[0].0
        )));
    }
    let exe = std::env::current_exe()
        .map_err(|e| crate::Error(format!("--numerics {mode}: the program's path: {e}")))?;
    let mut command = std::process::Command::new(exe);
    command
        .args(std::env::args_os().skip(1))
        .envs(mode.variables().iter().copied())
        .env(PINNED_ENV, mode.as_str());
    exec(command, mode)
}

#[cfg(unix)]
fn exec(mut command: std::process::Command, mode: NumericsMode) -> Result<(), crate::Error> {
    use std::os::unix::process::CommandExt;
    let error = command.exec();
    Err(crate::Error(format!(
        "--numerics {mode}: starting again with its variables: {error}"
    )))
}

#[cfg(not(unix))]
fn exec(_command: std::process::Command, mode: NumericsMode) -> Result<(), crate::Error> {
    Err(crate::Error(format!(
        "--numerics {mode}: set its variables ({:?}) yourself before starting the program",
        mode.variables()
    )))
}

/// The numerics of this process: the processor (CPUID), ATen's CPU capability, MKL's and
/// oneDNN's versions and the libtorch version as libtorch reports them, the kernel variables in
/// force (and the mode they make), the intra-op threads, and the run's `precision` and `device`.
pub fn record(precision: Precision, device: tch::Device) -> Numerics {
    let settings: BTreeMap<String, String> = KERNEL_VARIABLES
        .iter()
        .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
        .collect();
    Numerics {
        cpu: cpu(),
        aten_cpu_capability: libtorch_string(0),
        mode: NumericsMode::of_settings(&settings),
        settings,
        libtorch: libtorch_string(3),
        mkl: libtorch_string(1),
        onednn: libtorch_string(2),
        threads: Some(tch::get_num_threads().max(1) as usize),
        precision,
        device: match device {
            tch::Device::Cuda(i) => format!("cuda:{i}"),
            other => format!("{other:?}").to_lowercase(),
        },
        mixed: false,
        note: None,
    }
}

/// One of the strings of `tx_numerics` (0: capability, 1: MKL, 2: oneDNN, 3: libtorch).
fn libtorch_string(what: i32) -> String {
    // SAFETY: the C side returns a NUL-terminated thread-local string valid until the next call
    // on this thread; it is copied at once.
    let text = unsafe { CStr::from_ptr(crate::ffi::tx_numerics(what)) };
    text.to_string_lossy().trim().to_string()
}

/// The processor as CPUID reports it.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
fn cpu() -> Cpu {
    let id = raw_cpuid::CpuId::new();
    let features = id.get_extended_feature_info();
    let has = |f: fn(&raw_cpuid::ExtendedFeatures) -> bool| features.as_ref().is_some_and(f);
    let avx2 = has(raw_cpuid::ExtendedFeatures::has_avx2);
    let isa = if has(raw_cpuid::ExtendedFeatures::has_amx_tile) {
        "amx"
    } else if has(raw_cpuid::ExtendedFeatures::has_avx512_bf16) {
        "avx512_bf16"
    } else if has(raw_cpuid::ExtendedFeatures::has_avx512f) {
        "avx512"
    } else if avx2 {
        "avx2"
    } else {
        "sse"
    };
    let info = id.get_feature_info();
    Cpu {
        vendor: id
            .get_vendor_info()
            .map_or(UNKNOWN.to_string(), |v| v.as_str().to_string()),
        model_name: id
            .get_processor_brand_string()
            .map_or(UNKNOWN.to_string(), |b| b.as_str().trim().to_string()),
        family: info.as_ref().map(|i| u32::from(i.family_id())),
        model: info.as_ref().map(|i| u32::from(i.model_id())),
        isa: isa.to_string(),
    }
}

/// Other processors: only the architecture is known.
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
fn cpu() -> Cpu {
    Cpu {
        vendor: UNKNOWN.to_string(),
        model_name: std::env::consts::ARCH.to_string(),
        family: None,
        model: None,
        isa: std::env::consts::ARCH.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_names_libtorch_and_the_processor() {
        let r = record(Precision::Fp32, tch::Device::Cpu);
        assert_eq!(r.libtorch, "2.13.0");
        assert!(
            ["DEFAULT", "AVX2", "AVX512"].contains(&r.aten_cpu_capability.as_str()),
            "{}",
            r.aten_cpu_capability
        );
        assert!(r.mkl.contains("Math Kernel Library"), "{}", r.mkl);
        assert_ne!(r.cpu.vendor, UNKNOWN);
        assert_eq!(r.device, "cpu");
        assert!(r.complete());
    }
}
