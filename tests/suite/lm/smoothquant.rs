// SmoothQuant and outlier injection: the per-channel scales against an independent NumPy
// reference (scripts/lm_smoothing_reference.py, tests/fixtures/lm/smoothing/group.json), the
// FP32 function kept by both transforms, and W8A8 hurt by outliers and repaired by smoothing.

use qplay::lm::eval::perplexity;
use qplay::lm::*;
use qplay::ptq::lm::{quantize_lm, LmMethod, LmQuantConfig, LmWeightFormat};
use qplay::ptq::lm_calib::{calibration_windows, capture_block, column_abs_stats, spread_calibration};
use qplay::ptq::lm_method::quantize_with_method;
use qplay::ptq::lm_outliers::{inject_outliers, outlier_channels};
use qplay::ptq::smoothquant::{fold_smoothing, smooth_lm, smooth_scales, weight_absmax};

/// Relative tolerance on s against NumPy's float64 (f32 rounding of s and f32 inputs: ~1e-7).
const S_REL: f64 = 1e-5;

pub fn group_fixture() -> serde_json::Value {
    serde_json::from_slice(fixture!("lm/smoothing/group.json")).expect("JSON")
}

pub fn f32s(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().expect("an array").iter().map(|x| x.as_f64().expect("a number") as f32).collect()
}

pub fn f64s(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().expect("an array").iter().map(|x| x.as_f64().expect("a number")).collect()
}

pub fn assert_rel(got: &[f32], want: &[f64], rel: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (j, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!((g as f64 - w).abs() <= rel * w.abs().max(1e-30), "{what}[{j}]: {g} vs NumPy {w}");
    }
}

/// The built-in model, a slice of the training text (calibration) and of the validation text.
pub fn shakespeare() -> LmWeights {
    LmWeights::from_safetensors(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/www/models/shakespeare.safetensors"))).unwrap()
}

pub fn text_tokens(w: &LmWeights, text: &str) -> Vec<u32> {
    let tok = CharTokenizer::new(w.alphabet.as_ref().unwrap().chars().collect()).unwrap();
    tok.encode(text).unwrap()
}

fn w8a8() -> LmQuantConfig {
    LmQuantConfig { weights: LmWeightFormat::Rtn, bits: 8, group: 0, int8_acts: true, ..LmQuantConfig::default() }
}

/// The FP32 forward pass's logits of `tokens` (shared with the AWQ tests).
pub(super) fn logits(w: &LmWeights, tokens: &[u32]) -> Vec<f32> {
    let m = LmModel::from_weights(w).unwrap();
    m.forward(tokens, &mut KvCache::new(&w.config, KvFormat::F32).unwrap(), false, &mut NoProbe).unwrap()
}

/// max |a − b| relative to max |a|.
pub(super) fn rel_diff(a: &[f32], b: &[f32]) -> f32 {
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max) / scale
}

