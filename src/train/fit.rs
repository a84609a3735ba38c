//! The training loop: epochs of shuffled mini-batches, progress every N
//! batches, cancellation between batches, and accuracy.
//!
//! Deterministic: the batch order of epoch e is a ChaCha8 permutation seeded
//! with (seed, e), and every sum runs in a fixed order, so the same seed,
//! data and settings give the same weights bit for bit on one platform.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::net::Net;
use super::optim::Optimizer;
use crate::data::Dataset;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    pub epochs: usize,
    pub batch: usize,
    pub optimizer: Optimizer,
    pub seed: u64,
    /// Report progress after every this many batches.
    pub report_every: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub epoch: usize,
    pub epochs: usize,
    pub batch: usize,
    pub batches: usize,
    /// Mean loss over the batches since the last report.
    pub loss: f32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FitOutcome {
    Finished,
    Cancelled,
}

/// Trains `net` on `data`. `on_progress` is called every `report_every`
/// batches and at the end of each epoch; returning false cancels.
pub fn fit(net: &mut Net, data: &Dataset, cfg: &FitConfig, on_progress: &mut dyn FnMut(&Progress) -> bool) -> FitOutcome {
    let batch = cfg.batch.max(1);
    let batches = data.len().div_ceil(batch);
    let mut order: Vec<usize> = (0..data.len()).collect();
    let p = data.image_len();
    for epoch in 0..cfg.epochs {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        order.sort_unstable();
        order.shuffle(&mut rng);
        let (mut loss_sum, mut loss_n) = (0f64, 0usize);
        for bi in 0..batches {
            let idx = &order[bi * batch..((bi + 1) * batch).min(order.len())];
            let mut x = Vec::with_capacity(idx.len() * p);
            let mut y = Vec::with_capacity(idx.len());
            for &i in idx {
                x.extend(data.pixels[i * p..(i + 1) * p].iter().map(|&v| v as f32 * (1.0 / 255.0)));
                y.push(data.labels[i]);
            }
            loss_sum += net.train_step(&x, &y, cfg.optimizer) as f64;
            loss_n += 1;
            let last = bi + 1 == batches;
            if (cfg.report_every > 0 && (bi + 1) % cfg.report_every == 0) || last {
                let pr = Progress { epoch, epochs: cfg.epochs, batch: bi + 1, batches, loss: (loss_sum / loss_n as f64) as f32 };
                (loss_sum, loss_n) = (0.0, 0);
                if !on_progress(&pr) {
                    return FitOutcome::Cancelled;
                }
            }
        }
    }
    FitOutcome::Finished
}

/// Predicted classes for the whole dataset (argmax of the logits; ties go to the lower class).
pub fn predict(net: &mut Net, data: &Dataset, batch: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let batch = batch.max(1);
    for start in (0..data.len()).step_by(batch) {
        let n = batch.min(data.len() - start);
        let logits = net.logits(&data.images_f32(start, n), false);
        out.extend(crate::model::argmax_rows(&logits, logits.len() / n));
    }
    out
}

/// Fraction of correct predictions.
pub fn accuracy(net: &mut Net, data: &Dataset) -> f64 {
    let pred = predict(net, data, 256);
    pred.iter().zip(&data.labels).filter(|(p, l)| p == l).count() as f64 / data.len().max(1) as f64
}
