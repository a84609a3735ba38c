// GPTQ (src/ptq/gptq.rs) against the independent NumPy float64 reference written from the
// paper's Algorithm 1 (scripts/gptq_reference.py, fixture tests/fixtures/lm/gptq/gptq_cases.json):
// the same integer levels exactly and the same scales / minimums within 1e-5 relative, on every
// grid (RTN kernel widths, simulated widths, Q8_0 / Q4_0 / Q4_1), with groups, per channel,
// act_order with static groups and dead columns without damping. Then: GPTQ's output error on
// its calibration inputs is at most RTN's, NaNs are errors, a singular H falls back to RTN with
// a note, and the block-by-block driver feeds each block the inputs of the model quantized so far.

use qplay::lm::*;
use qplay::ptq::gptq::*;
use qplay::ptq::lm::{dequantized_block, quantize_linear, quantize_lm, LmMethod, LmQuantConfig, LmWeightFormat};
use qplay::ptq::lm_calib::{calibration_windows, capture_block, spread_calibration};
use qplay::quant::ggml::GgmlType;
use serde_json::Value;

fn fixture_json() -> Value {
    serde_json::from_slice(fixture!("lm/gptq/gptq_cases.json")).expect("JSON")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

/// One fixture case: its weights, inputs, GPTQ settings and the configuration RTN would use.
struct Case {
    name: String,
    w: Vec<f32>,
    x: Vec<f32>,
    n: usize,
    k: usize,
    m: usize,
    spec: GptqSpec,
    cfg: LmQuantConfig,
    c: Value,
}

fn cases() -> Vec<Case> {
    let f = fixture_json();
    let (n, k, m) = (f["n"].as_u64().unwrap() as usize, f["k"].as_u64().unwrap() as usize, f["m"].as_u64().unwrap() as usize);
    let w = floats(&f["w"]);
    let x = floats(&f["x"]);
    let mut x_dead = x.clone();
    for &c in &ints(&f["dead_columns"]) {
        for row in x_dead.chunks_exact_mut(k) {
            row[c as usize] = 0.0;
        }
    }
    f["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let bits = c["bits"].as_u64().unwrap() as u8;
            let (symmetric, narrow) = (c["symmetric"].as_bool().unwrap(), c["narrow"].as_bool().unwrap());
            let group = c["group"].as_u64().unwrap() as usize;
            let (rule, weights) = match c["rule"].as_str().unwrap() {
                "kernel" => (GridRule::Kernel { bits, symmetric, narrow }, LmWeightFormat::Rtn),
                "simulated" => (GridRule::Simulated { bits, symmetric, narrow }, LmWeightFormat::Rtn),
                "q8_0" => (GridRule::Ggml(GgmlType::Q8_0), LmWeightFormat::Q8_0),
                "q4_0" => (GridRule::Ggml(GgmlType::Q4_0), LmWeightFormat::Q4_0),
                "q4_1" => (GridRule::Ggml(GgmlType::Q4_1), LmWeightFormat::Q4_1),
                r => panic!("unknown rule {r}"),
            };
            let spec = GptqSpec { rule, group, damp: c["damp"].as_f64().unwrap(), act_order: c["act_order"].as_bool().unwrap() };
            let cfg = LmQuantConfig { weights, bits, group, symmetric, narrow, skip: vec![], ..LmQuantConfig::default() };
            let x = if c["inputs"] == "x" { x.clone() } else { x_dead.clone() };
            Case { name: c["name"].as_str().unwrap().into(), w: w.clone(), x, n, k, m, spec, cfg, c: c.clone() }
        })
        .collect()
}

/// ||X·Wᵀ − X·Qᵀ||² in f64.
fn output_error(x: &[f32], w: &[f32], q: &[f32], k: usize) -> f64 {
    let mut e = 0.0;
    for xr in x.chunks_exact(k) {
        for (wr, qr) in w.chunks_exact(k).zip(q.chunks_exact(k)) {
            let d: f64 = xr.iter().zip(wr.iter().zip(qr)).map(|(&a, (&b, &c))| a as f64 * (b as f64 - c as f64)).sum();
            e += d * d;
        }
    }
    e
}

