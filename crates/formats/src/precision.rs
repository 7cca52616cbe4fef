//! [`Precision`]: how a run computes, `precision = "fp32" | "bf16" | "fp16"` in an experiment file
//! and `--precision` on every command line.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The arithmetic of a run's forward and backward passes. Adapters, heads, every trainable weight
/// and the optimiser state stay fp32 whatever the precision; only the computation and the frozen
/// base weights drop to the lower precision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in fp32 (the default; every parity test).
    #[default]
    Fp32,
    /// bfloat16 autocast (CPU and CUDA); frozen base weights stored in bf16.
    Bf16,
    /// float16 autocast with a dynamic loss scaler; frozen base weights stored in fp16.
    Fp16,
}

impl Precision {
    /// Every precision, as named in files.
    pub const ALL: [Precision; 3] = [Precision::Fp32, Precision::Bf16, Precision::Fp16];

    /// Whether this is the default fp32 (a run's `config.json` omits it then).
    pub fn is_fp32(&self) -> bool {
        *self == Precision::Fp32
    }

    /// The name used in files and on command lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::Fp16 => "fp16",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Precision::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown precision `{s}` (fp32, bf16 or fp16)"))
    }
}

/// A precision as asked for on a command line: one [`Precision`], or `auto`, which a start-up probe
/// turns into bf16 where the device's bf16 matrix product is measurably faster than fp32, fp32
/// elsewhere (`serial_lora::precision::probe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrecisionChoice {
    /// This precision.
    Fixed(Precision),
    /// Whichever the probe picks.
    Auto,
}

impl FromStr for PrecisionChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" {
            return Ok(Self::Auto);
        }
        s.parse()
            .map(Self::Fixed)
            .map_err(|_| format!("unknown precision `{s}` (fp32, bf16, fp16 or auto)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_is_a_precision_or_auto() {
        assert_eq!("auto".parse::<PrecisionChoice>(), Ok(PrecisionChoice::Auto));
        assert_eq!(
            "bf16".parse::<PrecisionChoice>(),
            Ok(PrecisionChoice::Fixed(Precision::Bf16))
        );
        let err = "half".parse::<PrecisionChoice>().unwrap_err();
        assert!(err.contains("`half`") && err.contains("auto"), "{err}");
    }

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for p in Precision::ALL {
            assert_eq!(p.as_str().parse::<Precision>().unwrap(), p);
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{p}\""));
            assert_eq!(serde_json::from_str::<Precision>(&json).unwrap(), p);
        }
        let err = "half".parse::<Precision>().unwrap_err();
        assert!(err.contains("`half`") && err.contains("bf16"), "{err}");
        assert!(Precision::default().is_fp32());
    }
}
