//! [`Autocast`]: a scoped autocast region on one device type, like `with torch.autocast(...)`.

use tch::Device;

use crate::ffi;

/// The lower-precision dtype that autocast computes eligible operators in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutocastDtype {
    /// bfloat16 (CPU and CUDA).
    BFloat16,
    /// float16 (CUDA; pair it with a loss scaler).
    Half,
}

impl AutocastDtype {
    /// c10's `ScalarType` number of the dtype.
    fn scalar_type(self) -> i32 {
        match self {
            Self::Half => 5,
            Self::BFloat16 => 15,
        }
    }
}

/// While alive, libtorch runs the autocast-eligible operators (matmul, linear, convolution,
/// attention…) on `device`'s type in the chosen dtype and keeps precision-sensitive ones (softmax
/// sums, norms, losses) in fp32, exactly as `torch.autocast`; dropping it restores the previous
/// state.
///
/// Unlike `torch.autocast`, the region turns autocast's cast cache off: that cache keeps the
/// lower-precision copy of each trainable weight until the outermost region ends, which is right
/// for a region around one forward pass but would freeze the weights a region spanning a whole
/// training run sees at their first values. Without it every use casts afresh (cheap for
/// adapters; frozen weights stored in the lower precision need no cast at all).
#[derive(Debug)]
pub struct Autocast {
    cuda: i32,
    previous: (bool, i32),
    previous_cache: bool,
}

impl Autocast {
    /// Enters autocast with `dtype` on `device`'s type (CPU or CUDA).
    pub fn enter(device: Device, dtype: AutocastDtype) -> Result<Self, crate::Error> {
        let cuda = match device {
            Device::Cpu => 0,
            Device::Cuda(_) => 1,
            other => {
                return Err(crate::Error(format!(
                    "autocast runs on CPU or CUDA, not on {other:?}"
                )))
            }
        };
        // SAFETY: plain calls into libtorch's thread-local autocast state.
        unsafe {
            let previous = (ffi::tx_autocast_enabled(cuda), ffi::tx_autocast_dtype(cuda));
            if ffi::tx_autocast_set(cuda, true, dtype.scalar_type()) != 0 {
                return Err(ffi::last_error());
            }
            let previous_cache = ffi::tx_autocast_cache_enabled();
            ffi::tx_autocast_set_cache_enabled(false);
            ffi::tx_autocast_enter();
            Ok(Self {
                cuda,
                previous,
                previous_cache,
            })
        }
    }

    /// Whether autocast is on for `device`'s type on this thread.
    pub fn is_enabled(device: Device) -> bool {
        // SAFETY: reads libtorch's thread-local autocast state.
        unsafe { ffi::tx_autocast_enabled(i32::from(device.is_cuda())) }
    }
}

/// Runs `f` with autocast off on `device`'s type (e.g. a measurement that must not depend on the
/// run's precision), restoring the current state afterwards.
pub fn without_autocast<T>(device: Device, f: impl FnOnce() -> T) -> T {
    let cuda = i32::from(device.is_cuda());
    // SAFETY: reads and restores libtorch's thread-local autocast state around `f`.
    let (enabled, dtype) =
        unsafe { (ffi::tx_autocast_enabled(cuda), ffi::tx_autocast_dtype(cuda)) };
    if !enabled {
        return f();
    }
    unsafe { ffi::tx_autocast_set(cuda, false, dtype) };
    let out = f();
    unsafe { ffi::tx_autocast_set(cuda, true, dtype) };
    out
}

impl Drop for Autocast {
    fn drop(&mut self) {
        // SAFETY: restores the state read in `enter` (a valid dtype) on the same thread.
        unsafe {
            ffi::tx_autocast_exit();
            ffi::tx_autocast_set_cache_enabled(self.previous_cache);
            ffi::tx_autocast_set(self.cuda, self.previous.0, self.previous.1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    #[test]
    fn cpu_autocast_runs_matmul_in_bf16_and_restores_fp32() {
        let a = Tensor::randn([4, 8], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([8, 3], (Kind::Float, Device::Cpu));
        assert!(!Autocast::is_enabled(Device::Cpu));
        {
            let _region = Autocast::enter(Device::Cpu, AutocastDtype::BFloat16).unwrap();
            assert!(Autocast::is_enabled(Device::Cpu));
            assert_eq!(a.matmul(&b).kind(), Kind::BFloat16);
            // Reductions that autocast keeps in fp32 stay fp32.
            assert_eq!(a.sum(Kind::Float).kind(), Kind::Float);
        }
        assert!(!Autocast::is_enabled(Device::Cpu));
        assert_eq!(a.matmul(&b).kind(), Kind::Float);
    }

    #[test]
    fn a_trainable_weight_changed_inside_the_region_is_seen_by_the_next_op() {
        let w = Tensor::ones([2, 2], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let x = Tensor::ones([1, 2], (Kind::Float, Device::Cpu));
        let _region = Autocast::enter(Device::Cpu, AutocastDtype::BFloat16).unwrap();
        let before = x.matmul(&w).sum(Kind::Float).double_value(&[]);
        tch::no_grad(|| {
            let _ = w.shallow_clone().g_mul_scalar_(2.0);
        });
        let after = x.matmul(&w).sum(Kind::Float).double_value(&[]);
        assert_eq!((before, after), (4.0, 8.0));
    }

    #[test]
    fn without_autocast_computes_in_fp32_inside_a_region() {
        let a = Tensor::randn([2, 2], (Kind::Float, Device::Cpu));
        let _region = Autocast::enter(Device::Cpu, AutocastDtype::BFloat16).unwrap();
        assert_eq!(
            without_autocast(Device::Cpu, || a.matmul(&a)).kind(),
            Kind::Float
        );
        assert_eq!(a.matmul(&a).kind(), Kind::BFloat16);
    }

    #[test]
    fn nested_regions_restore_the_outer_state() {
        let a = Tensor::randn([2, 2], (Kind::Float, Device::Cpu));
        let outer = Autocast::enter(Device::Cpu, AutocastDtype::BFloat16).unwrap();
        {
            let _inner = Autocast::enter(Device::Cpu, AutocastDtype::BFloat16).unwrap();
        }
        assert_eq!(a.matmul(&a).kind(), Kind::BFloat16);
        drop(outer);
        assert_eq!(a.matmul(&a).kind(), Kind::Float);
    }
}
