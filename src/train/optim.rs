//! Optimizers. Every parameter tensor p has a gradient dp of the same length.
//!
//! ```text
//! SGD with momentum:  v = μ·v + dp;             p −= lr·v
//! Adam:               m = β1·m + (1 − β1)·dp;   v = β2·v + (1 − β2)·dp²
//!                     p −= lr · (m / (1 − β1^t)) / (√(v / (1 − β2^t)) + ε)
//! ```

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Optimizer {
    Sgd { lr: f32, momentum: f32 },
    Adam { lr: f32, beta1: f32, beta2: f32, eps: f32 },
}

impl Optimizer {
    pub fn adam(lr: f32) -> Optimizer {
        Optimizer::Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }

    pub fn sgd(lr: f32, momentum: f32) -> Optimizer {
        Optimizer::Sgd { lr, momentum }
    }
}

/// The optimizer's memory for one parameter tensor.
#[derive(Clone, Debug, Default)]
pub struct Slot {
    m: Vec<f32>,
    v: Vec<f32>,
}

/// Applies one step (t counts from 1) to `p` with gradient `dp`.
pub fn step(opt: Optimizer, t: u32, p: &mut [f32], dp: &[f32], slot: &mut Slot) {
    if slot.m.len() != p.len() {
        slot.m = vec![0.0; p.len()];
        slot.v = vec![0.0; p.len()];
    }
    match opt {
        Optimizer::Sgd { lr, momentum } => {
            for ((w, &g), v) in p.iter_mut().zip(dp).zip(&mut slot.m) {
                *v = momentum * *v + g;
                *w -= lr * *v;
            }
        }
        Optimizer::Adam { lr, beta1, beta2, eps } => {
            let c1 = 1.0 - beta1.powi(t as i32);
            let c2 = 1.0 - beta2.powi(t as i32);
            for (((w, &g), m), v) in p.iter_mut().zip(dp).zip(&mut slot.m).zip(&mut slot.v) {
                *m = beta1 * *m + (1.0 - beta1) * g;
                *v = beta2 * *v + (1.0 - beta2) * g * g;
                *w -= lr * (*m / c1) / ((*v / c2).sqrt() + eps);
            }
        }
    }
}
