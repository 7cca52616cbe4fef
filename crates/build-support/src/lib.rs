//! # build-support: the one build script of every crate that links libtorch through `tch`
//!
//! * An rpath to libtorch's library folder (`DEP_TCH_LIBTORCH_LIB`, which `torch-sys` gives crates
//!   that depend on it), so tests, benches and binaries run without `LD_LIBRARY_PATH`; tch's own
//!   rpath does not reach downstream binaries.
//! * `libtorch_cuda` linked (`--no-as-needed`) where a GPU can use it: libtorch registers its CUDA
//!   backend only when that library is loaded, and rustc's `--as-needed` drops it because nothing
//!   names its symbols, so `tch::Cuda::is_available()` would say false on a GPU machine. It is
//!   linked when the installed libtorch has it and the building machine shows an NVIDIA device
//!   (`/dev/nvidiactl`), or when `SERIAL_LORA_CUDA=1`; `SERIAL_LORA_CUDA=0` never links it. On a CPU
//!   machine it is left out, since loading it costs about 1.2 s of start-up and 400 MB per process.

use std::path::Path;

/// The environment variable that forces (`1`) or forbids (`0`) linking `libtorch_cuda`.
pub const CUDA_ENV: &str = "SERIAL_LORA_CUDA";

/// The file whose presence shows an NVIDIA driver with a device.
const NVIDIA_DEVICE: &str = "/dev/nvidiactl";

/// Whether to link `libtorch_cuda` from `lib_dir`: never without the library there; as `forced`
/// says when set (`SERIAL_LORA_CUDA`: `1` yes, anything else no); else when the machine shows an
/// NVIDIA device.
pub fn wants_cuda(lib_dir: &Path, forced: Option<&str>, nvidia_device: bool) -> bool {
    if !lib_dir.join("libtorch_cuda.so").is_file() {
        return false;
    }
    match forced {
        Some(value) => value.trim() == "1",
        None => nvidia_device,
    }
}

/// The linker arguments for libtorch in `lib_dir`: the rpath, and `libtorch_cuda` when `cuda`.
pub fn link_args(lib_dir: &str, cuda: bool) -> Vec<String> {
    let mut args = vec![format!("-Wl,-rpath,{lib_dir}")];
    if cuda {
        args.push(format!("-L{lib_dir}"));
        args.push("-Wl,--no-as-needed,-ltorch_cuda,--as-needed".into());
    }
    args
}

/// Runs in a build script: prints the `cargo:` lines for libtorch (see the crate docs).
pub fn link_libtorch() {
    println!("cargo:rerun-if-env-changed={CUDA_ENV}");
    let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    let forced = std::env::var(CUDA_ENV).ok();
    let cuda = wants_cuda(
        Path::new(&dir),
        forced.as_deref(),
        Path::new(NVIDIA_DEVICE).exists(),
    );
    if cuda {
        println!(
            "cargo:warning=linking libtorch_cuda from {dir} (GPU build; {CUDA_ENV}=0 to skip)"
        );
    }
    for arg in link_args(&dir, cuda) {
        println!("cargo:rustc-link-arg={arg}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_is_linked_only_where_the_library_is_and_a_gpu_or_the_variable_asks() {
        let dir = std::env::temp_dir().join(format!("build-support-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!wants_cuda(&dir, Some("1"), true), "no library, no link");
        std::fs::write(dir.join("libtorch_cuda.so"), b"").unwrap();
        assert!(wants_cuda(&dir, None, true));
        assert!(!wants_cuda(&dir, None, false), "a CPU machine skips it");
        assert!(wants_cuda(&dir, Some("1"), false));
        assert!(!wants_cuda(&dir, Some("0"), true));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_rpath_always_and_the_cuda_library_kept_despite_as_needed() {
        assert_eq!(link_args("/lt", false), ["-Wl,-rpath,/lt"]);
        let with = link_args("/lt", true);
        assert_eq!(with.len(), 3);
        assert!(with[2].starts_with("-Wl,--no-as-needed,-ltorch_cuda"));
    }
}
