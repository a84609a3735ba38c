//! A trainable network: the layers of a [`Model`] with gradients, forward
//! passes that keep what backward needs, and the backward pass itself.
//!
//! Matrix products are written as row updates (`c[i, :] += a · w[k, :]`), which
//! compilers vectorize without reordering any sum, so a run is repeatable
//! bit for bit on the same platform.
//!
//! Quantization-aware training (QAT) fake-quantizes every weight (per output
//! channel, symmetric) and the input of every Linear / Conv2d and the logits
//! (asymmetric, range from an exponential moving average of batch min/max).
//! Backward uses the straight-through estimator: the gradient passes through
//! a weight's fake-quant unchanged, and through an activation's fake-quant
//! where α ≤ x ≤ β (zero where the value was clipped).

use crate::model::forward::layer_forward;
use crate::model::{LayerKind, Model, ModelError, Shape};
use crate::quant::kernels;
use crate::quant::{Method, QParams, Rounding, Scheme};

use super::optim::{step, Optimizer, Slot};

/// Settings of quantization-aware training.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QatConfig {
    pub weight_bits: u8,
    pub act_bits: u8,
    /// The lab's grid for weights and activations alike: normal, or clip (half the step, the
    /// outer half of each range saturating), as the PTQ it is compared with and deployed as.
    pub method: Method,
    /// The weights' grid as the PTQ deploys them: symmetric or not, the narrow range or not, one
    /// range per output channel or one per tensor. Trained on another grid than the deployed
    /// one, a W4 clip model reached 41 % as trained and 13 % deployed (the narrow range alone).
    pub weight_symmetric: bool,
    pub narrow_range: bool,
    pub per_channel: bool,
    /// EMA factor for activation ranges: r = r + c·(batch − r).
    pub range_momentum: f32,
}

impl QatConfig {
    /// The fake-quantization of the model `ptq` deploys (its bits, method and weight grid).
    pub fn for_ptq(ptq: &crate::ptq::PtqConfig) -> QatConfig {
        QatConfig {
            weight_bits: ptq.weight_bits,
            act_bits: ptq.act_bits,
            method: ptq.method,
            weight_symmetric: ptq.weight_symmetric,
            narrow_range: ptq.narrow_range,
            per_channel: ptq.granularity != crate::ptq::config::WeightGranularity::PerTensor,
            range_momentum: 0.1,
        }
    }

    /// Symmetric per-channel weights (narrow range above 1 bit) and `method` for both.
    pub fn symmetric(weight_bits: u8, act_bits: u8, method: Method) -> QatConfig {
        QatConfig { weight_bits, act_bits, method, weight_symmetric: true, narrow_range: weight_bits > 1, per_channel: true, range_momentum: 0.1 }
    }

    pub fn weight_scheme(&self) -> Scheme {
        Scheme { symmetric: self.weight_symmetric, narrow_range: self.narrow_range && self.weight_bits > 1, ..Scheme::lab(self.method, self.weight_bits) }
    }

    /// The rows the weights of a layer with `out` output channels are quantized in: one per
    /// channel, or the whole tensor as one.
    pub fn weight_rows(&self, out: usize) -> usize {
        if self.per_channel { out } else { 1 }
    }

    pub fn act_scheme(&self) -> Scheme {
        Scheme::lab(self.method, self.act_bits)
    }
}

/// Fake-quantizes w: [out, per_out], one range per row: [−max|w|, max|w|] on a symmetric grid,
/// [min w, max w] on an asymmetric one (the PTQ's MinMax weight ranges).
pub fn fake_quant_weights(w: &[f32], out: usize, scheme: &Scheme) -> Vec<f32> {
    let per = w.len() / out.max(1);
    let mut res = vec![0f32; w.len()];
    for o in 0..out {
        let row = &w[o * per..(o + 1) * per];
        let (lo, hi) = row.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        let amax = lo.abs().max(hi.abs());
        let range = if scheme.symmetric { (-amax, amax) } else { (lo, hi) };
        match QParams::from_range(range.0, range.1, scheme) {
            Ok((p, _)) => kernels::fake_quant(row, &p, Rounding::HalfEven, 0, &mut res[o * per..(o + 1) * per]),
            Err(_) => res[o * per..(o + 1) * per].copy_from_slice(row),
        }
    }
    res
}

