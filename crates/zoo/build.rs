//! libtorch's rpath, and libtorch_cuda on a GPU machine (crates/build-support).
fn main() {
    build_support::link_libtorch();
}
