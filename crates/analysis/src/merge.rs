//! The merge formulas, on dense matrices.

use ndarray::Array2;

/// LoRA: `W + s·B A`.
pub fn lora(w: &Array2<f64>, a: &Array2<f64>, b: &Array2<f64>, scale: f64) -> Array2<f64> {
    w + &(b.dot(a) * scale)
}

/// Serial LoRA: `W (I + s·B A) = W + s·(W B) A`.
pub fn serial(w: &Array2<f64>, a: &Array2<f64>, b: &Array2<f64>, scale: f64) -> Array2<f64> {
    w + &(w.dot(b).dot(a) * scale)
}
