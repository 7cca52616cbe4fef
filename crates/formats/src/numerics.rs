//! The numerics a run computed under: `numerics.json` beside its `config.json`, and the
//! `--numerics` mode that pins libtorch's CPU kernels.
//!
//! Floating-point results depend on which kernels libtorch, MKL and oneDNN pick, and they pick by
//! CPU vendor and instruction set. Same [`Numerics::signature`] → same bits; another signature →
//! the same results only within a measured numerical noise (`analysis compare`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::precision::Precision;

/// The record in every run folder.
pub const NUMERICS_FILE: &str = "numerics.json";

/// The environment variables that choose libtorch's, MKL's and oneDNN's CPU kernels; any of them
/// in force is part of the signature.
pub const KERNEL_VARIABLES: [&str; 6] = [
    "ATEN_CPU_CAPABILITY",
    "MKL_CBWR",
    "MKL_ENABLE_INSTRUCTIONS",
    "ONEDNN_MAX_CPU_ISA",
    "DNNL_MAX_CPU_ISA",
    "ONEDNN_DEFAULT_FPMATH_MODE",
];

/// How a process pins its CPU kernels (`--numerics`, `NUMERICS=` on the make targets). The
/// variables must be in the environment before libtorch starts (`torch_ext::numerics::pin`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumericsMode {
    /// libtorch, MKL and oneDNN pick their kernels for the CPU (fastest; the bits depend on the
    /// CPU's vendor and instruction set).
    #[default]
    Native,
    /// Every kernel library on its AVX2 code path (`ATEN_CPU_CAPABILITY=avx2`, `MKL_CBWR=AVX2`,
    /// `ONEDNN_MAX_CPU_ISA=AVX2`). MKL honours `AVX2` on Intel CPUs only (elsewhere it takes its
    /// reproducible automatic branch), so this pins one vendor's kernels, not both.
    Avx2,
    /// The vendor-neutral path: ATen's baseline kernels, MKL's `COMPATIBLE` branch (SSE2
    /// without the approximate instructions whose results differ between vendors) and oneDNN at
    /// SSE4.1 (`ATEN_CPU_CAPABILITY=default`, `MKL_CBWR=COMPATIBLE`, `ONEDNN_MAX_CPU_ISA=SSE41`).
    Portable,
}

impl NumericsMode {
    /// Every mode, as named on command lines.
    pub const ALL: [NumericsMode; 3] = [
        NumericsMode::Native,
        NumericsMode::Avx2,
        NumericsMode::Portable,
    ];

    /// The name on command lines and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Avx2 => "avx2",
            Self::Portable => "portable",
        }
    }

    /// The mode whose variables `settings` (kernel variable → value) hold, all of them with its
    /// values; `native` when none does (any other settings are still part of the signature).
    pub fn of_settings(settings: &BTreeMap<String, String>) -> Self {
        Self::ALL
            .into_iter()
            .filter(|m| *m != Self::Native)
            .find(|m| {
                m.variables()
                    .iter()
                    .all(|(k, v)| settings.get(*k).map(String::as_str) == Some(*v))
            })
            .unwrap_or(Self::Native)
    }

    /// The environment variables the mode sets before libtorch starts (none for `native`).
    pub fn variables(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Native => &[],
            Self::Avx2 => &[
                ("ATEN_CPU_CAPABILITY", "avx2"),
                ("MKL_CBWR", "AVX2"),
                ("ONEDNN_MAX_CPU_ISA", "AVX2"),
            ],
            Self::Portable => &[
                ("ATEN_CPU_CAPABILITY", "default"),
                ("MKL_CBWR", "COMPATIBLE"),
                ("ONEDNN_MAX_CPU_ISA", "SSE41"),
            ],
        }
    }
}

impl fmt::Display for NumericsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NumericsMode {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| format!("unknown numerics mode `{s}` (native, avx2 or portable)"))
    }
}

/// The processor, as CPUID reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cpu {
    /// `GenuineIntel`, `AuthenticAMD`, … (`unknown` where not recorded).
    pub vendor: String,
    /// The brand string, e.g. `AMD EPYC` (virtual machines often shorten it).
    pub model_name: String,
    /// CPUID family and model numbers, where known.
    pub family: Option<u32>,
    /// CPUID model number, where known.
    pub model: Option<u32>,
    /// The widest vector extension present: `amx`, `avx512_bf16`, `avx512`, `avx2` or `sse`.
    pub isa: String,
}

