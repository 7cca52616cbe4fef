//! # formats: the files serial-lora-rs reads and writes, without libtorch
//!
//! Shared by the adapter core, the runners and `analysis`, so each format lives once:
//!
//! * [`adapter`]: [`AdapterConfig`] (`[adapter]` of a run), [`AdapterPlan`] and the scale rule;
//!   [`peft`]: PEFT's `adapter_config.json`, read and written.
//! * [`Method`]: the one method enum (adapters, their LoRA+ variants, the baselines).
//! * [`Numerics`]: the processor, kernels and settings a run computed under (`numerics.json`), and
//!   [`NumericsMode`], the `--numerics` kernel pinning.
//! * [`Precision`]: fp32, bf16 or fp16 (a run's `precision`); [`PrecisionChoice`] adds `auto`.
//! * [`sections`]: the experiment files' `[adapter]` / `[optim]` sections and their mapping to a
//!   run's [`AdapterConfig`] and [`OptimConfig`].
//! * [`run`]: run folders and the header of their `config.json`; [`summary`]: `summary.csv`
//!   collected from run folders.
//! * [`selection`]: the `[select]` section, `lr_selection.csv` and the chosen learning rates;
//!   [`schedule`]: selection runs' validation curves and the schedule length chosen from them.
//! * [`check`]: range checks that report every bad field at once.
//! * [`paths`]: the repository root and portable (root-relative) paths; [`atomic`]: writes.

pub mod adapter;
pub mod atomic;
pub mod check;
pub mod error;
pub mod method;
pub mod numerics;
pub mod optim;
pub mod paths;
pub mod peft;
pub mod precision;
pub mod run;
pub mod schedule;
pub mod sections;
pub mod selection;
pub mod summary;

pub use adapter::{AdapterConfig, AdapterKind, AdapterPlan, ScaleRule, Target, TargetRule};
pub use error::{Error, Result};
pub use method::Method;
pub use numerics::{Numerics, NumericsMode};
pub use optim::OptimConfig;
pub use precision::{Precision, PrecisionChoice};
pub use run::RunHeader;
pub use sections::{AdapterSection, OptimSection};
pub use selection::{Hyper, SelectSection, Selected};
pub use summary::{collect, SummaryRow};
