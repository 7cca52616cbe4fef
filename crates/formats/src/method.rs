//! The method of a run: the adapters and their LoRA+ variants, and the baselines. One enum for
//! every runner and for `analysis`; its snake-case names appear in experiment files, run folders,
//! `config.json` and `summary.csv`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::adapter::AdapterKind;

/// How a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// No training: the pre-trained model as it is (CLIP's text classifier, a class-mean head, or
    /// an unadapted segmenter).
    ZeroShot,
    /// Only a classifier head trains (backbones without a text tower).
    Probe,
    /// LoRA beside each targeted projection.
    Lora,
    /// LoRA on q, k and v only, whatever `[adapter] targets` says (CLIP-LoRA's placement): a
    /// reference row with 3/4 of LoRA's q,k,v,o parameters.
    LoraQkv,
    /// Serial LoRA: one shared pair per attention block, in series before q/k/v.
    SerialLora,
    /// LoRA with every `B` at `lr·λ`.
    LoraPlus,
    /// Serial LoRA with `B` at `lr·λ`.
    SerialLoraPlus,
    /// Every weight trains (reference).
    Full,
    /// Every weight trains from a random initialisation (making a base model, e.g. the generation
    /// task's tiny MMDiT).
    Pretrain,
}

impl Method {
    /// Every method, in table and plotting order.
    pub const ALL: [Method; 9] = [
        Method::ZeroShot,
        Method::Probe,
        Method::Lora,
        Method::LoraQkv,
        Method::SerialLora,
        Method::LoraPlus,
        Method::SerialLoraPlus,
        Method::Full,
        Method::Pretrain,
    ];

    /// The four adapter methods, in plotting order.
    pub const ADAPTERS: [Method; 4] = [
        Method::Lora,
        Method::SerialLora,
        Method::LoraPlus,
        Method::SerialLoraPlus,
    ];

    /// The name used in files (`lora`, `serial_lora`, …).
    pub fn name(self) -> &'static str {
        match self {
            Self::ZeroShot => "zero_shot",
            Self::Probe => "probe",
            Self::Lora => "lora",
            Self::LoraQkv => "lora_qkv",
            Self::SerialLora => "serial_lora",
            Self::LoraPlus => "lora_plus",
            Self::SerialLoraPlus => "serial_lora_plus",
            Self::Full => "full",
            Self::Pretrain => "pretrain",
        }
    }

    /// The label used in figures and tables, as in the paper.
    pub fn label(self) -> &'static str {
        match self {
            Self::ZeroShot => "zero-shot",
            Self::Probe => "probe",
            Self::Lora => "LoRA",
            Self::LoraQkv => "LoRA (q,k,v)",
            Self::SerialLora => "Serial LoRA",
            Self::LoraPlus => "LoRA+",
            Self::SerialLoraPlus => "Serial LoRA+",
            Self::Full => "full fine-tuning",
            Self::Pretrain => "pre-training",
        }
    }

    /// The adapter family the method attaches, `None` for the baselines.
    pub fn adapter_kind(self) -> Option<AdapterKind> {
        match self {
            Self::Lora | Self::LoraQkv | Self::LoraPlus => Some(AdapterKind::Lora),
            Self::SerialLora | Self::SerialLoraPlus => Some(AdapterKind::SerialLora),
            Self::ZeroShot | Self::Probe | Self::Full | Self::Pretrain => None,
        }
    }

    /// Whether the method trains adapters (and so has a rank).
    pub fn has_adapter(self) -> bool {
        self.adapter_kind().is_some()
    }

    /// Whether the method trains one shared pair per block.
    pub fn is_serial(self) -> bool {
        self.adapter_kind() == Some(AdapterKind::SerialLora)
    }

    /// Whether the method trains at all (everything but `zero_shot`).
    pub fn trains(self) -> bool {
        self != Self::ZeroShot
    }

    /// Whether `B` trains at `lr·λ` (LoRA+ and Serial LoRA+).
    pub fn is_plus(self) -> bool {
        matches!(self, Self::LoraPlus | Self::SerialLoraPlus)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|m| m.name()).collect();
                format!("unknown method `{s}` (one of {})", names.join(", "))
            })
    }
}
