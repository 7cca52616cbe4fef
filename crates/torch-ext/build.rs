//! Compiles `native/ext.cpp` against the headers of the libtorch that torch-sys links, and sets
//! libtorch's rpath (crates/build-support).
use std::path::Path;

fn main() {
    build_support::link_libtorch();
    println!("cargo:rerun-if-changed=native/ext.cpp");
    println!("cargo:rerun-if-env-changed=LIBTORCH_CXX11_ABI");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB").expect("torch-sys gives DEP_TCH_LIBTORCH_LIB");
    let root = Path::new(&lib)
        .parent()
        .expect("libtorch's lib folder has a parent");
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".into());
    cc::Build::new()
        .cpp(true)
        .file("native/ext.cpp")
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT")
        .warnings(false)
        .compile("torch_ext");
}
