//! From the data crate's ndarray batches to libtorch tensors.

use ndarray::Array4;
use tch::Tensor;

/// An NCHW image batch as an fp32 tensor (copied).
pub fn images_to_tensor(images: &Array4<f32>) -> Tensor {
    let shape: Vec<i64> = images.shape().iter().map(|&d| d as i64).collect();
    let contiguous = images.as_standard_layout();
    Tensor::from_slice(
        contiguous
            .as_slice()
            .expect("standard layout is contiguous"),
    )
    .view(shape.as_slice())
}