/// Fake-quantizes activations with range [α, β] (asymmetric).
pub fn fake_quant_acts(x: &[f32], range: (f32, f32), scheme: &Scheme) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    match QParams::from_range(range.0, range.1, scheme) {
        Ok((p, _)) => kernels::fake_quant(x, &p, Rounding::HalfEven, 0, &mut out),
        Err(_) => out.copy_from_slice(x),
    }
    out
}

pub struct Net {
    pub model: Model,
    /// Gradients of (w, b) for Linear / Conv2d layers.
    grads: Vec<Option<(Vec<f32>, Vec<f32>)>>,
    slots: Vec<Option<(Slot, Slot)>>,
    steps: u32,
    pub qat: Option<QatConfig>,
    /// Activation ranges at the input of each layer (used only by QAT), and at the output (last).
    pub act_ranges: Vec<Option<(f32, f32)>>,
    /// How many layers to run: a trailing Softmax is left out (the loss works on logits).
    depth: usize,
}

/// What one training forward pass keeps for backward.
struct Tape {
    /// inputs[i]: the input of layer i (after fake-quant when QAT), [B, shape_i].
    inputs: Vec<Vec<f32>>,
    /// The weights actually used (fake-quantized in QAT), per parametric layer.
    weights: Vec<Option<Vec<f32>>>,
    /// For QAT: where each fake-quantized activation was inside its range (the STE lets those gradients through).
    inside: Vec<Option<Vec<bool>>>,
    logits: Vec<f32>,
}

impl Net {
    pub fn new(model: Model) -> Result<Net, ModelError> {
        let mut depth = model.layers.len();
        if matches!(model.layers.last().map(|l| &l.kind), Some(LayerKind::Softmax)) {
            depth -= 1;
        }
        if let Some(l) = model.layers[..depth].iter().find(|l| matches!(l.kind, LayerKind::Softmax)) {
            return Err(ModelError::ShapeMismatch {
                layer: l.name.clone(),
                expected: "Softmax only as the last layer".into(),
                found: "Softmax inside the network".into(),
            });
        }
        let n = model.layers.len();
        let grads = model
            .layers
            .iter()
            .map(|l| match &l.kind {
                LayerKind::Linear(li) => Some((vec![0.0; li.w.len()], vec![0.0; li.b.len()])),
                LayerKind::Conv2d(c) => Some((vec![0.0; c.w.len()], vec![0.0; c.b.len()])),
                _ => None,
            })
            .collect::<Vec<_>>();
        let slots = grads.iter().map(|g| g.as_ref().map(|_| (Slot::default(), Slot::default()))).collect();
        Ok(Net { model, grads, slots, steps: 0, qat: None, act_ranges: vec![None; n + 1], depth })
    }

    fn is_quant_point(&self, i: usize) -> bool {
        i == self.depth || matches!(self.model.layers[i].kind, LayerKind::Linear(_) | LayerKind::Conv2d(_))
    }

    /// Logits [B, classes] for x [B, input], with fake-quant when QAT is on
    /// (ranges frozen unless `update_ranges`).
    pub fn logits(&mut self, x: &[f32], update_ranges: bool) -> Vec<f32> {
        self.forward_tape(x, update_ranges).logits
    }

    fn quant_act(&mut self, i: usize, x: Vec<f32>, update: bool) -> (Vec<f32>, Option<Vec<bool>>) {
        let Some(q) = self.qat else { return (x, None) };
        if !self.is_quant_point(i) {
            return (x, None);
        }
        let (lo, hi) = x.iter().fold((0f32, 0f32), |(a, b), &v| (a.min(v), b.max(v)));
        let r = match (self.act_ranges[i], update) {
            (Some((a, b)), true) => (a + q.range_momentum * (lo - a), b + q.range_momentum * (hi - b)),
            (Some(r), false) => r,
            (None, _) => (lo, hi),
        };
        if update || self.act_ranges[i].is_none() {
            self.act_ranges[i] = Some(r);
        }
        let inside = x.iter().map(|&v| v >= r.0 && v <= r.1).collect();
        (fake_quant_acts(&x, r, &q.act_scheme()), Some(inside))
    }

