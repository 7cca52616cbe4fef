//! # serial-lora: the adapter core
//!
//! LoRA, Serial LoRA, LoRA+ and Serial LoRA+ for vision transformers, on libtorch via `tch`.
//!
//! * **LoRA** puts a trainable pair beside a frozen projection: `y = W x + b + s·B(A(drop(x)))`.
//! * **Serial LoRA** learns one shared pair per attention block and applies it in series before the
//!   frozen q/k/v projections: `x' = x + s·B_s(A_s(drop(x)))`, `Q = W_q x'`, `K = W_k x'`,
//!   `V = W_v x'`; W_o is untouched. That is `2·d·r` parameters per block, a quarter of LoRA on
//!   q, k, v, o. It merges losslessly: `W ← W (I + s·B_s A_s)`.
//! * **LoRA+ / Serial LoRA+** train every `B` at `lr·λ` ([`AdapterConfig::lr_ratio`]).
//!
//! `A` is Kaiming-uniform (a = √5), `B` is zero: an adapted model starts exactly at the base model.
//! `A` and the dropout masks come from per-site generators seeded by [`AdapterPlan::seed`] (see
//! [`rng`]), never from libtorch's global generator.
//!
//! ## Building a model
//! A model is built inside [`ModelStore::build`], which hands it a [`SitePath`]: a pair of var-store
//! paths, one for the frozen base weights (named as in the checkpoint) and one for the adapters
//! (named as PEFT names them). Attention modules hold a [`QkvProjection`] and an [`AdaptedLinear`]
//! output projection; the [`AdapterPlan`] decides what each site gets, so model code never branches
//! on the method. The store then merges, unmerges, counts, saves and loads every adapter.
//!
//! ## Adapter files
//! An adapter directory holds `adapter_model.safetensors` and `adapter_config.json` (see [`peft`]).
//! Tensor names, with `<m>` the module path in the base checkpoint:
//!
//! | adapter | keys | shapes |
//! |---|---|---|
//! | LoRA on a projection `<m>` | `base_model.model.<m>.lora_A.weight`, `….lora_B.weight` | `[r, d_in]`, `[d_out, r]` |
//! | LoRA on slice `q`/`k`/`v` of a fused qkv `<m>` | `base_model.model.<m>.q.lora_A.weight`, `….q.lora_B.weight` | `[r, d]`, `[d, r]` |
//! | Serial LoRA on attention module `<m>` | `base_model.model.<m>.serial_lora_A.weight`, `….serial_lora_B.weight` | `[r, d]`, `[d, r]` |
//!
//! LoRA files are PEFT's own format: `peft.PeftModel.from_pretrained` loads them on the same
//! transformers model, and PEFT's load here. Serial LoRA files use `peft_type: "SERIAL_LORA"`.

pub mod attention;
pub mod checkpoint;
pub mod device;
pub mod error;
pub mod linear;
pub mod lowrank;
pub mod optim;
pub mod precision;
pub mod precision_probe;
pub mod qkv;
pub mod rng;
pub mod site;
pub mod store;

pub use attention::SelfAttention;
pub use device::parse_device;
pub use error::{Error, Result, TensorProblem};
pub use formats::{peft, AdapterConfig, AdapterKind, AdapterPlan, ScaleRule, Target, TargetRule};
pub use linear::AdaptedLinear;
pub use optim::{AdamW, OptimConfig, Stepped};
pub use precision::{LossScaler, Precision};
pub use qkv::QkvProjection;
pub use site::SitePath;
pub use store::{
    read_adapter_plan, ModelStore, ParameterCount, SiteCount, ADAPTER_CONFIG, ADAPTER_WEIGHTS,
};
