//! FP32 inference: Linear and Conv2d (im2col) on the f32 GEMM, the rest element-wise.

use super::{Layer, LayerKind, Model, ModelError, Shape};
use crate::runtime::gemm_f32::{self, PackedWf32};

/// A model with its weights packed for the GEMM kernel, ready to run.
pub struct Fp32Runner {
    pub model: Model,
    packed: Vec<Option<PackedWf32>>,
}

impl Fp32Runner {
    pub fn new(model: Model) -> Fp32Runner {
        let packed = model
            .layers
            .iter()
            .map(|l| match &l.kind {
                LayerKind::Linear(li) => Some(PackedWf32::pack(&li.w, li.out_features, li.in_features)),
                LayerKind::Conv2d(c) => Some(PackedWf32::pack(&c.w, c.out_channels, c.in_channels * c.kernel * c.kernel)),
                _ => None,
            })
            .collect();
        Fp32Runner { model, packed }
    }

    /// Runs a batch: x is [B, input] → [B, output]; see [`Fp32Runner::run`] for every layer's
    /// output. Only the last layer's output is copied out (the layers write into two buffers
    /// used in turn).
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>, ModelError> {
        let last = self.model.layers.len().saturating_sub(1);
        let mut out = Vec::new();
        self.run(x, &mut |i, y| {
            if i == last {
                out = y.to_vec();
            }
        })?;
        Ok(out)
    }

    /// Runs a batch and calls `each(i, y)` with the output of every layer i.
    pub fn run(&self, x: &[f32], each: &mut dyn FnMut(usize, &[f32])) -> Result<(), ModelError> {
        self.run_hooked(x, &mut |_, _, _| {}, each)
    }

    /// Layer i alone on a batch x: [B, shapes[i]] → y: [B, shapes[i + 1]].
    pub fn forward_layer(&self, i: usize, batch: usize, x: &[f32], y: &mut Vec<f32>) {
        layer_forward(&self.model.layers[i], self.packed[i].as_ref(), self.model.shapes[i], self.model.shapes[i + 1], batch, x, y);
    }

    /// Runs a batch; `before(i, batch, x)` may rewrite the input of layer i in place
    /// (fake-quantization does), then `after(i, y)` sees the layer's output. A layer whose
    /// output is not finite while its input was (the activations overflowed f32) stops the run
    /// with [`ModelError::ActivationOverflow`]; one pass over each output, against the layer's
    /// fan-in multiply-adds per value.
    pub fn run_hooked(
        &self,
        x: &[f32],
        before: &mut dyn FnMut(usize, usize, &mut [f32]),
        after: &mut dyn FnMut(usize, &[f32]),
    ) -> Result<(), ModelError> {
        let sample = self.model.input.len();
        if !x.len().is_multiple_of(sample) {
            return Err(ModelError::BatchLength { expected_multiple_of: sample, found: x.len() });
        }
        let batch = x.len() / sample;
        let mut cur = x.to_vec();
        let mut next = Vec::new();
        // Checked only when the input is finite (a caller may pass non-finite inputs on purpose).
        let finite = x.iter().all(|v| v.is_finite());
        for (i, layer) in self.model.layers.iter().enumerate() {
            before(i, batch, &mut cur);
            let shape = self.model.shapes[i];
            layer_forward(layer, self.packed[i].as_ref(), shape, self.model.shapes[i + 1], batch, &cur, &mut next);
            std::mem::swap(&mut cur, &mut next);
            if finite {
                if let Some(k) = cur.iter().position(|v| !v.is_finite()) {
                    let per_sample = self.model.shapes[i + 1].len().max(1);
                    return Err(ModelError::ActivationOverflow { layer: layer.name.clone(), sample: k / per_sample, index: k % per_sample, value: cur[k] });
                }
            }
            after(i, &cur);
        }
        Ok(())
    }
}

/// One layer, x: [B, in_shape] → y: [B, out_shape].
pub(crate) fn layer_forward(layer: &Layer, packed: Option<&PackedWf32>, inp: Shape, out: Shape, batch: usize, x: &[f32], y: &mut Vec<f32>) {
    y.clear();
    y.resize(batch * out.len(), 0.0);
    match (&layer.kind, inp, out) {
        (LayerKind::Linear(l), _, _) => {
            (gemm_f32::best().run)(x, batch, packed.expect("Linear is packed"), y);
            for row in y.chunks_exact_mut(l.out_features) {
                for (v, b) in row.iter_mut().zip(&l.b) {
                    *v += b;
                }
            }
        }
        (LayerKind::Conv2d(c), Shape::Chw(ic, h, w), Shape::Chw(oc, oh, ow)) => {
            // im2col: cols [B·OH·OW, IC·K·K]; then cols · wᵀ = [B·OH·OW, OC]; then to [B, OC, OH, OW].
            let k = c.kernel;
            let patch = ic * k * k;
            let mut cols = vec![0f32; batch * oh * ow * patch];
            for b in 0..batch {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let row = &mut cols[((b * oh + oy) * ow + ox) * patch..][..patch];
                        for ch in 0..ic {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = (oy * c.stride + ky) as isize - c.padding as isize;
                                    let ix = (ox * c.stride + kx) as isize - c.padding as isize;
                                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                        row[(ch * k + ky) * k + kx] = x[((b * ic + ch) * h + iy as usize) * w + ix as usize];
                                    }
                                }
                            }
                        }
                    }
                }
            }
            let mut prod = vec![0f32; batch * oh * ow * oc];
            (gemm_f32::best().run)(&cols, batch * oh * ow, packed.expect("Conv2d is packed"), &mut prod);
            for b in 0..batch {
                for p in 0..oh * ow {
                    for o in 0..oc {
                        y[(b * oc + o) * oh * ow + p] = prod[(b * oh * ow + p) * oc + o] + c.b[o];
                    }
                }
            }
        }
        (LayerKind::MaxPool2d(p) | LayerKind::AvgPool2d(p), Shape::Chw(ch, h, w), Shape::Chw(_, oh, ow)) => {
            let is_max = matches!(layer.kind, LayerKind::MaxPool2d(_));
            let area = (p.kernel * p.kernel) as f32;
            for bc in 0..batch * ch {
                let plane = &x[bc * h * w..(bc + 1) * h * w];
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = if is_max { f32::NEG_INFINITY } else { 0.0 };
                        for ky in 0..p.kernel {
                            for kx in 0..p.kernel {
                                let v = plane[(oy * p.stride + ky) * w + ox * p.stride + kx];
                                acc = if is_max { acc.max(v) } else { acc + v };
                            }
                        }
                        y[(bc * oh + oy) * ow + ox] = if is_max { acc } else { acc / area };
                    }
                }
            }
        }
        (LayerKind::Relu, _, _) => {
            for (o, &v) in y.iter_mut().zip(x) {
                *o = v.max(0.0);
            }
        }
        (LayerKind::Flatten, _, _) => y.copy_from_slice(x),
        (LayerKind::Softmax, _, _) => {
            let f = out.len();
            for (xr, yr) in x.chunks_exact(f).zip(y.chunks_exact_mut(f)) {
                // softmax(x)_i = exp(x_i − max x) / Σ_j exp(x_j − max x)
                let m = xr.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for (o, &v) in yr.iter_mut().zip(xr) {
                    *o = (v - m).exp();
                    sum += *o;
                }
                for o in yr.iter_mut() {
                    *o /= sum;
                }
            }
        }
        _ => unreachable!("Model::new checked every layer's input shape"),
    }
}