/// The dequantized [N, K] matrix of a Linear.
fn rows(l: &LmLinear) -> Vec<f32> {
    let mut out = vec![0f32; l.n() * l.k()];
    for (r, chunk) in out.chunks_exact_mut(l.k()).enumerate() {
        l.row(r, chunk).unwrap();
    }
    out
}

fn close(a: f32, b: f32) -> bool {
    a == b || (a - b).abs() <= 1e-5 * a.abs().max(b.abs())
}

fn small() -> LmWeights {
    LmWeights::from_safetensors(fixture!("lm/random_small.safetensors")).unwrap()
}

fn calib(n: usize, v: u32) -> Vec<u32> {
    (0..n as u32).map(|i| (i * 7 + i / 3 + (i * i) % 11) % v).collect()
}

fn gptq_cfg(bits: u8, group: usize) -> LmQuantConfig {
    LmQuantConfig { weights: LmWeightFormat::Rtn, bits, group, method: LmMethod::Gptq, calib_tokens: 512, ..LmQuantConfig::default() }
}

both! {
    gptq_matches_the_numpy_reference {
        let all = cases();
        assert!(all.len() >= 17);
        for c in &all {
            let g = gptq_layer(&c.w, c.n, c.k, &c.x, c.m, &c.spec).unwrap_or_else(|e| panic!("{}: {e}", c.name));
            let want = ints(&c.c["levels"]);
            let got: Vec<i64> = g.levels.iter().map(|&v| v as i64).collect();
            let mismatches: Vec<usize> = (0..want.len()).filter(|&i| want[i] != got[i]).collect();
            assert!(mismatches.is_empty(), "{}: {} levels differ, first at {:?}", c.name, mismatches.len(), mismatches.first());
            for (what, got, want) in [("scale", &g.scale, floats(&c.c["scale"])), ("base", &g.base, floats(&c.c["base"]))] {
                assert_eq!(got.len(), want.len(), "{}: {what}", c.name);
                for (i, (&a, &b)) in got.iter().zip(&want).enumerate() {
                    assert!(close(a, b), "{}: {what}[{i}] = {a}, the reference has {b}", c.name);
                }
            }
            // The column order (act_order) and the output error agree too.
            let h = hessian(&c.x, c.m, c.k).unwrap();
            let f = factor(h, c.k, c.spec.damp, c.spec.act_order).unwrap();
            let perm: Vec<i64> = f.perm.iter().map(|&p| p as i64).collect();
            assert_eq!(perm, ints(&c.c["perm"]), "{}", c.name);
            let err = output_error(&c.x, &c.w, &g.values(), c.k);
            let want_err = c.c["err_gptq"].as_f64().unwrap();
            assert!((err - want_err).abs() <= 1e-6 * want_err, "{}: error {err}, reference {want_err}", c.name);
        }
    }

    gptq_is_stored_like_rtn_and_beats_it_on_the_calibration_inputs {
        for c in &cases() {
            let g = gptq_layer(&c.w, c.n, c.k, &c.x, c.m, &c.spec).unwrap();
            let (rtn, _) = quantize_linear(&c.cfg, "layers.0.attention.wq", &c.w, c.n, c.k).unwrap();
            // Same storage as RTN: the same format, groups and scale precision.
            if let LmLinear::Grouped { w: r, .. } = &rtn {
                let q = g.to_grouped().unwrap();
                assert_eq!((q.bits, q.group, q.offset, q.min.is_some(), q.scale_format), (r.bits, r.group, r.offset, r.min.is_some(), r.scale_format), "{}", c.name);
                assert_eq!(q.dequantize().unwrap(), g.values(), "{}", c.name);
            } else {
                assert!(rtn.format().ends_with("(simulated)"), "{}: {}", c.name, rtn.format());
            }
            let e_gptq = output_error(&c.x, &c.w, &g.values(), c.k);
            let e_rtn = output_error(&c.x, &c.w, &rows(&rtn), c.k);
            assert!(e_gptq <= e_rtn, "{}: GPTQ {e_gptq} > RTN {e_rtn}", c.name);
            if c.spec.damp > 0.0 && c.spec.rule != (GridRule::Simulated { bits: 2, symmetric: true, narrow: false }) {
                assert!(e_gptq < 0.7 * e_rtn, "{}: GPTQ {e_gptq} vs RTN {e_rtn}", c.name);
            }
        }
    }

    the_calibration_error_is_the_output_error_on_the_calibration_inputs {
        // Σ (w − q)ᵀ·H·(w − q) from H, against ‖X·Wᵀ − X·Qᵀ‖² from X itself (H = 2·XᵀX / M).
        for c in &cases() {
            let g = gptq_layer(&c.w, c.n, c.k, &c.x, c.m, &c.spec).unwrap();
            let h = hessian(&c.x, c.m, c.k).unwrap();
            let got = calibration_error(&c.w, &g.values(), c.k, &h);
            let want = output_error(&c.x, &c.w, &g.values(), c.k) * 2.0 / c.m as f64;
            assert!((got - want).abs() <= 1e-9 * want, "{}: {got} from H, {want} from X", c.name);
        }
    }

    nan_inputs_are_errors_and_a_singular_hessian_is_reported {
        let c = &cases()[0];
        let mut x = c.x.clone();
        x[17] = f32::NAN;
        let e = gptq_layer(&c.w, c.n, c.k, &x, c.m, &c.spec).unwrap_err();
        assert!(matches!(e, GptqError::Invalid(LmError::NonFinite { index: 17, .. })), "{e}");
        assert!(!e.falls_back());
        let mut w = c.w.clone();
        w[5] = f32::INFINITY;
        let e = gptq_layer(&w, c.n, c.k, &c.x, c.m, &c.spec).unwrap_err();
        assert!(matches!(e, GptqError::Invalid(LmError::NonFinite { index: 5, .. })), "{e}");
        // Bad shapes and a Hessian beyond the limit: typed errors, checked before allocating.
        assert!(matches!(gptq_layer(&c.w, c.n, c.k, &c.x[1..], c.m, &c.spec), Err(GptqError::Invalid(_))));
        assert!(matches!(hessian(&vec![0.0; 3000], 1, 3000), Err(LmError::TooLarge { .. })));
        let mut f = factor(hessian(&c.x, c.m, c.k).unwrap(), c.k, 0.01, false).unwrap();
        f.perm.swap(0, 1);
        assert!(matches!(gptq_quantize(&c.w, c.n, c.k, &f, c.spec.rule, 32), Err(GptqError::Invalid(_))), "a permutation without act_order");
        // Two identical input columns and no damping: H is singular.
        let mut x = c.x.clone();
        for row in x.chunks_exact_mut(c.k) {
            row[9] = row[4];
        }
        let spec = GptqSpec { damp: 0.0, ..c.spec };
        let e = gptq_layer(&c.w, c.n, c.k, &x, c.m, &spec).unwrap_err();
        assert!(matches!(e, GptqError::NotPositiveDefinite { matrix: "H + λI", column: 9, .. }), "{e}");
        assert!(e.falls_back());
        // Damping makes it positive definite again.
        assert!(gptq_layer(&c.w, c.n, c.k, &x, c.m, &c.spec).is_ok());
    }

    the_driver_quantizes_block_by_block {
        let w = small();
        let c = &w.config;
        let ids = calib(600, c.vocab_size as u32);
        let cfg = gptq_cfg(4, 32);
        let mut seen = vec![];
        let q = quantize_lm_gptq(&w, &cfg, &ids, &mut |d, t| seen.push((d, t))).unwrap();
        let total = 7 * c.n_layers;
        assert_eq!(seen, (1..=total).map(|d| (d, total)).collect::<Vec<_>>());
        assert_eq!(q.layers.len(), 7 * c.n_layers + 2);
        let report = |name: &str| q.layers.iter().find(|l| l.name == name).unwrap().clone();
        assert_eq!(report("layers.1.feed_forward.w2").format, "W4 g32");
        assert_eq!(report("output").format, "f32", "the default skip list keeps the head in FP32");
        // Block 1 was quantized with the inputs of the model whose block 0 is GPTQ's: redo it by hand.
        let sample = spread_calibration(&ids, c.seq_len, cfg.calib_tokens);
        assert_eq!((sample.len(), &sample[..32], &sample[480..]), (512, &ids[..32], &ids[568..]), "16 windows spread over the 600 tokens");
        assert_eq!(spread_calibration(&ids[..100], 32, 512), &ids[..100]);
        assert_eq!(spread_calibration(&ids, 32, 40), [&ids[..32], &ids[568..576]].concat());
        let windows = calibration_windows(&sample, c.seq_len, cfg.calib_tokens).unwrap();
        let mut partial = LmModel::from_weights(&w).unwrap();
        partial.blocks[0] = dequantized_block(&q.model.blocks[0]).unwrap();
        let inputs = capture_block(&partial, &windows, 1).unwrap();
        assert_eq!(inputs.m, 512);
        let spec = GptqSpec { rule: GridRule::Kernel { bits: 4, symmetric: true, narrow: false }, group: 32, damp: 0.01, act_order: false };
        for (name, lin) in [("attention.wv", &q.model.blocks[1].wv), ("feed_forward.w2", &q.model.blocks[1].w2)] {
            let (_, wm, n, k) = w.layers[1].matrices(c).into_iter().find(|m| m.0 == name).unwrap();
            let g = gptq_layer(wm, n, k, inputs.of(name).unwrap(), inputs.m, &spec).unwrap();
            let LmLinear::Grouped { w: stored, .. } = lin else { panic!("{name} is not on the integer kernels") };
            assert_eq!(&g.to_grouped().unwrap(), stored, "layers.1.{name}");
        }
        // Block 0 sees the FP32 model's inputs, where GPTQ's output error is below RTN's on every Linear.
        let fp32 = LmModel::from_weights(&w).unwrap();
        let x0 = capture_block(&fp32, &windows, 0).unwrap();
        let rtn = quantize_lm(&w, &LmQuantConfig { method: LmMethod::Rtn, ..cfg.clone() }).unwrap();
        let (gb, rb) = (q.model.blocks[0].linears(), rtn.model.blocks[0].linears());
        for ((name, wm, _, k), ((_, gl), (_, rl))) in w.layers[0].matrices(c).into_iter().zip(gb.iter().zip(rb.iter())) {
            let x = x0.of(name).unwrap();
            let (eg, er) = (output_error(x, wm, &rows(gl), k), output_error(x, wm, &rows(rl), k));
            assert!(eg < er, "layers.0.{name}: GPTQ {eg} ≥ RTN {er}");
        }
        // The model runs; the skip list, simulated widths and the edges' notes follow the settings.
        let cfg3 = LmQuantConfig { skip: vec!["attention.wo".into()], ..gptq_cfg(3, 32) };
        let q3 = quantize_lm_gptq(&w, &cfg3, &ids, &mut |_, _| {}).unwrap();
        let report3 = |name: &str| q3.layers.iter().find(|l| l.name == name).unwrap().clone();
        assert_eq!(report3("layers.0.attention.wq").format, "W3 g32 (simulated)");
        assert_eq!(report3("layers.1.attention.wo").format, "f32");
        let mut cache = KvCache::new(c, KvFormat::F32).unwrap();
        let logits = q3.model.forward(&ids[..20], &mut cache, false, &mut NoProbe).unwrap();
        assert!(logits.iter().all(|v| v.is_finite()));
        let all = quantize_lm_gptq(&w, &LmQuantConfig { skip: vec![], ..gptq_cfg(8, 0) }, &ids, &mut |_, _| {}).unwrap();
        let emb = all.layers.iter().find(|l| l.name == "tok_embeddings").unwrap();
        assert_eq!(emb.format, "W8 per-channel");
        assert!(emb.note.as_deref().unwrap().contains("rounded to nearest (RTN)"), "{:?}", emb.note);
    }

    the_driver_checks_its_calibration_and_falls_back_to_rtn {
        let w = small();
        let c = &w.config;
        let mut ids = calib(300, c.vocab_size as u32);
        ids[7] = c.vocab_size as u32;
        let e = quantize_lm_gptq(&w, &gptq_cfg(4, 32), &ids, &mut |_, _| {}).err().unwrap();
        assert!(matches!(&e, LmError::Tokens(m) if m.contains("outside the vocabulary")), "{e}");
        assert!(quantize_lm_gptq(&w, &gptq_cfg(4, 32), &[], &mut |_, _| {}).is_err());
        assert!(matches!(quantize_lm_gptq(&w, &LmQuantConfig { weights: LmWeightFormat::F16, ..gptq_cfg(4, 32) }, &ids[..5], &mut |_, _| {}), Err(LmError::Setting { .. })));
        // Channels 3 and 11 of block 0's attention input made identical: with damp = 0 its H is
        // singular, so wq, wk and wv are rounded with RTN and their notes say why.
        let mut w2 = w.clone();
        for row in w2.tok_embeddings.chunks_exact_mut(c.dim) {
            row[11] = row[3];
        }
        w2.layers[0].attention_norm[11] = w2.layers[0].attention_norm[3];
        let cfg = LmQuantConfig { damp: 0.0, ..gptq_cfg(4, 32) };
        let ids = calib(300, c.vocab_size as u32);
        let q = quantize_lm_gptq(&w2, &cfg, &ids, &mut |_, _| {}).unwrap();
        let rtn = quantize_lm(&w2, &LmQuantConfig { method: LmMethod::Rtn, ..cfg.clone() }).unwrap();
        for (i, name) in ["attention.wq", "attention.wk", "attention.wv"].iter().enumerate() {
            let full = format!("layers.0.{name}");
            let note = q.layers.iter().find(|l| l.name == full).unwrap().note.clone().unwrap_or_default();
            assert!(note.contains(&full) && note.contains("fell back to RTN") && note.contains("not positive definite"), "{note}");
            assert_eq!(rows(q.model.blocks[0].linears()[i].1), rows(rtn.model.blocks[0].linears()[i].1), "{full} is RTN's");
        }
        let wo = q.layers.iter().find(|l| l.name == "layers.0.attention.wo").unwrap();
        assert!(wo.note.is_none(), "{:?}", wo.note);
        // Fewer calibration tokens than a Linear has inputs: its H is rank-deficient, and every
        // block Linear's note says so (the dampening carries the factorisation).
        let few = quantize_lm_gptq(&w, &LmQuantConfig { calib_tokens: 8, ..gptq_cfg(4, 32) }, &ids, &mut |_, _| {}).unwrap();
        for l in few.layers.iter().filter(|l| l.name.starts_with("layers.")) {
            let note = l.note.as_deref().unwrap_or_default();
            assert!(note.contains("calibrated on 8 tokens, fewer than its") && note.contains("rank at most 8"), "{}: {note}", l.name);
        }
        // An input that is 0 on every calibration token (a zeroed RMSNorm channel): GPTQ zeroes
        // its weight column, and the notes of the Linears it feeds say so; the others' do not.
        let mut w3 = w.clone();
        w3.layers[0].attention_norm[5] = 0.0;
        let q = quantize_lm_gptq(&w3, &gptq_cfg(4, 32), &ids, &mut |_, _| {}).unwrap();
        let dead = format!("1 of its {} inputs are 0 on every calibration token", c.dim);
        for l in q.layers.iter().filter(|l| l.name.starts_with("layers.0.")) {
            let note = l.note.as_deref().unwrap_or_default();
            let fed = ["wq", "wk", "wv"].iter().any(|n| l.name.ends_with(n));
            assert_eq!(note.contains(&dead), fed, "{}: {note}", l.name);
        }
    }
}