/// What a run computed under: the processor, the kernel level libtorch dispatched to, the kernel
/// settings in force, the libtorch build, threads, precision and device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Numerics {
    /// The processor.
    pub cpu: Cpu,
    /// ATen's CPU capability (`DEFAULT`, `AVX2`, `AVX512`), as libtorch reports it.
    pub aten_cpu_capability: String,
    /// The mode whose variables were in force ([`NumericsMode::of_settings`]).
    pub mode: NumericsMode,
    /// The kernel variables ([`KERNEL_VARIABLES`]) set in the process, name → value.
    pub settings: BTreeMap<String, String>,
    /// The libtorch version, e.g. `2.13.0`.
    pub libtorch: String,
    /// MKL's version string, as libtorch reports it.
    pub mkl: String,
    /// oneDNN's version string, as libtorch reports it.
    pub onednn: String,
    /// libtorch's intra-op threads (`None`: not recorded).
    pub threads: Option<usize>,
    /// The run's arithmetic.
    pub precision: Precision,
    /// `cpu`, `cuda:0`, …
    pub device: String,
    /// Set when a run was resumed under another signature than it started with: its bits match
    /// neither.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mixed: bool,
    /// How the record was made when not by the run itself (filled in later from other files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Numerics {
    /// The fields that decide the bits, in one line: vendor, family/model, vector extension,
    /// ATen capability, kernel settings, libtorch, threads, precision and device. Two runs with
    /// the same signature and seed compute the same bits.
    pub fn signature(&self) -> String {
        let number = |n: Option<u32>| n.map_or("?".to_string(), |n| n.to_string());
        let settings: Vec<String> = self
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "{} {}/{} {} aten={} [{}] libtorch={} threads={} {} {}",
            self.cpu.vendor,
            number(self.cpu.family),
            number(self.cpu.model),
            self.cpu.isa,
            self.aten_cpu_capability,
            settings.join(" "),
            self.libtorch,
            number(self.threads.map(|t| t as u32)),
            self.precision,
            self.device
        )
    }

    /// Whether the record fully names a machine (no unknown field), so that equal signatures
    /// promise equal bits.
    pub fn complete(&self) -> bool {
        !self.mixed
            && self.threads.is_some()
            && self.cpu.family.is_some()
            && self.cpu.model.is_some()
            && self.cpu.vendor != UNKNOWN
            && self.aten_cpu_capability != UNKNOWN
    }

    /// Reads `<dir>/numerics.json`; `None` when the run has none (made before it was recorded).
    pub fn read(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join(NUMERICS_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        crate::run::read_json(&path).map(Some)
    }

    /// Writes `<dir>/numerics.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(NUMERICS_FILE);
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::parse(&path, format!("serialising: {e}")))?;
        write_atomic(&path, format!("{text}\n").as_bytes())
    }
}

/// A field not recorded.
pub const UNKNOWN: &str = "unknown";

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Numerics {
        Numerics {
            cpu: Cpu {
                vendor: "AuthenticAMD".into(),
                model_name: "AMD EPYC".into(),
                family: Some(25),
                model: Some(17),
                isa: "avx512_bf16".into(),
            },
            aten_cpu_capability: "AVX512".into(),
            mode: NumericsMode::Native,
            settings: BTreeMap::new(),
            libtorch: "2.13.0".into(),
            mkl: "MKL 2024.2".into(),
            onednn: "oneDNN 3.12.0".into(),
            threads: Some(1),
            precision: Precision::Fp32,
            device: "cpu".into(),
            mixed: false,
            note: None,
        }
    }

    #[test]
    fn written_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Numerics::read(dir.path()).unwrap(), None);
        let mut r = record();
        r.settings.insert("MKL_CBWR".into(), "AVX2".into());
        r.write(dir.path()).unwrap();
        assert_eq!(Numerics::read(dir.path()).unwrap(), Some(r));
    }

    #[test]
    fn the_signature_names_what_decides_the_bits() {
        let r = record();
        assert_eq!(
            r.signature(),
            "AuthenticAMD 25/17 avx512_bf16 aten=AVX512 [] libtorch=2.13.0 threads=1 fp32 cpu"
        );
        let mut other = r.clone();
        other.settings.insert("MKL_CBWR".into(), "AVX2".into());
        assert_ne!(other.signature(), r.signature());
        let mut threads = r.clone();
        threads.threads = Some(2);
        assert_ne!(threads.signature(), r.signature());
        // The brand string is recorded but does not decide: virtual machines shorten it.
        let mut named = r.clone();
        named.cpu.model_name = "AMD EPYC 9R14".into();
        assert_eq!(named.signature(), r.signature());
    }

    #[test]
    fn unknown_or_mixed_records_are_incomplete() {
        assert!(record().complete());
        let mut r = record();
        r.cpu.family = None;
        assert!(!r.complete());
        let mut r = record();
        r.mixed = true;
        assert!(!r.complete());
    }

    #[test]
    fn modes_parse_and_name_their_variables() {
        assert_eq!(
            "portable".parse::<NumericsMode>(),
            Ok(NumericsMode::Portable)
        );
        assert!("fast"
            .parse::<NumericsMode>()
            .unwrap_err()
            .contains("avx2 or portable"));
        assert!(NumericsMode::Native.variables().is_empty());
        let settings = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        for mode in NumericsMode::ALL {
            assert_eq!(NumericsMode::of_settings(&settings(mode.variables())), mode);
        }
        // One variable alone is no mode: native, with the variable in the signature.
        assert_eq!(
            NumericsMode::of_settings(&settings(&[("MKL_CBWR", "AVX2")])),
            NumericsMode::Native
        );
        for mode in [NumericsMode::Avx2, NumericsMode::Portable] {
            assert_eq!(mode.variables().len(), 3);
            for (name, _) in mode.variables() {
                assert!(KERNEL_VARIABLES.contains(name), "{name}");
            }
        }
    }
}