    fn forward_tape(&mut self, x: &[f32], update_ranges: bool) -> Tape {
        let batch = x.len() / self.model.input.len();
        let mut tape = Tape { inputs: Vec::new(), weights: Vec::new(), inside: Vec::new(), logits: Vec::new() };
        let mut cur = x.to_vec();
        for i in 0..self.depth {
            let (q, inside) = self.quant_act(i, cur, update_ranges);
            cur = q;
            let (inp, out) = (self.model.shapes[i], self.model.shapes[i + 1]);
            let mut y = Vec::new();
            let w_used = match &self.model.layers[i].kind {
                LayerKind::Linear(l) => {
                    let w = self.qat.map_or_else(|| l.w.clone(), |q| fake_quant_weights(&l.w, q.weight_rows(l.out_features), &q.weight_scheme()));
                    linear_forward(&cur, batch, &w, &l.b, l.in_features, l.out_features, &mut y);
                    Some(w)
                }
                LayerKind::Conv2d(c) => {
                    let w = self.qat.map_or_else(|| c.w.clone(), |q| fake_quant_weights(&c.w, q.weight_rows(c.out_channels), &q.weight_scheme()));
                    let (cols, p) = im2col(&cur, batch, inp, out, c.kernel, c.stride, c.padding);
                    let mut prod = Vec::new();
                    linear_forward(&cols, batch * p, &w, &vec![0.0; c.out_channels], c.in_channels * c.kernel * c.kernel, c.out_channels, &mut prod);
                    y = vec![0f32; batch * out.len()];
                    for b in 0..batch {
                        for pi in 0..p {
                            for o in 0..c.out_channels {
                                y[(b * c.out_channels + o) * p + pi] = prod[(b * p + pi) * c.out_channels + o] + c.b[o];
                            }
                        }
                    }
                    Some(w)
                }
                _ => {
                    layer_forward(&self.model.layers[i], None, inp, out, batch, &cur, &mut y);
                    None
                }
            };
            tape.inputs.push(std::mem::replace(&mut cur, y));
            tape.weights.push(w_used);
            tape.inside.push(inside);
        }
        let (logits, inside) = self.quant_act(self.depth, cur, update_ranges);
        tape.inside.push(inside);
        tape.logits = logits;
        tape
    }

    /// One optimization step on a batch; returns the mean cross-entropy loss.
    pub fn train_step(&mut self, x: &[f32], labels: &[u8], opt: Optimizer) -> f32 {
        let batch = labels.len();
        let tape = self.forward_tape(x, true);
        let classes = tape.logits.len() / batch.max(1);
        // loss = −(1/B) Σ_b log softmax(logits_b)[label_b];  dlogits = (softmax − onehot) / B
        let mut dy = vec![0f32; tape.logits.len()];
        let mut loss = 0f64;
        for b in 0..batch {
            let row = &tape.logits[b * classes..(b + 1) * classes];
            let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = row.iter().map(|&v| (v - m).exp()).sum();
            let label = labels[b] as usize;
            loss += ((sum.ln() + m) - row[label]) as f64;
            for c in 0..classes {
                let p = (row[c] - m).exp() / sum;
                dy[b * classes + c] = (p - (c == label) as u8 as f32) / batch as f32;
            }
        }
        ste_mask(&mut dy, tape.inside[self.depth].as_deref());
        for g in self.grads.iter_mut().flatten() {
            g.0.iter_mut().for_each(|v| *v = 0.0);
            g.1.iter_mut().for_each(|v| *v = 0.0);
        }
        for i in (0..self.depth).rev() {
            let dx = self.backward_layer(i, batch, &tape, &dy);
            dy = dx;
            ste_mask(&mut dy, tape.inside[i].as_deref());
        }
        self.steps += 1;
        let t = self.steps;
        for ((layer, g), slot) in self.model.layers.iter_mut().zip(&self.grads).zip(&mut self.slots) {
            let (Some((dw, db)), Some((sw, sb))) = (g, slot) else { continue };
            let (w, b) = match &mut layer.kind {
                LayerKind::Linear(l) => (&mut l.w, &mut l.b),
                LayerKind::Conv2d(c) => (&mut c.w, &mut c.b),
                _ => continue,
            };
            step(opt, t, w, dw, sw);
            step(opt, t, b, db, sb);
        }
        (loss / batch.max(1) as f64) as f32
    }