/// Measurements on the built-in Shakespeare model (native, ignored by default: it reads www/ and
/// takes a minute). Perplexity on the default validation slice (the first 8,193 tokens, as `qplay
/// lm table`) for FP32, RTN and GPTQ; the share of RTN's gap GPTQ recovers; GPTQ's time.
///
/// ```text
/// The built-in model, its training split (calibration) and its validation split, as tokens.
#[cfg(not(target_arch = "wasm32"))]
fn built_in_model_and_texts() -> (LmWeights, Vec<u32>, Vec<u32>) {
    use qplay::lm::corpus::{gunzip_text, MODEL_FILE, TRAIN_FILE, VAL_FILE};
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/www");
    let w = LmWeights::from_safetensors(&std::fs::read(format!("{root}/models/{MODEL_FILE}")).unwrap()).unwrap();
    let tok = CharTokenizer::new(w.alphabet.as_ref().unwrap().chars().collect()).unwrap();
    let read = |f: &str| gunzip_text(&std::fs::read(format!("{root}/data/{f}")).unwrap()).unwrap();
    let (train, val) = (tok.encode(&read(TRAIN_FILE)).unwrap(), tok.encode(&read(VAL_FILE)).unwrap());
    (w, train, val)
}

/// A GPTQ layer further from W on the calibration inputs than RTN is not kept. The built-in
/// model at damp 0: H + λI of layers.0.feed_forward.w2 factorises, but so badly conditioned that
/// GPTQ's error feedback left that layer at 0.7 dB and the model's perplexity at +477 % (a
/// review's run of `#/lm?weights=rtn&bits=4&group=32&method=gptq&damp=0`); only the layers whose
/// Cholesky failed were named. Now it falls back to RTN with a note that says how much worse.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn a_gptq_layer_worse_than_rtn_falls_back_with_a_note() {
    use qplay::lm::eval::perplexity;
    let (w, train, mut val) = built_in_model_and_texts();
    val.truncate(1025);
    let ppl = |m: &LmModel| perplexity(m, &val, KvFormat::F32, |_, _| {}).unwrap().perplexity;
    let cfg = LmQuantConfig { damp: 0.0, calib_tokens: 2048, ..gptq_cfg(4, 32) };
    let q = quantize_lm_gptq(&w, &cfg, &train, &mut |_, _| {}).unwrap();
    let note = |name: &str| q.layers.iter().find(|l| l.name == name).and_then(|l| l.note.clone()).unwrap_or_default();
    let w2 = note("layers.0.feed_forward.w2");
    assert!(w2.contains("GPTQ fell back to RTN: its error on the calibration inputs") && w2.contains("× RTN's"), "{w2}");
    // On 1,024 predictions RTN W4 g32 is within 1 % of FP32; the layer kept had made it ×5.8.
    let (fp32, g) = (ppl(&LmModel::from_weights(&w).unwrap()), ppl(&q.model));
    println!("FP32 {fp32:.4}, GPTQ W4 g32 at damp 0 {g:.4}");
    assert!(g < 1.02 * fp32, "GPTQ at damp 0: perplexity {g} against FP32's {fp32}");
}

