//! Static activation scales for a language model's int8 activations (W8A8 / W4A8): one scale
//! per Linear input, calibrated once, instead of one per token computed at run time (the
//! per-tensor static setting of SmoothQuant's O3, and of ONNX Runtime's static QDQ).
//!
//! ```text
//! for every Linear input X (wq/wk/wv share one, as do w1/w3; wo, w2 and the head have their own):
//!   M_X = max over the calibration tokens of max_j |X[t, j]|     (the FP32 model after any smoothing)
//!   s_X = M_X / 127
//! at run time: q = clamp(round(x / s_X), −127, 127), the same integer kernels as per token
//! ```
//!
//! A value beyond the calibrated range saturates at ±127: the price of a scale fixed ahead of
//! time. An input that is zero on every calibration token, or whose max |x| / 127 is not a
//! positive finite f32, keeps per-token scales (its note says so).

use std::collections::BTreeMap;

use crate::lm::{KvCache, KvFormat, LmError, LmLinear, LmModel, LmWeights, Probe};
use crate::ptq::lm::{LmQuantConfig, QuantizedLm};
use crate::ptq::lm_calib::{calibration_windows, input_of, spread_calibration};

/// max |x| of every Linear input the probe sees, by (layer, input name).
#[derive(Default)]
struct AbsMax {
    max: BTreeMap<(Option<usize>, &'static str), f32>,
}

impl Probe for AbsMax {
    fn linear(&mut self, layer: Option<usize>, name: &'static str, _m: usize, input: &[f32], _output: &[f32]) {
        // wk / wv and w3 read the input wq and w1 already reported.
        if layer.is_some() && input_of(name) != Some(name) {
            return;
        }
        let m = input.iter().fold(0f32, |a, v| a.max(v.abs()));
        let e = self.max.entry((layer, name)).or_insert(0.0);
        *e = e.max(m);
    }
}

/// Sets the static scale of every Linear of `q` that quantizes its input to int8, from `fp32`
/// (the weights `q` was rounded from) running over `cfg.calib_tokens` tokens of `calib` in windows
/// spread over it, and says so in each Linear's report note and engine.
pub fn calibrate_static_acts(q: &mut QuantizedLm, fp32: &LmWeights, calib: &[u32], cfg: &LmQuantConfig) -> Result<(), LmError> {
    // Token ids outside the vocabulary are named by the forward pass.
    let c = &fp32.config;
    let sample = spread_calibration(calib, c.seq_len, cfg.calib_tokens);
    let windows = calibration_windows(&sample, c.seq_len, cfg.calib_tokens)?;
    let tokens: usize = windows.iter().map(|w| w.len()).sum();
    let model = LmModel::from_weights(fp32)?;
    let mut probe = AbsMax::default();
    let mut cache = KvCache::new(c, KvFormat::F32)?;
    for w in windows.iter().filter(|w| !w.is_empty()) {
        cache.clear();
        model.forward(w, &mut cache, true, &mut probe)?;
    }
    let mut notes = BTreeMap::new();
    let mut set = |layer: Option<usize>, name: &'static str, lin: &mut LmLinear| {
        if lin.acts_group().is_none() {
            return;
        }
        let input = if layer.is_some() { input_of(name).unwrap_or(name) } else { name };
        let max = probe.max.get(&(layer, input)).copied().unwrap_or(0.0);
        let s = max / 127.0;
        let note = if s.is_finite() && s > 0.0 {
            lin.set_act_scale(Some(s));
            format!("static input scale {s:.6} (max |x| {max:.4} over {tokens} calibration tokens)")
        } else if max == 0.0 {
            lin.set_act_scale(None);
            format!("input zero on all {tokens} calibration tokens: per-token scales kept")
        } else {
            lin.set_act_scale(None);
            format!("no static scale from max |x| = {max:e} over {tokens} calibration tokens (max |x| / 127 is not a positive f32): per-token scales kept")
        };
        notes.insert(layer.map_or(name.to_string(), |l| format!("layers.{l}.{name}")), (note, lin.engine()));
    };
    for (l, b) in q.model.blocks.iter_mut().enumerate() {
        let l = Some(l);
        set(l, "attention.wq", &mut b.wq);
        set(l, "attention.wk", &mut b.wk);
        set(l, "attention.wv", &mut b.wv);
        set(l, "attention.wo", &mut b.wo);
        set(l, "feed_forward.w1", &mut b.w1);
        set(l, "feed_forward.w2", &mut b.w2);
        set(l, "feed_forward.w3", &mut b.w3);
    }
    set(None, "output", &mut q.model.output);
    for r in &mut q.layers {
        if let Some((note, engine)) = notes.remove(&r.name) {
            r.engine = engine.to_string();
            r.note = Some(match r.note.take() {
                Some(n) => format!("{n}; {note}"),
                None => note,
            });
        }
    }
    Ok(())
}