    /// dx for layer i from dy, accumulating the layer's dw and db.
    fn backward_layer(&mut self, i: usize, batch: usize, tape: &Tape, dy: &[f32]) -> Vec<f32> {
        let (inp, out) = (self.model.shapes[i], self.model.shapes[i + 1]);
        let x = &tape.inputs[i];
        let mut dx = vec![0f32; x.len()];
        match &self.model.layers[i].kind {
            LayerKind::Linear(l) => {
                let w = tape.weights[i].as_ref().expect("Linear keeps its weights");
                let (dw, db) = self.grads[i].as_mut().expect("Linear has gradients");
                linear_backward(x, dy, w, batch, l.in_features, l.out_features, &mut dx, dw, db);
            }
            LayerKind::Conv2d(c) => {
                let w = tape.weights[i].as_ref().expect("Conv2d keeps its weights");
                let (cols, p) = im2col(x, batch, inp, out, c.kernel, c.stride, c.padding);
                let oc = c.out_channels;
                // dprod [B·P, OC] from dy [B, OC, P].
                let mut dprod = vec![0f32; batch * p * oc];
                for b in 0..batch {
                    for o in 0..oc {
                        for pi in 0..p {
                            dprod[(b * p + pi) * oc + o] = dy[(b * oc + o) * p + pi];
                        }
                    }
                }
                let patch = c.in_channels * c.kernel * c.kernel;
                let mut dcols = vec![0f32; cols.len()];
                let (dw, db) = self.grads[i].as_mut().expect("Conv2d has gradients");
                linear_backward(&cols, &dprod, w, batch * p, patch, oc, &mut dcols, dw, db);
                col2im(&dcols, batch, inp, out, c.kernel, c.stride, c.padding, &mut dx);
            }
            LayerKind::Relu => {
                for ((d, &g), &v) in dx.iter_mut().zip(dy).zip(x) {
                    *d = if v > 0.0 { g } else { 0.0 };
                }
            }
            LayerKind::Flatten => dx.copy_from_slice(dy),
            LayerKind::MaxPool2d(pl) | LayerKind::AvgPool2d(pl) => {
                let (Shape::Chw(ch, h, w), Shape::Chw(_, oh, ow)) = (inp, out) else { unreachable!("checked by Model::new") };
                let is_max = matches!(self.model.layers[i].kind, LayerKind::MaxPool2d(_));
                let area = (pl.kernel * pl.kernel) as f32;
                for bc in 0..batch * ch {
                    let plane = &x[bc * h * w..(bc + 1) * h * w];
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let g = dy[(bc * oh + oy) * ow + ox];
                            let (y0, x0) = (oy * pl.stride, ox * pl.stride);
                            if is_max {
                                // The gradient goes to the first maximum of the window.
                                let mut best = (y0, x0);
                                for ky in 0..pl.kernel {
                                    for kx in 0..pl.kernel {
                                        if plane[(y0 + ky) * w + x0 + kx] > plane[best.0 * w + best.1] {
                                            best = (y0 + ky, x0 + kx);
                                        }
                                    }
                                }
                                dx[bc * h * w + best.0 * w + best.1] += g;
                            } else {
                                for ky in 0..pl.kernel {
                                    for kx in 0..pl.kernel {
                                        dx[bc * h * w + (y0 + ky) * w + x0 + kx] += g / area;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            LayerKind::Softmax | LayerKind::BatchNorm(_) => unreachable!("not inside a trainable network"),
        }
        dx
    }
}

/// Straight-through estimator for an activation fake-quant: zero the gradient where x was clipped.
fn ste_mask(dy: &mut [f32], inside: Option<&[bool]>) {
    if let Some(inside) = inside {
        for (d, &keep) in dy.iter_mut().zip(inside) {
            if !keep {
                *d = 0.0;
            }
        }
    }
}

/// y [B, F_out] = x [B, F_in] · wᵀ + b, as row updates over a transposed w.
fn linear_forward(x: &[f32], batch: usize, w: &[f32], b: &[f32], fin: usize, fout: usize, y: &mut Vec<f32>) {
    let mut wt = vec![0f32; fin * fout]; // wt [F_in, F_out]
    for o in 0..fout {
        for k in 0..fin {
            wt[k * fout + o] = w[o * fin + k];
        }
    }
    y.clear();
    y.resize(batch * fout, 0.0);
    for r in 0..batch {
        let yr = &mut y[r * fout..(r + 1) * fout];
        yr.copy_from_slice(b);
        for k in 0..fin {
            let a = x[r * fin + k];
            if a != 0.0 {
                for (yo, &wv) in yr.iter_mut().zip(&wt[k * fout..(k + 1) * fout]) {
                    *yo += a * wv;
                }
            }
        }
    }
}

/// dx [B, F_in] = dy · w;  dw [F_out, F_in] += dyᵀ · x;  db += Σ_b dy.
#[allow(clippy::too_many_arguments)]
fn linear_backward(x: &[f32], dy: &[f32], w: &[f32], batch: usize, fin: usize, fout: usize, dx: &mut [f32], dw: &mut [f32], db: &mut [f32]) {
    for r in 0..batch {
        let xr = &x[r * fin..(r + 1) * fin];
        let dxr = &mut dx[r * fin..(r + 1) * fin];
        for o in 0..fout {
            let g = dy[r * fout + o];
            if g == 0.0 {
                continue;
            }
            db[o] += g;
            for (d, &v) in dw[o * fin..(o + 1) * fin].iter_mut().zip(xr) {
                *d += g * v;
            }
            for (d, &v) in dxr.iter_mut().zip(&w[o * fin..(o + 1) * fin]) {
                *d += g * v;
            }
        }
    }
}

/// cols [B·P, C·K·K] from x [B, C, H, W]; P = OH·OW.
fn im2col(x: &[f32], batch: usize, inp: Shape, out: Shape, k: usize, stride: usize, pad: usize) -> (Vec<f32>, usize) {
    let (Shape::Chw(ic, h, w), Shape::Chw(_, oh, ow)) = (inp, out) else { unreachable!("checked by Model::new") };
    let (p, patch) = (oh * ow, ic * k * k);
    let mut cols = vec![0f32; batch * p * patch];
    for_each_tap(batch, ic, h, w, oh, ow, k, stride, pad, |row, j, src| cols[row * patch + j] = x[src]);
    (cols, p)
}

/// dx [B, C, H, W] += the columns' gradients, the reverse of [`im2col`].
#[allow(clippy::too_many_arguments)]
fn col2im(dcols: &[f32], batch: usize, inp: Shape, out: Shape, k: usize, stride: usize, pad: usize, dx: &mut [f32]) {
    let (Shape::Chw(ic, h, w), Shape::Chw(_, oh, ow)) = (inp, out) else { unreachable!("checked by Model::new") };
    let patch = ic * k * k;
    for_each_tap(batch, ic, h, w, oh, ow, k, stride, pad, |row, j, src| dx[src] += dcols[row * patch + j]);
}

/// Calls f(row of cols, column in the patch, flat index in x) for every tap inside the image.
#[allow(clippy::too_many_arguments)]
fn for_each_tap(batch: usize, ic: usize, h: usize, w: usize, oh: usize, ow: usize, k: usize, stride: usize, pad: usize, mut f: impl FnMut(usize, usize, usize)) {
    for b in 0..batch {
        for oy in 0..oh {
            for ox in 0..ow {
                let row = (b * oh + oy) * ow + ox;
                for ch in 0..ic {
                    for ky in 0..k {
                        let iy = (oy * stride + ky) as isize - pad as isize;
                        if iy < 0 || iy as usize >= h {
                            continue;
                        }
                        for kx in 0..k {
                            let ix = (ox * stride + kx) as isize - pad as isize;
                            if ix >= 0 && (ix as usize) < w {
                                f(row, (ch * k + ky) * k + kx, ((b * ic + ch) * h + iy as usize) * w + ix as usize);
                            }
                        }
                    }
                }
            }
        }
    }
}
