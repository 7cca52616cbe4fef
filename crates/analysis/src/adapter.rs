//! PEFT-format adapters (`adapter_config.json` + `adapter_model.safetensors`), read without libtorch.
//!
//! Keys, with `<m>` a module path of the base checkpoint (see `serial_lora`'s crate docs):
//! LoRA `base_model.model.<m>.lora_A.weight` `[r, d_in]` / `….lora_B.weight` `[d_out, r]`, or on a
//! slice of a fused qkv `<m>.q|k|v.lora_A.weight`; Serial LoRA
//! `base_model.model.<a>.serial_lora_A.weight` `[r, d]` / `….serial_lora_B.weight` `[d, r]`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use formats::peft::parse_adapter_config;
pub use formats::AdapterKind;
use ndarray::Array2;

use crate::error::{Error, Result};
use crate::tensors::TensorFile;

/// File name of the adapter weights inside a run folder.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// File name of the adapter configuration inside a run folder.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";

const PREFIX: &str = "base_model.model.";

/// The fields of `adapter_config.json` that the merge needs (read by
/// [`formats::peft::parse_adapter_config`], the parser the training side uses).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdapterConfig {
    /// `peft_type`: `LORA` or `SERIAL_LORA`.
    pub kind: AdapterKind,
    /// `r`.
    pub rank: usize,
    /// `lora_alpha / sqrt(r)` if `use_rslora`, else `lora_alpha / r` (PEFT's default α is 8).
    pub scale: f64,
}

impl AdapterConfig {
    /// Reads `adapter_config.json` at `path`; an invalid field is an [`Error::Field`] naming it.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let plan = parse_adapter_config(&text).map_err(|e| match e {
            formats::Error::Config { field, message, .. } => Error::field(path, &field, message),
            other => Error::Format(other.in_file(path)),
        })?;
        let rank = usize::try_from(plan.rank).map_err(|_| {
            Error::field(path, "r", format!("must be at least 1, got {}", plan.rank))
        })?;
        Ok(Self {
            kind: plan.method,
            rank,
            scale: plan.scale(),
        })
    }
}

/// One trained low-rank pair: `B A` with `A` `[r, d_in]` and `B` `[d_out, r]`.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The module it adapts, as named in the base checkpoint (for a fused-qkv slice, `<m>.q` etc.).
    pub module: String,
    /// The down projection.
    pub a: Array2<f64>,
    /// The up projection.
    pub b: Array2<f64>,
}

/// An adapter: its configuration and every pair, sorted by module.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// `adapter_config.json`.
    pub config: AdapterConfig,
    /// The pairs.
    pub pairs: Vec<Pair>,
    /// The weights file, named in errors.
    pub path: PathBuf,
}

impl Adapter {
    /// Reads `adapter_config.json` and `adapter_model.safetensors` from the folder `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        let config = AdapterConfig::read(&dir.join(ADAPTER_CONFIG))?;
        let file = TensorFile::open(&dir.join(ADAPTER_WEIGHTS))?;
        let (a_suffix, b_suffix) = match config.kind {
            AdapterKind::Lora => (".lora_A.weight", ".lora_B.weight"),
            AdapterKind::SerialLora => (".serial_lora_A.weight", ".serial_lora_B.weight"),
        };
        let mut modules = BTreeSet::new();
        for name in file.names()? {
            let module = name
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.strip_suffix(a_suffix).or_else(|| rest.strip_suffix(b_suffix)))
                .ok_or_else(|| {
                    Error::tensor(
                        file.path(),
                        &name,
                        format!("is not a `{PREFIX}<module>{a_suffix}` or `…{b_suffix}` key of a {:?} adapter", config.kind),
                    )
                })?;
            modules.insert(module.to_string());
        }
        if modules.is_empty() {
            return Err(Error::tensor(
                file.path(),
                "*",
                "the adapter holds no tensors",
            ));
        }
        let pairs = modules
            .into_iter()
            .map(|module| read_pair(&file, module, a_suffix, b_suffix, config.rank))
            .collect::<Result<_>>()?;
        Ok(Self {
            config,
            pairs,
            path: file.path().to_path_buf(),
        })
    }
}

fn read_pair(
    file: &TensorFile,
    module: String,
    a_suffix: &str,
    b_suffix: &str,
    rank: usize,
) -> Result<Pair> {
    let a_name = format!("{PREFIX}{module}{a_suffix}");
    let b_name = format!("{PREFIX}{module}{b_suffix}");
    let a = file.matrix(&a_name)?;
    let b = file.matrix(&b_name)?;
    if a.nrows() != rank {
        return Err(shape_error(
            file,
            &a_name,
            &a,
            format!("[r = {rank}, d_in]"),
        ));
    }
    if b.ncols() != rank {
        return Err(shape_error(
            file,
            &b_name,
            &b,
            format!("[d_out, r = {rank}]"),
        ));
    }
    Ok(Pair { module, a, b })
}

fn shape_error(file: &TensorFile, tensor: &str, m: &Array2<f64>, expected: String) -> Error {
    Error::Shape {
        path: file.path().to_path_buf(),
        tensor: tensor.to_string(),
        got: m.shape().to_vec(),
        expected,
    }
}
