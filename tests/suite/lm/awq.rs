// AWQ: the α search, the scales and the resulting 4-bit integers against an independent NumPy
// reference (scripts/lm_smoothing_reference.py, tests/fixtures/lm/smoothing/group.json: a
// Linear-output group and an MLP-output group), the attention module against the forward pass, the
// clipping search, the FP32 function kept by the scaling, and the gain over RTN.

use super::smoothquant::{assert_rel, f32s, f64s, group_fixture, logits, rel_diff, shakespeare, text_tokens};
use qplay::lm::eval::perplexity;
use qplay::lm::*;
use qplay::ptq::awq::{attention_output, awq_clip_search, awq_lm, awq_search_group, awq_search_mlp, AwqLinear, Gram};
use qplay::lm::forward::rope_tables;
use qplay::ptq::lm_calib::{calibration_windows, capture_block};
use qplay::ptq::lm::{quantize_lm, LmQuantConfig, LmWeightFormat};
use qplay::ptq::lm_calib::column_abs_stats;
use qplay::ptq::lm_outliers::inject_outliers;
use qplay::quant::grouped::{quantize_rtn, RtnSpec};

/// The group's output MSE against NumPy's: our H = XᵀX / M is summed in f32 and the
/// quantization grid is f32 (NumPy: float64 throughout).
const LOSS_REL: f64 = 1e-4;
/// The MLP-output loss against NumPy's (f32 GEMMs and f32 grid here).
const MLP_LOSS_REL: f64 = 1e-3;
/// s against NumPy's float64 (rounded to f32 here).
const S_REL: f64 = 1e-5;

fn w4g32() -> LmQuantConfig {
    LmQuantConfig { weights: LmWeightFormat::Rtn, bits: 4, group: 32, symmetric: true, ..LmQuantConfig::default() }
}

fn rtn(bits: u8, group: usize) -> LmQuantConfig {
    LmQuantConfig { weights: LmWeightFormat::Rtn, bits, group, ..LmQuantConfig::default() }
}

struct Group {
    m: usize,
    d: usize,
    n: Vec<usize>,
    x: Vec<f32>,
    ws: Vec<Vec<f32>>,
}

