//! The four fine-tuning methods a run can use, as named in run configs and summaries.

use std::path::Path;

use crate::error::{Error, Result};

/// A fine-tuning method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    /// LoRA beside each adapted projection.
    Lora,
    /// One shared pair per attention block, in series before q/k/v.
    SerialLora,
    /// LoRA trained with LoRA+ learning rates.
    LoraPlus,
    /// Serial LoRA trained with LoRA+ learning rates.
    SerialLoraPlus,
}

impl Method {
    /// Every method, in plotting order.
    pub const ALL: [Method; 4] = [
        Method::Lora,
        Method::SerialLora,
        Method::LoraPlus,
        Method::SerialLoraPlus,
    ];

    /// Parses the name used in `config.json` and `summary.csv`; `file` is named in the error.
    pub fn parse(name: &str, file: &Path) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.name() == name)
            .ok_or_else(|| Error::UnknownMethod {
                path: file.to_path_buf(),
                method: name.to_string(),
            })
    }

    /// The name used in files (`lora`, `serial_lora`, `lora_plus`, `serial_lora_plus`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Lora => "lora",
            Method::SerialLora => "serial_lora",
            Method::LoraPlus => "lora_plus",
            Method::SerialLoraPlus => "serial_lora_plus",
        }
    }

    /// The label used in figures, as in the paper.
    pub fn label(self) -> &'static str {
        match self {
            Method::Lora => "LoRA",
            Method::SerialLora => "Serial LoRA",
            Method::LoraPlus => "LoRA+",
            Method::SerialLoraPlus => "Serial LoRA+",
        }
    }

    /// Whether the method trains one shared pair per block (the adapter file is `SERIAL_LORA`).
    pub fn is_serial(self) -> bool {
        matches!(self, Method::SerialLora | Method::SerialLoraPlus)
    }
}
