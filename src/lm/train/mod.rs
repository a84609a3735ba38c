//! Training the decoder natively: next-character cross-entropy, AdamW, a warm-up then
//! cosine learning rate, global gradient clipping. Deterministic from a seed: the
//! batches come from a seeded ChaCha stream, each batch is split over a fixed number of
//! threads whose gradients are added in a fixed order, and every product is single-threaded
//! sgemm, so the same command on the same CPU gives the same weights bit for bit.

pub mod backprop;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{LmConfig, LmError, LmWeights};

#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    pub seed: u64,
    pub steps: usize,
    /// Sequences per step (split evenly across `threads`).
    pub batch: usize,
    pub threads: usize,
    pub lr: f32,
    pub min_lr: f32,
    pub warmup: usize,
    pub weight_decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub grad_clip: f32,
    /// Validation loss every this many steps (0: never), on `eval_batches` fixed batches.
    pub eval_every: usize,
    pub eval_batches: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            seed: 1337,
            steps: 2000,
            batch: 16,
            threads: 2,
            lr: 2e-3,
            min_lr: 2e-4,
            warmup: 100,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.99,
            grad_clip: 1.0,
            eval_every: 250,
            eval_batches: 4,
        }
    }
}

/// One line of the training log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub step: usize,
    pub lr: f32,
    /// Mean train loss of this step, nats per token.
    pub train_loss: f64,
    /// Mean validation loss on the fixed evaluation batches, when measured at this step.
    pub val_loss: Option<f64>,
    pub grad_norm: f32,
}

/// lr at `step`: linear warm-up, then cosine decay to `min_lr`.
pub fn learning_rate(tc: &TrainConfig, step: usize) -> f32 {
    if step < tc.warmup {
        return tc.lr * (step + 1) as f32 / tc.warmup as f32;
    }
    let progress = (step - tc.warmup) as f32 / (tc.steps - tc.warmup).max(1) as f32;
    tc.min_lr + 0.5 * (1.0 + (std::f32::consts::PI * progress.min(1.0)).cos()) * (tc.lr - tc.min_lr)
}

/// Most sequences per batch (and evaluation batches).
pub const MAX_BATCH: usize = 4096;
/// Most training threads.
pub const MAX_THREADS: usize = 256;

/// `batch` random windows of T + 1 tokens.
fn sample_batch(rng: &mut ChaCha8Rng, data: &[u32], t: usize, batch: usize) -> Vec<u32> {
    let mut out = Vec::with_capacity(batch * (t + 1));
    for _ in 0..batch {
        let start = rng.random_range(0..data.len() - t - 1);
        out.extend_from_slice(&data[start..start + t + 1]);
    }
    out
}

/// Every parameter tensor of `w`, in a fixed order, and whether weight decay applies (matrices).
fn params_mut(w: &mut LmWeights) -> Vec<(&mut Vec<f32>, bool)> {
    let mut v: Vec<(&mut Vec<f32>, bool)> = vec![(&mut w.tok_embeddings, true)];
    for l in &mut w.layers {
        let crate::lm::BlockWeights { attention_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3 } = l;
        v.push((attention_norm, false));
        v.push((ffn_norm, false));
        for m in [wq, wk, wv, wo, w1, w2, w3] {
            v.push((m, true));
        }
    }
    v.push((&mut w.norm, false));
    if let Some(o) = &mut w.output {
        v.push((o, true));
    }
    v
}

fn zeros_like(w: &LmWeights) -> LmWeights {
    let mut z = w.clone();
    for (p, _) in params_mut(&mut z) {
        p.fill(0.0);
    }
    z
}

/// Loss (mean, nats per token) and the gradient of the mean over one batch, on `threads` threads.
pub fn batch_loss_and_grads(w: &LmWeights, tokens: &[u32], batch: usize, threads: usize) -> (f64, LmWeights) {
    let t = w.config.seq_len;
    let threads = threads.clamp(1, batch);
    let grad_scale = 1.0 / (batch * t) as f32;
    let per = batch.div_ceil(threads);
    let parts: Vec<(f64, LmWeights)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (lo, hi) = (i * per, ((i + 1) * per).min(batch));
                let toks = &tokens[lo * (t + 1)..hi * (t + 1)];
                scope.spawn(move || {
                    let mut g = zeros_like(w);
                    let loss = if hi > lo { backprop::loss_and_grads(w, toks, hi - lo, &mut g, grad_scale) } else { 0.0 };
                    (loss, g)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a training thread panicked")).collect()
    });
    // Added in thread order: the same sums whatever the scheduling.
    let mut it = parts.into_iter();
    let (mut loss, mut grads) = it.next().expect("at least one thread");
    for (l, mut g) in it {
        loss += l;
        for ((a, _), (b, _)) in params_mut(&mut grads).into_iter().zip(params_mut(&mut g)) {
            for (x, y) in a.iter_mut().zip(b.iter()) {
                *x += *y;
            }
        }
    }
    (loss / (batch * t) as f64, grads)
}