both! {
    smooth_scales_match_numpy {
        let fx = group_fixture();
        let (m, d) = (fx["m"].as_u64().unwrap() as usize, fx["d"].as_u64().unwrap() as usize);
        let x = f32s(&fx["x"]);
        let g = f32s(&fx["g"]);
        let ws: Vec<Vec<f32>> = fx["w"].as_array().unwrap().iter().map(f32s).collect();
        assert_eq!(x.len(), m * d);
        let (x_absmax, _) = column_abs_stats(&x, d);
        let w_absmax = weight_absmax(&[&ws[0], &ws[1]], d);
        for case in fx["smoothquant"].as_array().unwrap() {
            let alpha = case["alpha"].as_f64().unwrap() as f32;
            // max|X_j| and max|W_j| are exact (maxima of f32 values); NumPy clamps w_j at 1e-5.
            assert_eq!(x_absmax, f32s(&case["x_absmax"]), "α {alpha}: max|X_j|");
            let w_clamped: Vec<f32> = w_absmax.iter().map(|w| w.max(1e-5)).collect();
            assert_eq!(w_clamped, f32s(&case["w_absmax"]), "α {alpha}: max|W_j|");
            let s = smooth_scales(&x_absmax, &w_absmax, alpha).unwrap();
            assert_rel(&s, &f64s(&case["s"]), S_REL, &format!("α {alpha}: s"));
            let (mut g2, mut w0, mut w1) = (g.clone(), ws[0].clone(), ws[1].clone());
            fold_smoothing(&mut g2, &mut [&mut w0, &mut w1], &s);
            assert_rel(&g2, &f64s(&case["g_smoothed"]), S_REL, &format!("α {alpha}: g / s"));
            assert!((0..d).all(|j| (w0[j] as f64 - ws[0][j] as f64 * s[j] as f64).abs() <= 1e-6 * (w0[j].abs() as f64)));
        }
        // The clamps: a dead channel (a_j = 0) gets s = 1e-5 for α > 0, never 0 or NaN.
        let dead = fx["dead_channel"].as_u64().unwrap() as usize;
        assert_eq!(smooth_scales(&x_absmax, &w_absmax, 0.5).unwrap()[dead], 1e-5);
        assert!(smooth_scales(&[1.0], &[1.0, 2.0], 0.5).is_err());
        assert!(smooth_scales(&[1.0], &[1.0], 1.5).is_err());
    }

    outliers_keep_fp32_and_smoothing_keeps_fp32 {
        let w0 = LmWeights::from_safetensors(fixture!("lm/random_small.safetensors")).unwrap();
        let tokens: Vec<u32> = (0..w0.config.seq_len as u32).map(|i| (i * 7 + 3) % w0.config.vocab_size as u32).collect();
        let base = logits(&w0, &tokens);
        let mut w = w0.clone();
        let picked = inject_outliers(&mut w, 4, 20.0).unwrap();
        // Evenly spaced: c_i = ⌊(2i + 1)·D / 2n⌋ = 4, 12, 20, 28 for D = 32, n = 4.
        assert_eq!(picked, vec![4, 12, 20, 28]);
        assert_eq!(outlier_channels(128, 4), vec![16, 48, 80, 112]);
        assert_eq!(w.layers[1].ffn_norm[12], w0.layers[1].ffn_norm[12] * 20.0);
        assert_eq!(w.layers[0].wk[32 + 20], w0.layers[0].wk[32 + 20] / 20.0);
        assert_eq!(w.layers[0].wo, w0.layers[0].wo);
        // FP32 logits: only the rounding of W / 20 and of the scaled norm changes them.
        let injected = logits(&w, &tokens);
        assert!(rel_diff(&base, &injected) < 1e-5, "outliers: {}", rel_diff(&base, &injected));
        let report = smooth_lm(&mut w, &tokens, &LmQuantConfig { calib_tokens: 64, ..LmQuantConfig::default() }).unwrap();
        assert_eq!(report.inputs.len(), 2 * w.config.n_layers);
        assert_eq!(report.inputs[1].norm, "layers.0.ffn_norm");
        let smoothed = logits(&w, &tokens);
        assert!(rel_diff(&base, &smoothed) < 1e-5, "smoothed: {}", rel_diff(&base, &smoothed));
        // At α = ½ the activation and weight ranges meet: max|X_j / s_j| = max|W_j · s_j|.
        for inp in &report.inputs {
            for j in 0..w.config.dim {
                let (a, b) = (inp.x_absmax_after[j], inp.w_absmax_after[j]);
                assert!((a - b).abs() <= 1e-5 * a.max(b), "{} channel {j}: {a} vs {b}", inp.norm);
            }
            // The injected channels are the largest before smoothing.
            let top = (0..w.config.dim).max_by(|&a, &b| inp.x_absmax_before[a].total_cmp(&inp.x_absmax_before[b])).unwrap();
            assert!(picked.contains(&top), "{}: largest channel {top}", inp.norm);
        }
        // Bad settings are typed errors.
        assert!(inject_outliers(&mut w.clone(), 33, 20.0).is_err());
        assert!(inject_outliers(&mut w.clone(), 2, f32::NAN).is_err());
        assert!(smooth_lm(&mut w.clone(), &[], &LmQuantConfig::default()).is_err());
    }

    outliers_hurt_w8a8_and_smoothquant_repairs_it {
        // The built-in model on 1 window of validation text, calibrated on 256 training tokens,
        // with 4 channels × 50: on so few tokens the W8A8 perplexity moves by ~0.01 with the
        // rounding of the activations alone (native and wasm differ by that much), so the effect
        // tested must be far larger.
        let w0 = shakespeare();
        let calib = text_tokens(&w0, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lm/smoothing/train_slice.txt")));
        let val = text_tokens(&w0, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lm/smoothing/val_slice.txt")));
        let ppl = |m: &LmModel| perplexity(m, &val, KvFormat::F32, |_, _| {}).unwrap().perplexity;
        let p32 = ppl(&LmModel::from_weights(&w0).unwrap());
        let pc = ppl(&quantize_lm(&w0, &w8a8()).unwrap().model);
        let mut w = w0.clone();
        inject_outliers(&mut w, 4, 50.0).unwrap();
        let pn = ppl(&quantize_lm(&w, &w8a8()).unwrap().model);
        smooth_lm(&mut w, &calib, &LmQuantConfig { calib_tokens: 256, ..LmQuantConfig::default() }).unwrap();
        let ps = ppl(&quantize_lm(&w, &w8a8()).unwrap().model);
        // Clearly worse with outliers; SmoothQuant recovers most of the loss.
        assert!(pn - p32 > 5.0 * (pc - p32).max(1e-3), "FP32 {p32}, W8A8 {pc}, with outliers {pn}");
        assert!(pn - ps > 0.8 * (pn - p32), "FP32 {p32}, with outliers {pn}, smoothed {ps}");
    }

    static_scales_are_the_calibrated_maxima_and_smoothquant_repairs_them {
        // Static activation scales: s_x = max |x| / 127 of each Linear's input over the calibration
        // windows, taken here from the inputs the FP32 model gives (capture_block); with outliers
        // one scale per input is far too coarse, and SmoothQuant's smoothing repairs it.
        let w0 = shakespeare();
        let calib = text_tokens(&w0, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lm/smoothing/train_slice.txt")));
        let val = text_tokens(&w0, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lm/smoothing/val_slice.txt")));
        let c = &w0.config;
        let stat = LmQuantConfig { static_acts: true, calib_tokens: 256, ..w8a8() };
        let r = quantize_with_method(&w0, &stat, &calib, &mut |_, _| {}).unwrap();
        let fp32 = LmModel::from_weights(&w0).unwrap();
        let sample = spread_calibration(&calib, c.seq_len, 256);
        let windows = calibration_windows(&sample, c.seq_len, 256).unwrap();
        let absmax = |x: &[f32]| x.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (l, b) in r.quantized.model.blocks.iter().enumerate() {
            let inputs = capture_block(&fp32, &windows, l).unwrap();
            for (name, lin) in b.linears() {
                let want = absmax(inputs.of(name).unwrap()) / 127.0;
                assert_eq!(lin.act_scale(), Some(want), "layers.{l}.{name}");
            }
        }
        let wq = r.quantized.layers.iter().find(|x| x.name == "layers.0.attention.wq").unwrap();
        let note = wq.note.clone().unwrap();
        assert!(note.contains("static input scale") && note.contains("over 256 calibration tokens"), "{note}");
        assert_eq!(wq.engine, "int8 × int8 (W8A8, static activation scale)");
        // The head and the embedding stay FP32 (the default skip list): no scale, no note.
        assert_eq!(r.quantized.model.output.act_scale(), None);
        assert!(stat.label().ends_with("static activation scales, 256 calibration tokens"), "{}", stat.label());
        // Without calibration text there is nothing to calibrate on.
        assert!(quantize_with_method(&w0, &stat, &[], &mut |_, _| {}).is_err());

        let ppl = |m: &LmModel| perplexity(m, &val, KvFormat::F32, |_, _| {}).unwrap().perplexity;
        let p32 = ppl(&fp32);
        let mut w = w0.clone();
        inject_outliers(&mut w, 4, 50.0).unwrap();
        let per_token = ppl(&quantize_lm(&w, &w8a8()).unwrap().model);
        let naive = ppl(&quantize_with_method(&w, &stat, &calib, &mut |_, _| {}).unwrap().quantized.model);
        let smoothed = LmQuantConfig { method: LmMethod::SmoothQuant, ..stat.clone() };
        let ps = ppl(&quantize_with_method(&w, &smoothed, &calib, &mut |_, _| {}).unwrap().quantized.model);
        assert!(naive - p32 > 2.0 * (per_token - p32), "FP32 {p32}, per token {per_token}, static {naive}");
        assert!(naive - ps > 0.9 * (naive - p32), "FP32 {p32}, static {naive}, smoothed static {ps}");
    }

    an_input_zero_on_every_calibration_token_keeps_per_token_scales {
        // Block 0's attention RMSNorm weight all zero: wq / wk / wv read zeros, so v and wo's
        // input are zero too. No scale can come of max |x| = 0; those Linears say so and keep
        // per-token scales, the MLP's get static ones, and the model still runs.
        let mut w = shakespeare();
        w.layers[0].attention_norm.iter_mut().for_each(|g| *g = 0.0);
        let calib = text_tokens(&w, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lm/smoothing/train_slice.txt")));
        let val = text_tokens(&w, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lm/smoothing/val_slice.txt")));
        let stat = LmQuantConfig { static_acts: true, calib_tokens: 256, ..w8a8() };
        let r = quantize_with_method(&w, &stat, &calib, &mut |_, _| {}).unwrap();
        let b = &r.quantized.model.blocks[0];
        for (name, lin) in b.linears() {
            let zero = name.starts_with("attention.");
            assert_eq!(lin.act_scale().is_none(), zero, "layers.0.{name}: {:?}", lin.act_scale());
            let layer = r.quantized.layers.iter().find(|x| x.name == format!("layers.0.{name}")).unwrap();
            let note = layer.note.clone().unwrap_or_default();
            if zero {
                assert!(note.contains("input zero on all 256 calibration tokens: per-token scales kept"), "{note}");
                assert_eq!(layer.engine, "int8 × int8 (W8A8)");
            } else {
                assert!(note.contains("static input scale"), "{note}");
            }
        }
        let p = perplexity(&r.quantized.model, &val, KvFormat::F32, |_, _| {}).unwrap().perplexity;
        assert!(p.is_finite() && p > 1.0, "{p}");
    }
}

/// The measurements of the report (native, release, the whole validation slice):
/// `cargo test --release --test suite measure_smoothquant -- --ignored --nocapture`
#[cfg(not(target_arch = "wasm32"))]
pub mod measure {
    use super::*;
    use std::time::Instant;

    /// The tokens of a text file of www/data/ (gzip), in the model's alphabet.
    pub fn read_tokens(w: &LmWeights, file: &str) -> Vec<u32> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/www/data/").to_string() + file;
        let text = qplay::lm::corpus::gunzip_text(&std::fs::read(path).unwrap()).unwrap();
        text_tokens(w, &text)
    }

    /// The model, the training tokens (calibration) and the 8,193 validation tokens of `qplay lm table`.
    pub fn load() -> (LmWeights, Vec<u32>, Vec<u32>) {
        let w = shakespeare();
        let train = read_tokens(&w, qplay::lm::corpus::TRAIN_FILE);
        let mut val = read_tokens(&w, qplay::lm::corpus::VAL_FILE);
        val.truncate(8193);
        (w, train, val)
    }

    pub fn ppl(w: &LmWeights, cfg: &LmQuantConfig, val: &[u32]) -> f64 {
        let q = quantize_lm(w, cfg).unwrap();
        qplay::lm::eval::perplexity(&q.model, val, cfg.kv, |_, _| {}).unwrap().perplexity
    }

    #[test]
    #[ignore]
    fn measure_smoothquant() {
        let (w0, train, val) = load();
        let p32 = ppl(&w0, &LmQuantConfig::default(), &val);
        let clean = ppl(&w0, &w8a8(), &val);
        println!("FP32 {p32:.4}; naive W8A8 per-channel without outliers {clean:.4}");
        for (n, scale) in [(4, 20.0), (4, 50.0), (2, 100.0)] {
            let mut w = w0.clone();
            inject_outliers(&mut w, n, scale).unwrap();
            let f = ppl(&w, &LmQuantConfig::default(), &val);
            let naive = ppl(&w, &w8a8(), &val);
            println!("{n} channels × {scale}: FP32 {f:.4}, naive W8A8 {naive:.4}");
            for alpha in [0.5, 0.25, 0.75, 0.85] {
                for calib in [512, 2048] {
                    let mut ws = w.clone();
                    let start = Instant::now();
                    smooth_lm(&mut ws, &train, &LmQuantConfig { alpha, calib_tokens: calib, ..LmQuantConfig::default() }).unwrap();
                    let secs = start.elapsed().as_secs_f64();
                    let sq = ppl(&ws, &w8a8(), &val);
                    println!(
                        "  SmoothQuant α {alpha} calib {calib}: W8A8 {sq:.4}, recovers {:.1} % of the loss, {secs:.3} s",
                        (naive - sq) / (naive - p32) * 100.0
                    );
                }
            }
        }
    }
}


