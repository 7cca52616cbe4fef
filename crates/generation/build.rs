//! Embeds libtorch's library directory as an rpath so that tests, benches and binaries run
//! without `LD_LIBRARY_PATH` (tch's own rpath does not reach downstream binaries).
fn main() {
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
