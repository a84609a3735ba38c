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
//! time. An input that is zero on every calibration token keeps per-token scales (its note says so).

use std::collections::BTreeMap;

use crate::lm::{KvCache, KvFormat, LmError, LmModel, LmWeights, Probe};
use crate::ptq::lm::{LmQuantConfig, QuantizedLm};
use crate::ptq::lm_calib::{calibration_windows, spread_calibration};

/// max |x| of every Linear input the probe sees, by (layer, input name).
#[derive(Default)]
struct AbsMax {
    max: BTreeMap<(Option<usize>, &'static str), f32>,
}

impl Probe for AbsMax {
    fn linear(&mut self, layer: Option<usize>, name: &'static str, _m: usize, input: &[f32], _output: &[f32]) {
        let m = input.iter().fold(0f32, |a, v| a.max(v.abs()));
        let e = self.max.entry((layer, name)).or_insert(0.0);
        *e = e.max(m);
    }
}

/// Sets the static scale of every Linear of `q` that quantizes its input to int8, from `fp32`
/// (the weights `q` was rounded from) running over `cfg.calib_tokens` tokens of `calib` in windows
/// spread over it, and says so in each Linear's report note.
pub fn calibrate_static_acts(q: &mut QuantizedLm, fp32: &LmWeights, calib: &[u32], cfg: &LmQuantConfig) -> Result<(), LmError> {
    let c = &fp32.config;
    if let Some(&bad) = calib.iter().find(|&&t| t as usize >= c.vocab_size) {
        return Err(LmError::Tokens(format!("calibration token id {bad} is outside the vocabulary of {}", c.vocab_size)));
    }
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
    let mut set = |name: String, layer: Option<usize>, input: &'static str, lin: &mut crate::lm::LmLinear| {
        if lin.acts_group().is_none() {
            return;
        }
        let max = probe.max.get(&(layer, input)).copied().unwrap_or(0.0);
        let s = max / 127.0;
        let note = if s.is_finite() && s > 0.0 {
            lin.set_act_scale(Some(s));
            format!("static input scale {s:.6} (max |x| {max:.4} over {tokens} calibration tokens)")
        } else {
            lin.set_act_scale(None);
            format!("input zero on all {tokens} calibration tokens: per-token scales kept")
        };
        notes.insert(name, note);
    };
    for (l, b) in q.model.blocks.iter_mut().enumerate() {
        let n = |s: &str| format!("layers.{l}.{s}");
        // Each Linear's input as the forward pass names it (wq/wk/wv see wq's, w1/w3 w1's).
        set(n("attention.wq"), Some(l), "attention.wq", &mut b.wq);
        set(n("attention.wk"), Some(l), "attention.wq", &mut b.wk);
        set(n("attention.wv"), Some(l), "attention.wq", &mut b.wv);
        set(n("attention.wo"), Some(l), "attention.wo", &mut b.wo);
        set(n("feed_forward.w1"), Some(l), "feed_forward.w1", &mut b.w1);
        set(n("feed_forward.w3"), Some(l), "feed_forward.w1", &mut b.w3);
        set(n("feed_forward.w2"), Some(l), "feed_forward.w2", &mut b.w2);
    }
    set("output".into(), None, "output", &mut q.model.output);
    for r in &mut q.layers {
        if let Some(note) = notes.remove(&r.name) {
            r.note = Some(match r.note.take() {
                Some(n) => format!("{n}; {note}"),
                None => note,
            });
        }
    }
    Ok(())
}
