//! Error metrics between a tensor x and its reconstruction x'.
//! Sums run in f64 so long tensors do not lose precision.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorMetrics {
    /// MSE = (1/n) Σ (x − x')²
    pub mse: f64,
    /// max |x − x'|
    pub max_abs: f64,
}

pub fn error_metrics(x: &[f32], x_hat: &[f32]) -> ErrorMetrics {
    assert_eq!(x.len(), x_hat.len(), "error_metrics: lengths differ");
    let n = x.len().max(1) as f64;
    let (mut sum_sq, mut max_abs) = (0.0f64, 0.0f64);
    for (&a, &b) in x.iter().zip(x_hat) {
        let e = (a as f64 - b as f64).abs();
        sum_sq += e * e;
        max_abs = max_abs.max(e);
    }
    ErrorMetrics { mse: sum_sq / n, max_abs }
}
