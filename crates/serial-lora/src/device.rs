//! Devices named on command lines, checked against what libtorch can reach.

use tch::{Cuda, Device};

/// Parses `cpu`, `cuda` or `cuda:N`, refusing a CUDA device that libtorch cannot use (a CPU-only
/// libtorch, no GPU, or an index past the last GPU) with a one-line reason instead of a panic later.
pub fn parse_device(s: &str) -> Result<Device, String> {
    let index = match s {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| format!("`{s}` is not cpu, cuda or cuda:N"))?,
    };
    if !Cuda::is_available() {
        return Err(format!(
            "`{s}`: libtorch sees no CUDA device (a CPU-only libtorch, or no GPU visible); use cpu"
        ));
    }
    let count = Cuda::device_count() as usize;
    if index >= count {
        return Err(format!(
            "`{s}`: libtorch sees {count} CUDA device(s), numbered from 0"
        ));
    }
    Ok(Device::Cuda(index))
}