/// Mean loss (nats per token) of fixed batches, without updating anything.
pub fn eval_loss(w: &LmWeights, batches: &[Vec<u32>], batch: usize, threads: usize) -> f64 {
    batches.iter().map(|b| batch_loss_and_grads(w, b, batch, threads).0).sum::<f64>() / batches.len() as f64
}

/// Trains `w` in place on `train` token ids, evaluating on `val`; `log` sees every step.
pub fn train(
    w: &mut LmWeights,
    train: &[u32],
    val: &[u32],
    tc: &TrainConfig,
    mut log: impl FnMut(&LogLine),
) -> Result<(), LmError> {
    let c: LmConfig = w.config.clone();
    let t = c.seq_len;
    if tc.batch == 0 || tc.threads == 0 || tc.steps == 0 {
        return Err(LmError::Setting { name: "train", message: "steps, batch and threads must be at least 1".into() });
    }
    // Each batch is held as tokens (batch · (T + 1)), with `threads` workers: bounded before
    // anything is allocated.
    if tc.batch > MAX_BATCH || tc.eval_batches > MAX_BATCH || tc.threads > MAX_THREADS {
        return Err(LmError::Setting {
            name: "train",
            message: format!("batch {} / eval batches {} / threads {}: at most {MAX_BATCH} / {MAX_BATCH} / {MAX_THREADS}", tc.batch, tc.eval_batches, tc.threads),
        });
    }
    for (name, v) in [("lr", tc.lr), ("min_lr", tc.min_lr), ("weight_decay", tc.weight_decay), ("grad_clip", tc.grad_clip)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(LmError::Setting { name: "train", message: format!("{name} {v} must be a finite number ≥ 0") });
        }
    }
    for (name, v) in [("beta1", tc.beta1), ("beta2", tc.beta2)] {
        if !(v.is_finite() && (0.0..1.0).contains(&v)) {
            return Err(LmError::Setting { name: "train", message: format!("{name} {v} must be in [0, 1)") });
        }
    }
    if train.len() < t + 2 || val.len() < t + 2 {
        return Err(LmError::Setting { name: "train", message: format!("the texts must be longer than {} tokens", t + 1) });
    }
    if let Some(&bad) = train.iter().chain(val).find(|&&x| x as usize >= c.vocab_size) {
        return Err(LmError::Tokens(format!("token id {bad} is outside the vocabulary of {}", c.vocab_size)));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(tc.seed);
    let mut val_rng = ChaCha8Rng::seed_from_u64(tc.seed ^ 0x5_eed0_f0a1);
    let val_batches: Vec<Vec<u32>> = (0..tc.eval_batches).map(|_| sample_batch(&mut val_rng, val, t, tc.batch)).collect();
    let mut m = zeros_like(w);
    let mut v = zeros_like(w);
    for step in 0..tc.steps {
        let tokens = sample_batch(&mut rng, train, t, tc.batch);
        let (loss, mut grads) = batch_loss_and_grads(w, &tokens, tc.batch, tc.threads);
        // Global norm clipping: g ← g · min(1, clip / ‖g‖).
        let norm = params_mut(&mut grads)
            .iter()
            .map(|(g, _)| g.iter().map(|x| (*x as f64) * (*x as f64)).sum::<f64>())
            .sum::<f64>()
            .sqrt() as f32;
        let clip = if norm > tc.grad_clip { tc.grad_clip / norm } else { 1.0 };
        let lr = learning_rate(tc, step);
        // AdamW: m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², θ ← θ − lr·(m̂ / (sqrt(v̂) + ε) + wd·θ).
        let (b1, b2) = (tc.beta1, tc.beta2);
        let (c1, c2) = (1.0 - b1.powi(step as i32 + 1), 1.0 - b2.powi(step as i32 + 1));
        for ((((p, decay), (g, _)), (mm, _)), (vv, _)) in params_mut(w)
            .into_iter()
            .zip(params_mut(&mut grads))
            .zip(params_mut(&mut m))
            .zip(params_mut(&mut v))
        {
            let wd = if decay { tc.weight_decay } else { 0.0 };
            for i in 0..p.len() {
                let gi = g[i] * clip;
                mm[i] = b1 * mm[i] + (1.0 - b1) * gi;
                vv[i] = b2 * vv[i] + (1.0 - b2) * gi * gi;
                let update = (mm[i] / c1) / ((vv[i] / c2).sqrt() + 1e-8);
                p[i] -= lr * (update + wd * p[i]);
            }
        }
        let last = step + 1 == tc.steps;
        let val_loss = (tc.eval_every > 0 && ((step + 1) % tc.eval_every == 0 || last))
            .then(|| eval_loss(w, &val_batches, tc.batch, tc.threads));
        log(&LogLine { step: step + 1, lr, train_loss: loss, val_loss, grad_norm: norm });
    }
    w.validate()
}