fn group() -> (Group, serde_json::Value) {
    let fx = group_fixture();
    let g = Group {
        m: fx["m"].as_u64().unwrap() as usize,
        d: fx["d"].as_u64().unwrap() as usize,
        n: fx["n"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect(),
        x: f32s(&fx["x"]),
        ws: fx["w"].as_array().unwrap().iter().map(f32s).collect(),
    };
    (g, fx)
}

both! {
    awq_search_matches_numpy {
        let (g, fx) = group();
        let awq = &fx["awq"];
        let gram = Gram::new(&g.x, g.m, g.d).unwrap();
        let (_, x_mean) = column_abs_stats(&g.x, g.d);
        assert_rel(&x_mean, &f64s(&awq["x_mean"]), 1e-6, "mean |x|");
        let names = ["layers.0.attention.wq", "layers.0.attention.wk"];
        let linears: Vec<AwqLinear> = (0..2).map(|i| AwqLinear { name: names[i], w: &g.ws[i], n: g.n[i] }).collect();
        let search = awq_search_group(&gram, &x_mean, &linears, &w4g32()).unwrap();
        let want_losses = f64s(&awq["losses"]);
        for (i, (&a, &b)) in search.losses.iter().zip(&want_losses).enumerate() {
            assert!((a - b).abs() <= LOSS_REL * b, "loss at α = {i}/20: {a} vs NumPy {b}");
        }
        assert_eq!(search.index, awq["alpha_index"].as_u64().unwrap() as usize, "{:?}", search.losses);
        assert!((search.alpha as f64 - awq["alpha"].as_f64().unwrap()).abs() < 1e-7);
        assert!(search.losses[search.index] < 0.5 * search.losses[0], "AWQ beats RTN clearly on outlier channels");
        assert_rel(&search.s, &f64s(&awq["s"]), S_REL, "s");
        // The stored model: W · diag(s) in f32, quantized at 4 bits in groups of 32.
        for (i, w) in g.ws.iter().enumerate() {
            let scaled: Vec<f32> = w.chunks_exact(g.d).flat_map(|r| r.iter().zip(&search.s).map(|(a, b)| a * b)).collect();
            let q = quantize_rtn(&scaled, g.n[i], g.d, RtnSpec { bits: 4, group: 32, symmetric: true, narrow: false }).unwrap();
            let ints: Vec<i64> = (0..g.n[i] * g.d).map(|j| q.int_at(j / g.d, j % g.d).unwrap() as i64).collect();
            let want: Vec<i64> = awq["q"][i].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
            assert_eq!(ints, want, "linear {i}: integers");
            assert_rel(&q.scale, &f64s(&awq["scales"][i]), S_REL, &format!("linear {i}: scales"));
        }
    }

    awq_mlp_search_matches_numpy {
        // llm-awq's loss for (ffn_norm → w1, w3): the whole SwiGLU MLP's output, w2 in FP32.
        let (g, fx) = group();
        let mlp = &fx["awq"]["mlp"];
        let f = mlp["f"].as_u64().unwrap() as usize;
        let (w1, w3, w2) = (f32s(&mlp["w1"]), f32s(&mlp["w3"]), f32s(&mlp["w2"]));
        let (_, x_mean) = column_abs_stats(&g.x, g.d);
        let lin = |name, w| AwqLinear { name, w, n: f };
        let search = awq_search_mlp(&g.x, &x_mean, lin("layers.0.feed_forward.w1", &w1), lin("layers.0.feed_forward.w3", &w3), &w2, &w4g32()).unwrap();
        let want = f64s(&mlp["losses"]);
        for (i, (&a, &b)) in search.losses.iter().zip(&want).enumerate() {
            // The MLP runs on the f32 GEMM here (NumPy: float64).
            assert!((a - b).abs() <= MLP_LOSS_REL * b, "MLP-output loss at α = {i}/20: {a} vs NumPy {b}");
        }
        assert_eq!(search.index, mlp["alpha_index"].as_u64().unwrap() as usize, "{:?}", search.losses);
        assert!(search.losses[search.index] < 0.5 * search.losses[0], "AWQ beats RTN clearly on outlier channels");
        // Bad shapes are typed errors.
        assert!(awq_search_mlp(&g.x, &x_mean, lin("w1", &w1), lin("w3", &w3), &w2[1..], &w4g32()).is_err());
    }

    awq_attention_output_is_the_models {
        // The attention module AWQ's loss inspects, run on a block's captured input, gives the
        // output the model's forward pass gives (wo applied to the heads' outputs it captured).
        for file in [&fixture!("lm/random_small_tied.safetensors")[..], &fixture!("lm/random_small.safetensors")[..]] {
            let w = LmWeights::from_safetensors(file).unwrap();
            let c = &w.config;
            let calib: Vec<u32> = (0..3 * c.seq_len as u32 - 5).map(|i| (i * 13 + 1) % c.vocab_size as u32).collect();
            let windows = calibration_windows(&calib, c.seq_len, calib.len()).unwrap();
            let lens: Vec<usize> = windows.iter().map(|x| x.len()).collect();
            let model = LmModel::from_weights(&w).unwrap();
            for l in 0..c.n_layers {
                let inputs = capture_block(&model, &windows, l).unwrap();
                let b = &w.layers[l];
                let got = attention_output(c, &rope_tables(c), &inputs.attention, &lens, &b.wq, &b.wk, &b.wv, &b.wo).unwrap();
                let mut want = vec![0f32; inputs.m * c.dim];
                LmLinear::f32(&b.wo, c.dim, c.dim).forward(&inputs.wo, inputs.m, &mut want, &mut Default::default()).unwrap();
                assert!(rel_diff(&want, &got) < 1e-5, "layer {l}: {}", rel_diff(&want, &got));
            }
            assert!(attention_output(c, &rope_tables(c), &[0.0; 3], &[1], &w.layers[0].wq, &w.layers[0].wk, &w.layers[0].wv, &w.layers[0].wo).is_err());
        }
    }

    awq_clip_matches_numpy {
        let (g, fx) = group();
        let awq = &fx["awq"];
        let clip = &awq["clip"];
        let s: Vec<f32> = f64s(&awq["s"]).iter().map(|&v| v as f32).collect();
        let scaled: Vec<f32> = g.ws[0].chunks_exact(g.d).flat_map(|r| r.iter().zip(&s).map(|(a, b)| a * b)).collect();
        let gram = Gram::new(&g.x, g.m, g.d).unwrap().scaled(&s).unwrap();
        let got = awq_clip_search(&gram, AwqLinear { name: "layers.0.attention.wv", w: &scaled, n: g.n[0] }, &w4g32()).unwrap();
        let want: Vec<usize> = clip["index"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let clear: Vec<bool> = clip["clear"].as_array().unwrap().iter().map(|v| v.as_bool().unwrap()).collect();
        let errors: Vec<Vec<f64>> = clip["errors"].as_array().unwrap().iter().map(f64s).collect();
        assert_eq!(got.index.len(), want.len());
        assert!(want.iter().any(|&i| i > 0) && want.contains(&0), "the fixture clips some groups, not all");
        for (gi, (&mine, &theirs)) in got.index.iter().zip(&want).enumerate() {
            if clear[gi] {
                // A clear winner (runner-up > 0.1 % worse in NumPy): the same ratio.
                assert_eq!(mine as usize, theirs, "row {} group {}: {:?}", gi / 2, gi % 2, errors[gi]);
            } else {
                let best = errors[gi][theirs];
                assert!(errors[gi][mine as usize] <= best * (1.0 + 1e-3), "row {} group {}: {:?}", gi / 2, gi % 2, errors[gi]);
            }
        }
        // max_val = r · max|W_G|.
        let gmax = scaled[..32].iter().fold(0f32, |m, v| m.max(v.abs()));
        assert_eq!(got.max_val[0], gmax * (1.0 - got.index[0] as f32 / 20.0));
    }

    awq_keeps_fp32_and_never_loses_to_rtn {
        for (file, vo) in [(&fixture!("lm/random_small_tied.safetensors")[..], true), (&fixture!("lm/random_small.safetensors")[..], false)] {
            let w0 = LmWeights::from_safetensors(file).unwrap();
            let (t, v) = (w0.config.seq_len as u32, w0.config.vocab_size as u32);
            let calib: Vec<u32> = (0..4 * t).map(|i| (i * 11 + i / 3) % v).collect();
            let tokens: Vec<u32> = (0..t).map(|i| (i * 7 + 3) % v).collect();
            let base = logits(&w0, &tokens);
            let mut w = w0.clone();
            let mut calls = vec![];
            let cfg = LmQuantConfig { calib_tokens: 128, ..rtn(3, 32) };
            let report = awq_lm(&mut w, &calib, &cfg, &mut |d, n| calls.push((d, n))).unwrap();
            assert_eq!(calls, vec![(1, 3), (2, 3), (3, 3)], "the calibration pass, then each block");
            assert_eq!(report.calib_tokens, 128);
            // Scaling only: the FP32 function is kept up to rounding.
            assert!(rel_diff(&base, &logits(&w, &tokens)) < 1e-5, "{}", rel_diff(&base, &logits(&w, &tokens)));
            // Groups per block: attention_norm → q,k,v; wv → wo only without grouped KV heads; ffn_norm → w1,w3; w3 → w2.
            assert_eq!(report.groups.len(), if vo { 8 } else { 6 });
            assert_eq!(report.notes.len(), if vo { 0 } else { 2 }, "{:?}", report.notes);
            assert_eq!(report.groups[1].prev, if vo { "layers.0.attention.wv" } else { "layers.0.ffn_norm" });
            for g in &report.groups {
                assert!(g.loss_after <= g.loss_before && g.losses.len() == 20, "{}: {} > {}", g.prev, g.loss_after, g.loss_before);
                assert_eq!(g.loss_after, g.losses[(g.alpha * 20.0).round() as usize]);
                // The index the page draws as the chosen α: the first of least loss.
                let first_min = (0..20).find(|&i| g.losses[i] == g.losses.iter().copied().fold(f64::INFINITY, f64::min)).unwrap();
                assert_eq!((g.index, g.alpha), (first_min, first_min as f32 / 20.0), "{}", g.prev);
            }
            // With clipping: wq and wk untouched by it, the others clipped where it helps.
            let mut wc = w0.clone();
            let clipped = awq_lm(&mut wc, &calib, &LmQuantConfig { awq_clip: true, ..cfg.clone() }, &mut |_, _| {}).unwrap();
            assert_eq!(clipped.clips.len(), 5 * 2);
            assert!(clipped.clips.iter().all(|c| !c.name.ends_with(".wq") && !c.name.ends_with(".wk")));
            assert!(clipped.clips.iter().all(|c| c.loss_after <= c.loss_before * 1.01), "{:?}", clipped.clips);
            assert!(clipped.clips.iter().any(|c| c.clipped_share > 0.0));
            assert_eq!(wc.layers[0].wq, w.layers[0].wq);
        }
        // Bad settings are typed errors.
        let mut w = LmWeights::from_safetensors(fixture!("lm/random_small.safetensors")).unwrap();
        assert!(matches!(awq_lm(&mut w, &[1, 2, 3], &LmQuantConfig::default(), &mut |_, _| {}), Err(LmError::Setting { .. })));
        assert!(awq_lm(&mut w, &[], &rtn(4, 32), &mut |_, _| {}).is_err());
        assert!(awq_lm(&mut w, &[1, 2, 3], &LmQuantConfig { calib_tokens: 0, ..rtn(4, 32) }, &mut |_, _| {}).is_err());
    }

    awq_repairs_w4_on_the_built_in_model_with_outliers {
        // AWQ's setting: a few input channels with large activations (4 channels × 20 injected),
        // W4 g32, calibrated on 256 training tokens, scored on 1 window of validation text.
        let mut w0 = shakespeare();
        inject_outliers(&mut w0, 4, 20.0).unwrap();
        let calib = text_tokens(&w0, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lm/smoothing/train_slice.txt")));
        let val = text_tokens(&w0, include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lm/smoothing/val_slice.txt")));
        let cfg = LmQuantConfig { calib_tokens: 256, ..rtn(4, 32) };
        let ppl = |m: &LmModel| perplexity(m, &val, KvFormat::F32, |_, _| {}).unwrap().perplexity;
        let p32 = ppl(&LmModel::from_weights(&w0).unwrap());
        let p_rtn = ppl(&quantize_lm(&w0, &cfg).unwrap().model);
        let mut w = w0.clone();
        let report = awq_lm(&mut w, &calib, &cfg, &mut |_, _| {}).unwrap();
        let p_awq = ppl(&quantize_lm(&w, &cfg).unwrap().model);
        assert!(p_rtn - p_awq > 0.6 * (p_rtn - p32), "perplexity: FP32 {p32}, RTN {p_rtn}, AWQ {p_awq}");
        // The RMSNorm groups protect the outlier channels: α well above 0.
        assert!(report.groups.iter().filter(|g| g.prev.ends_with("_norm")).all(|g| g.alpha >= 0.5), "{:?}", report.groups.iter().map(|g| g.alpha).collect::<Vec<_>>());
    }
}

/// The built-in model, its training text (for calibration), its first `val_tokens` validation
/// tokens and AWQ at W4 g32 with 512 calibration tokens: the setup of the tests that run AWQ on
/// the whole model.
#[cfg(not(target_arch = "wasm32"))]
fn awq_on_builtin(val_tokens: usize) -> (LmWeights, Vec<u32>, Vec<u32>, LmQuantConfig) {
    let (w0, train, mut val) = super::smoothquant::measure::load();
    val.truncate(val_tokens);
    let cfg = LmQuantConfig { method: qplay::ptq::lm::LmMethod::Awq, calib_tokens: 512, ..rtn(4, 32) };
    (w0, train, val, cfg)
}

/// AWQ + GPTQ (`awq_gptq`): AWQ's scaled weights rounded by GPTQ. The model is exactly GPTQ run on
/// the weights AWQ scaled, and on the built-in model at W4 g32 its KL divergence from FP32 is well
/// below AWQ's with RTN (measured on the 8,193-token slice with 2,048 calibration tokens: 0.0041
/// against 0.0085; here 512 calibration tokens and 2,049 validation tokens).
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn awq_then_gptq_is_gptq_on_the_scaled_weights_and_beats_awq_alone() {
    use qplay::lm::eval::compare;
    use qplay::ptq::gptq::quantize_lm_gptq;
    use qplay::ptq::lm_method::quantize_with_method;
    let (w0, train, val, awq) = awq_on_builtin(2049);
    let both = LmQuantConfig { awq_gptq: true, ..awq.clone() };
    assert_eq!(both.label(), "W4 g32 AWQ +GPTQ, 512 calibration tokens");
    assert_eq!(LmQuantConfig { act_order: true, awq_clip: true, ..both.clone() }.label(), "W4 g32 AWQ +clip +GPTQ act-order, 512 calibration tokens");
    let mut calls = 0;
    let r = quantize_with_method(&w0, &both, &train, &mut |_, _| calls += 1).unwrap();
    assert_eq!(calls, 1 + w0.config.n_layers + 7 * w0.config.n_layers, "AWQ: the statistics, then each block; GPTQ: each Linear");
    assert!(r.report.awq.is_some(), "AWQ's report is kept");
    let scaled = r.rounded.as_ref().expect("the weights AWQ scaled");
    let gptq = quantize_lm_gptq(scaled, &both, &train, &mut |_, _| {}).unwrap();
    let probe: Vec<u32> = val[..64].to_vec();
    assert_eq!(logits_of(&r.quantized.model, &probe), logits_of(&gptq.model, &probe), "GPTQ on AWQ's scaled weights, nothing else");
    let fp32 = LmModel::from_weights(&w0).unwrap();
    let kl = |m: &LmModel| compare(&fp32, m, &val, KvFormat::F32, |_, _| {}).unwrap().mean_kl;
    let kl_awq = kl(&quantize_with_method(&w0, &awq, &train, &mut |_, _| {}).unwrap().quantized.model);
    let kl_both = kl(&r.quantized.model);
    assert!(kl_both < 0.75 * kl_awq, "KL: AWQ {kl_awq}, AWQ + GPTQ {kl_both}");
}

/// AWQ's w3 → w2 group divides w3's rows by s: w3's output error is measured against the weights
/// AWQ scaled (the same function as FP32's), not against FP32's w3, whose output differs by s.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn awq_layer_errors_are_measured_against_the_scaled_weights() {
    use qplay::lm::eval::compare_layers_against;
    use qplay::ptq::lm::LmMethod;
    use qplay::ptq::lm_method::quantize_with_method;
    let (w0, train, val, cfg) = awq_on_builtin(513);
    let r = quantize_with_method(&w0, &cfg, &train, &mut |_, _| {}).unwrap();
    assert!(r.report.rescales_outputs(), "w3 → w2 groups");
    let scaled = LmModel::from_weights(r.layer_reference().expect("the scaled weights")).unwrap();
    let fp32 = LmModel::from_weights(&w0).unwrap();
    let sqnr = |layers: Option<&LmModel>, name: &str| {
        let c = compare_layers_against(&fp32, layers, &r.quantized.model, &val, KvFormat::F32, |_, _| {}).unwrap();
        c.layers.iter().find(|l| l.name == name).unwrap().sqnr_db
    };
    let (w3, w1) = (sqnr(Some(&scaled), "layers.0.feed_forward.w3"), sqnr(Some(&scaled), "layers.0.feed_forward.w1"));
    let w3_fp32 = sqnr(None, "layers.0.feed_forward.w3");
    assert!(w3 > 15.0 && (w3 - w1).abs() < 6.0, "w3 {w3} dB, w1 {w1} dB against the scaled weights");
    assert!(w3_fp32 < w3 - 6.0, "against FP32's w3 the scaling shows as error: {w3_fp32} dB");
    // A projection AWQ did not rescale reads the same either way (the scaled model computes FP32's function).
    assert!((sqnr(Some(&scaled), "layers.0.feed_forward.w2") - sqnr(None, "layers.0.feed_forward.w2")).abs() < 0.05);
    // RTN and SmoothQuant (folded into RMSNorm weights) rescale no projection's output.
    let sq = LmQuantConfig { method: LmMethod::SmoothQuant, int8_acts: true, calib_tokens: 512, ..rtn(8, 0) };
    assert!(quantize_with_method(&w0, &sq, &train, &mut |_, _| {}).unwrap().layer_reference().is_none());
    assert!(quantize_with_method(&w0, &rtn(4, 32), &train, &mut |_, _| {}).unwrap().layer_reference().is_none());
}

#[cfg(not(target_arch = "wasm32"))]
fn logits_of(m: &LmModel, tokens: &[u32]) -> Vec<f32> {
    let mut cache = KvCache::new(&m.config, KvFormat::F32).unwrap();
    m.forward(tokens, &mut cache, false, &mut NoProbe).unwrap()
}

/// The measurements of the report (native, release, the whole validation slice):
/// `cargo test --release --test suite measure_awq -- --ignored --nocapture`
#[cfg(not(target_arch = "wasm32"))]
mod measure {
    use super::super::smoothquant::measure::{load, ppl, read_tokens};
    use super::*;
    use std::time::Instant;

    #[test]
    #[ignore]
    fn measure_awq() {
        let (w0, train, val) = load();
        let p32 = ppl(&w0, &LmQuantConfig::default(), &val);
        println!("FP32 {p32:.4}");
        for outliers in [0, 4] {
            for scale in if outliers == 0 { vec![1.0] } else { vec![20.0, 50.0] } {
                let mut wo = w0.clone();
                qplay::ptq::lm_outliers::inject_outliers(&mut wo, outliers, scale).unwrap();
                for (label, cfg) in [("W4 g32", rtn(4, 32)), ("W3 g32", rtn(3, 32))] {
                    let r = ppl(&wo, &cfg, &val);
                    println!("{outliers} outliers × {scale}: {label}: RTN {r:.4}");
                    for clip in [false, true] {
                        for calib in [512, 2048] {
                            let mut w = wo.clone();
                            let start = Instant::now();
                            let c = LmQuantConfig { awq_clip: clip, calib_tokens: calib, ..cfg.clone() };
                            let rep = awq_lm(&mut w, &train, &c, &mut |_, _| {}).unwrap();
                            let secs = start.elapsed().as_secs_f64();
                            let a = ppl(&w, &c, &val);
                            let alphas: Vec<f32> = rep.groups.iter().map(|g| g.alpha).collect();
                            println!(
                                "  AWQ clip {clip} calib {calib}: {a:.4}, recovers {:.1} % of RTN's gap, {secs:.2} s; α {alphas:?}",
                                (r - a) / (r - p32) * 100.0
                            );
                        }
                    }
                }
            }
        }
    }

    /// How far any AWQ-form scaling can go on the built-in model: s = awq_scales(x̄, α_g) for each of
    /// its 18 groups, with the 18 α chosen by coordinate descent (one sweep, each α over {0, 0.05, …,
    /// 0.95, 1, 1.25, 1.5}) on the end-to-end perplexity of W4 g32 RTN, on `AWQ_ORACLE_ON` text:
    /// `train` (default; the last 8,193 tokens of the training split, as a calibration set may be) or
    /// `val` (the evaluation slice's first 4,097 tokens: an oracle that sees the evaluation text).
    /// Prints the share of RTN's gap recovered on the selection text, on the 8,193-token slice and on
    /// the whole validation split. 6–9 min natively:
    /// `cargo test --release --test suite measure_awq_alpha_oracle -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn measure_awq_alpha_oracle() {
        use qplay::ptq::awq::{awq_scales, awq_statistics, fold_group, AwqFold};
        use qplay::ptq::lm_calib::spread_calibration;
        let (w0, train, val) = load();
        let val_all = read_tokens(&w0, qplay::lm::corpus::VAL_FILE);
        let on_val = std::env::var("AWQ_ORACLE_ON").is_ok_and(|v| v == "val");
        let select: Vec<u32> = if on_val { val[..4097].to_vec() } else { train[train.len() - 8193..].to_vec() };
        let cfg = rtn(4, 32);
        let c = w0.config.clone();
        let sample = spread_calibration(&train, c.seq_len, cfg.calib_tokens);
        let windows = calibration_windows(&sample, c.seq_len, cfg.calib_tokens).unwrap();
        let stats = awq_statistics(&LmModel::from_weights(&w0).unwrap(), &windows).unwrap();
        let x_mean: Vec<Vec<Vec<f32>>> = stats.iter().map(|block| block.iter().map(|x| x.mean_abs()).collect()).collect();
        let folds = [AwqFold::AttentionNorm, AwqFold::Wv, AwqFold::FfnNorm, AwqFold::W3];
        let vo = c.kv_dim() == c.dim;
        let groups: Vec<(usize, usize)> = (0..c.n_layers).flat_map(|l| (0..4).filter(move |&g| folds[g] != AwqFold::Wv || vo).map(move |g| (l, g))).collect();
        let apply = |alphas: &[f64]| {
            let mut w = w0.clone();
            for (&(l, g), &a) in groups.iter().zip(alphas).filter(|(_, &a)| a > 0.0) {
                fold_group(&mut w.layers[l], folds[g], &awq_scales(&x_mean[l][g], a));
            }
            w
        };
        let fp32 = LmQuantConfig::default();
        let gap = |rtn: f64, fp: f64, q: f64| (rtn - q) / (rtn - fp) * 100.0;
        let (fp_sel, fp_val, fp_all) = (ppl(&w0, &fp32, &select), ppl(&w0, &fp32, &val), ppl(&w0, &fp32, &val_all));
        let (rtn_sel, rtn_val, rtn_all) = (ppl(&w0, &cfg, &select), ppl(&w0, &cfg, &val), ppl(&w0, &cfg, &val_all));
        println!("selection on {}: FP32 {fp_sel:.4}, RTN {rtn_sel:.4}; slice FP32 {fp_val:.4}, RTN {rtn_val:.4}", if on_val { "val" } else { "train" });
        let grid: Vec<f64> = (0..20).map(|i| i as f64 / 20.0).chain([1.0, 1.25, 1.5]).collect();
        let (mut alphas, mut best) = (vec![0.0; groups.len()], rtn_sel);
        for gi in 0..groups.len() {
            let current = alphas[gi];
            for &a in grid.iter().filter(|&&a| a != current) {
                let mut t = alphas.clone();
                t[gi] = a;
                let p = ppl(&apply(&t), &cfg, &select);
                if p < best {
                    (best, alphas) = (p, t);
                }
            }
            println!("group {:?}: α {:.2}, selection text {best:.4} ({:.1} % of RTN's gap)", groups[gi], alphas[gi], gap(rtn_sel, fp_sel, best));
        }
        let w = apply(&alphas);
        let (q_val, q_all) = (ppl(&w, &cfg, &val), ppl(&w, &cfg, &val_all));
        println!("slice: {q_val:.4} ({:.1} %); whole split: FP32 {fp_all:.4}, RTN {rtn_all:.4}, chosen {q_all:.4} ({:.1} %); α {alphas:?}", gap(rtn_val, fp_val, q_val), gap(rtn_all, fp_all, q_all));
        assert!(q_val.is_finite() && q_all.is_finite());
    }
}
