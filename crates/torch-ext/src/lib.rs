//! # torch-ext: what tch 0.26 leaves out of libtorch
//!
//! * [`Autocast`]: libtorch's autocast (automatic mixed precision) on CPU **or** CUDA with a chosen
//!   lower-precision dtype, as `torch.autocast(device_type, dtype)` does; tch's own `autocast` only
//!   reaches CUDA with fp16.
//! * [`profile`]: the Kineto operator profiler (`torch.profiler` with CPU activities), returning
//!   every operator's name, thread and interval, from which [`OpProfile`] sums self times.
//!
//! * [`numerics`]: the kernel pinning of `--numerics` ([`numerics::pin`], before libtorch starts)
//!   and the record of what a run computed under ([`numerics::record`]: ATen's CPU capability,
//!   MKL's and oneDNN's versions, the processor).
//!
//! All are thin C entry points (`native/ext.cpp`) compiled against the headers of the libtorch
//! that torch-sys links.

mod autocast;
mod ffi;
pub mod numerics;
mod profiler;

pub use autocast::{without_autocast, Autocast, AutocastDtype};
pub use profiler::{profile, OpEvent, OpProfile, OpStat};

/// An error reported by libtorch through an entry point of this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "libtorch: {}", self.0)
    }
}

impl std::error::Error for Error {}