/// cargo test --release --test suite gptq_on_the_built_in_model -- --ignored --nocapture
/// GPTQ_CALIB=2048,4096,8192 GPTQ_DAMP=0.01,0.1 GPTQ_ACT=0,1 (each a list; the defaults are the library's)
/// GPTQ_WHICH=w4g32,w3g32,w8 (the configurations); GPTQ_EVAL=N: N validation tokens;
/// GPTQ_SPREAD=0: the first tokens of the training split instead of windows spread over it
/// ```
/// Calibration tokens come from the training split, never from the validation text.
#[cfg(not(target_arch = "wasm32"))]
mod measure {
    use super::*;
    use qplay::lm::eval::perplexity;
    use std::time::Instant;

    /// The default evaluation slice of src/cli_lm.rs (DEFAULT_EVAL_TOKENS).
    const EVAL_TOKENS: usize = 8193;

    fn list<T: std::str::FromStr>(var: &str, default: T) -> Vec<T> {
        match std::env::var(var) {
            Ok(s) => s.split(',').map(|v| v.trim().parse().ok().expect("a number")).collect(),
            Err(_) => vec![default],
        }
    }

    #[test]
    #[ignore]
    fn gptq_on_the_built_in_model() {
        let (w, train, mut val) = built_in_model_and_texts();
        val.truncate(std::env::var("GPTQ_EVAL").map_or(EVAL_TOKENS, |v| v.parse().expect("a token count")));
        let ppl = |m: &LmModel| perplexity(m, &val, KvFormat::F32, |_, _| {}).unwrap().perplexity;
        let fp32 = ppl(&LmModel::from_weights(&w).unwrap());
        println!("FP32 perplexity {fp32:.4} on {} validation tokens", val.len());
        let d = LmQuantConfig::default();
        let which = std::env::var("GPTQ_WHICH").unwrap_or_else(|_| "w4g32,w3g32,w8".into());
        for (bits, group) in [(4u8, 32usize), (3, 32), (8, 0)] {
            if !which.split(',').any(|x| x == format!("w{bits}{}", if group == 0 { String::new() } else { format!("g{group}") })) {
                continue;
            }
            let rtn_cfg = LmQuantConfig { weights: LmWeightFormat::Rtn, bits, group, ..LmQuantConfig::default() };
            let rtn = ppl(&quantize_lm(&w, &rtn_cfg).unwrap().model);
            println!("{}: RTN {rtn:.4}", rtn_cfg.label());
            for &calib in &list("GPTQ_CALIB", d.calib_tokens) {
                for &damp in &list("GPTQ_DAMP", d.damp) {
                    for &act in &list("GPTQ_ACT", d.act_order as u8) {
                        let cfg = LmQuantConfig { method: LmMethod::Gptq, calib_tokens: calib, damp, act_order: act != 0, ..rtn_cfg.clone() };
                        let (t, cpu) = (Instant::now(), cpu_seconds());
                        let spread = std::env::var("GPTQ_SPREAD").map_or(true, |v| v != "0");
                        // The driver spreads its windows over whatever it is given.
                        let calib_ids = if spread { &train[..] } else { &train[..calib] };
                        let q = quantize_lm_gptq(&w, &cfg, calib_ids, &mut |_, _| {}).unwrap();
                        let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
                        let fallbacks = q.layers.iter().filter(|l| l.note.as_deref().is_some_and(|n| n.contains("fell back"))).count();
                        let g = ppl(&q.model);
                        let share = (rtn - g) / (rtn - fp32);
                        println!(
                            "  GPTQ calib {calib:5} damp {damp:<5} act_order {}: {g:.4}  recovers {:5.1} % of RTN's gap  ({secs:.2} s wall, {cpu:.2} s CPU, {fallbacks} fallbacks)",
                            act != 0,
                            share * 100.0
                        );
                    }
                }
            }
        }
    }

    /// CPU seconds of this process (utime + stime from /proc/self/stat, 100 Hz ticks).
    fn cpu_seconds() -> f64 {
        let s = std::fs::read_to_string("/proc/self/stat").unwrap();
        let f: Vec<&str> = s.rsplit_once(')').unwrap().1.split_whitespace().collect();
        (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
    }
}

/// GPTQ's wall time for the whole built-in model in wasm (simd128) under Node:
/// `CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner cargo test --release
/// --target wasm32-unknown-unknown --test node gptq_time_in_wasm -- --include-ignored`
#[cfg(target_arch = "wasm32")]
mod wasm_time {
    use super::*;

    #[wasm_bindgen_test::wasm_bindgen_test]
    #[ignore]
    fn gptq_time_in_wasm() {
        let w = LmWeights::from_safetensors(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/www/models/shakespeare.safetensors"))).unwrap();
        let text = qplay::lm::corpus::gunzip_text(include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/www/data/shakespeare.train.txt.gz"))).unwrap();
        let train = CharTokenizer::new(w.alphabet.as_ref().unwrap().chars().collect()).unwrap().encode(&text).unwrap();
        for (bits, calib) in [(4, 2048), (3, 2048), (4, 4096)] {
            let cfg = LmQuantConfig { calib_tokens: calib, ..gptq_cfg(bits, 32) };
            let t = js_sys::Date::now();
            let q = quantize_lm_gptq(&w, &cfg, &train, &mut |_, _| {}).unwrap();
            let secs = (js_sys::Date::now() - t) / 1000.0;
            assert_eq!(q.layers.len(), 7 * w.config.n_layers + 2);
            wasm_bindgen_test::console_log!("GPTQ W{bits} g32, {calib} calibration tokens: {secs:.2} s (wasm)");
        }
    }
}
