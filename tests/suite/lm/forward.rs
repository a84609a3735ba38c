// The decoder's FP32 forward pass against an independent NumPy (float64) implementation
// (`scripts/lm_reference.py`, fixtures in tests/fixtures/lm/), the KV cache against
// recomputing the prefix, and bad models and tokens as typed errors.

use qplay::lm::*;

/// Allowed |qplay − NumPy| relative to the largest |logit| of the sequence.
const REL_TOLERANCE: f32 = 1e-4;

fn check_against_numpy(model_bytes: &[u8], logits_json: &[u8]) {
    let w = LmWeights::from_safetensors(model_bytes).expect("the fixture model loads");
    let model = LmModel::from_weights(&w).expect("builds");
    let fixture: serde_json::Value = serde_json::from_slice(logits_json).expect("JSON");
    let seqs = fixture["sequences"].as_array().expect("sequences");
    assert!(seqs.len() >= 3);
    for seq in seqs {
        let tokens: Vec<u32> = seq["tokens"].as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect();
        let want: Vec<f32> = seq["logits"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32))
            .collect();
        let mut cache = KvCache::new(&w.config, KvFormat::F32).unwrap();
        let got = model.forward(&tokens, &mut cache, false, &mut NoProbe).unwrap();
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst <= REL_TOLERANCE * scale, "tokens {tokens:?}: max |Δ| {worst} for max |logit| {scale}");
    }
}

both! {
    fp32_logits_match_numpy_untied_gqa {
        check_against_numpy(fixture!("lm/random_small.safetensors"), fixture!("lm/random_small.logits.json"));
    }

    fp32_logits_match_numpy_built_in_model {
        check_against_numpy(
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/www/models/shakespeare.safetensors")),
            fixture!("lm/shakespeare.logits.json"),
        );
    }

    fp32_logits_match_numpy_tied {
        check_against_numpy(fixture!("lm/random_small_tied.safetensors"), fixture!("lm/random_small_tied.logits.json"));
    }

    decoding_with_the_cache_equals_recomputing_the_prefix {
        let w = LmWeights::from_safetensors(fixture!("lm/random_small.safetensors")).unwrap();
        let model = LmModel::from_weights(&w).unwrap();
        let tokens: Vec<u32> = (0..w.config.seq_len as u32).map(|i| (i * 7 + 3) % w.config.vocab_size as u32).collect();
        for format in [KvFormat::F32, KvFormat::F16, KvFormat::Int8] {
            let mut cache = KvCache::new(&w.config, format).unwrap();
            // Prefill 5 tokens at once, then one at a time.
            let mut step = model.forward(&tokens[..5], &mut cache, false, &mut NoProbe).unwrap();
            for i in 5..tokens.len() {
                step.extend(model.forward(&tokens[i..i + 1], &mut cache, false, &mut NoProbe).unwrap());
            }
            let mut full_cache = KvCache::new(&w.config, format).unwrap();
            let full = model.forward(&tokens, &mut full_cache, false, &mut NoProbe).unwrap();
            // Same arithmetic per row, whatever M is: identical results.
            assert_eq!(step, full, "{format:?}");
        }
    }

    a_cache_for_the_first_positions_gives_the_same_logits_and_refuses_more {
        let w = LmWeights::from_safetensors(fixture!("lm/random_small.safetensors")).unwrap();
        let model = LmModel::from_weights(&w).unwrap();
        let tokens: Vec<u32> = (0..9u32).map(|i| (i * 7 + 3) % w.config.vocab_size as u32).collect();
        for format in [KvFormat::F32, KvFormat::F16, KvFormat::Int8] {
            let mut short = KvCache::for_positions(&w.config, format, 9).unwrap();
            assert_eq!(short.capacity(), 9);
            assert_eq!(KvCache::bytes_for(&w.config, format, 9) * w.config.seq_len as u128, KvCache::bytes_for(&w.config, format, w.config.seq_len) * 9);
            let got = model.forward(&tokens, &mut short, false, &mut NoProbe).unwrap();
            let want = model.forward(&tokens, &mut KvCache::new(&w.config, format).unwrap(), false, &mut NoProbe).unwrap();
            assert_eq!(got, want, "{format:?}");
            let err = model.forward(&tokens[..1], &mut short, true, &mut NoProbe).unwrap_err().to_string();
            assert!(err.contains("do not fit the KV cache of 9 tokens"), "{err}");
        }
        // Never more than the context.
        assert_eq!(KvCache::for_positions(&w.config, KvFormat::F32, usize::MAX).unwrap().capacity(), w.config.seq_len);
    }

    kv_cache_formats_stay_close_to_f32 {
        let w = LmWeights::from_safetensors(fixture!("lm/random_small.safetensors")).unwrap();
        let model = LmModel::from_weights(&w).unwrap();
        let tokens: Vec<u32> = (0..w.config.seq_len as u32).map(|i| (i * 5 + 1) % w.config.vocab_size as u32).collect();
        let run = |f| model.forward(&tokens, &mut KvCache::new(&w.config, f).unwrap(), false, &mut NoProbe).unwrap();
        let base = run(KvFormat::F32);
        for (format, tol) in [(KvFormat::F16, 2e-3), (KvFormat::Int8, 5e-2)] {
            let got = run(format);
            let worst = got.iter().zip(&base).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst < tol && worst > 0.0, "{format:?}: {worst}");
        }
    }

    bad_models_and_tokens_are_typed_errors {
        let mut c = LmConfig::shakespeare();
        c.n_heads = 3;
        assert!(matches!(c.validate(), Err(LmError::Config { field: "n_heads", .. })));
        let mut c = LmConfig::shakespeare();
        c.n_kv_heads = 3;
        assert!(matches!(c.validate(), Err(LmError::Config { field: "n_kv_heads", .. })));
        let mut c = LmConfig::shakespeare();
        c.dim = 1 << 30;
        assert!(matches!(c.validate(), Err(LmError::TooLarge { .. })));
        // Dimensions of 2^63 (a 64-bit config.json; 2^31 on wasm32): d · f is 2^126, times 3
        // and the layers past u128, which once wrapped (a panic in debug builds, any count in release).
        let top = 1usize << (usize::BITS - 1);
        let c = LmConfig { dim: top, hidden_dim: top, n_heads: 1, n_kv_heads: 1, vocab_size: 1, n_layers: 1, ..LmConfig::shakespeare() };
        if usize::BITS == 64 {
            assert_eq!(c.param_count(), u128::MAX);
        }
        assert!(matches!(c.validate(), Err(LmError::TooLarge { .. })));
        let mut c = LmConfig::shakespeare();
        c.seq_len = 1 << 30;
        assert!(matches!(c.validate(), Err(LmError::Config { field: "seq_len", .. })));
        // Many tiny blocks: few parameters, but each block costs allocations and bookkeeping.
        let c = LmConfig { dim: 2, n_heads: 1, n_kv_heads: 1, hidden_dim: 2, vocab_size: 4, n_layers: 1025, ..LmConfig::shakespeare() };
        assert!(matches!(c.validate(), Err(LmError::Config { field: "n_layers", .. })));
        assert!(LmConfig { n_layers: 1024, ..c }.validate().is_ok());

        let mut w = LmWeights::from_safetensors(fixture!("lm/random_small.safetensors")).unwrap();
        let model = LmModel::from_weights(&w).unwrap();
        let t = w.config.seq_len;
        let mut cache = KvCache::new(&w.config, KvFormat::F32).unwrap();
        let too_long = vec![1u32; t + 1];
        let e = model.forward(&too_long, &mut cache, false, &mut NoProbe).unwrap_err();
        assert!(e.to_string().contains("context"), "{e}");
        let e = model.forward(&[w.config.vocab_size as u32], &mut cache, false, &mut NoProbe).unwrap_err();
        assert!(e.to_string().contains("outside the vocabulary"), "{e}");
        assert!(model.forward(&[], &mut cache, false, &mut NoProbe).is_err());

        w.layers[1].w2[17] = f32::NAN;
        let e = LmModel::from_weights(&w).unwrap_err();
        assert_eq!(e, LmError::NonFinite { tensor: "layers.1.feed_forward.w2.weight".into(), index: 17 });
        let e = LmWeights::from_safetensors(b"not a model at all").unwrap_err();
        assert!(matches!(e, LmError::Format(_)));
    }

    rmsnorm_survives_a_sum_of_squares_past_f32 {
        // Σx² = 4·(1e20)² overflows f32; the row is still normalised: x / sqrt(mean x²) = ±1.
        let x = [1e20f32, -1e20, 1e20, -1e20];
        let mut out = [0f32; 4];
        qplay::lm::forward::rmsnorm(&mut out, &x, &[1.0, 2.0, 3.0, 4.0], 1e-5);
        assert_eq!(out, [1.0, -2.0, 3.0, -4.0]);
        // The usual path is unchanged: [3, 4] / sqrt(12.5) exactly as f32 computes it.
        qplay::lm::forward::rmsnorm(&mut out[..2], &[3.0, 4.0], &[1.0, 1.0], 0.0);
        let inv = 1.0 / 12.5f32.sqrt();
        assert_eq!(out[..2], [3.0 * inv, 4.0 * inv]);
    }

    activations_past_f32_are_an_error_naming_where {
        // Finite weights that overflow inside the forward pass: an error, never a perplexity of
        // NaN or one of the vocabulary size (uniform logits from rows zeroed by 1/√∞).
        let mut w = LmWeights::from_safetensors(fixture!("lm/random_small.safetensors")).unwrap();
        let tokens = [1u32, 2, 3, 4];
        let run = |w: &LmWeights| {
            let model = LmModel::from_weights(w).unwrap();
            model.forward(&tokens, &mut KvCache::new(&w.config, KvFormat::F32).unwrap(), false, &mut NoProbe)
        };
        assert!(run(&w).is_ok());
        for v in w.layers[1].w2.iter_mut() {
            *v = if *v > 0.0 { 3e38 } else { -3e38 };
        }
        let e = run(&w).unwrap_err();
        assert!(matches!(&e, LmError::Overflow { at, .. } if at == "the residual stream after block 1"), "{e}");
        assert!(e.to_string().contains("overflow f32"), "{e}");
        let model = LmModel::from_weights(&w).unwrap();
        assert!(qplay::lm::eval::perplexity(&model, &[1, 2, 3, 4, 5, 6], KvFormat::F32, |_, _| ()).is_err());
        // The head alone: the residual stream is finite, the logits are not.
        let mut w = LmWeights::from_safetensors(fixture!("lm/random_small.safetensors")).unwrap();
        let head = w.output.as_mut().expect("an untied model");
        head.iter_mut().for_each(|v| *v = if *v > 0.0 { 3e38 } else { -3e38 });
        let e = run(&w).unwrap_err();
        assert!(matches!(&e, LmError::Overflow { at, .. } if at == "the logits"), "{e}");
    }

    safetensors_round_trip_is_exact {
        let w = LmWeights::from_safetensors(fixture!("lm/random_small.safetensors")).unwrap();
        let bytes = w.to_safetensors().unwrap();
        assert_eq!(LmWeights::from_safetensors(&bytes).unwrap(), w);
        let init = LmWeights::init(&LmConfig::shakespeare(), 7).unwrap();
        assert_eq!(LmWeights::from_safetensors(&init.to_safetensors().unwrap()).unwrap(), init);
        assert_eq!(init.config.param_count(), 1_214_080);
    }
}

both! {
    the_portable_exp_is_within_3e7_of_libm {
        use qplay::lm::exp::exp;
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-100.0), 0.0);
        assert_eq!(exp(100.0), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    }
}

both! {
    the_slice_exp_silu_and_softmax_give_the_scalar_bits {
        use qplay::lm::exp::{exp, silu, softmax_numerators, swiglu};
        // Edge values (the range limits, ±∞, NaN, signed zeros) and a sweep: the simd128 lanes
        // must give exactly the scalar function's bits (under Node and in Chromium).
        let mut xs = vec![0.0f32, -0.0, 1.0, -1.0, -87.3, -87.29999, -87.30001, 88.7, 88.69999, 88.70001, -200.0, 200.0,
            f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e-30, -1e-30, 0.5, -0.5];
        let mut x = -95.0f32;
        while x < 95.0 {
            xs.push(x);
            x += 0.0731;
        }
        let u: Vec<f32> = (0..xs.len()).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect();
        let mut a = xs.clone();
        swiglu(&mut a, &u);
        for (i, (&got, &x)) in a.iter().zip(&xs).enumerate() {
            let want = silu(x) * u[i];
            assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "swiglu({x}) = {got}, want {want}");
        }
        // Softmax numerators of finite scores (a row of attention scores), every length 1..40.
        let scores: Vec<f32> = xs.iter().copied().filter(|v| v.is_finite() && v.abs() < 90.0).collect();
        for len in 1..40 {
            let row = &scores[len * 13 % 200..len * 13 % 200 + len];
            let mut s = row.to_vec();
            let sum = softmax_numerators(&mut s);
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let want: Vec<f32> = row.iter().map(|&v| exp(v - max)).collect();
            assert_eq!(s, want, "length {len}");
            let n4 = len / 4 * 4;
            let mut lanes = [0f32; 4];
            for (i, v) in want[..n4].iter().enumerate() {
                lanes[i % 4] += v;
            }
            let tail: f32 = want[n4..].iter().fold(0.0, |t, v| t + v);
            assert_eq!(sum, ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + tail, "length {len}");
        }
        // Rows whose maximum is a signed zero, sits in the tail or in the last lane, rows with
        // NaN (it never wins the maximum) and −∞: the numerators' bits of the scalar rule.
        let nan = f32::NAN;
        let ninf = f32::NEG_INFINITY;
        for row in [
            vec![-0.0, 0.0, -1.0, -0.0, 0.0],
            vec![0.0, -0.0, -0.0, -0.0, -2.0, -0.0, -0.0, -0.0],
            vec![-1.0, -2.0, -3.0, -4.0, 7.5],
            vec![-1.0, -2.0, -3.0, 7.5, -4.0, -5.0, -6.0, -7.0, -8.0],
            vec![nan, 1.0, 2.0, nan, 0.5, -3.0, nan],
            vec![ninf, ninf, 0.5, ninf, ninf],
            vec![2.5; 12],
        ] {
            let mut s = row.clone();
            softmax_numerators(&mut s);
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
            for (i, (&got, &v)) in s.iter().zip(&row).enumerate() {
                let want = exp(v - max);
                assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()), "{row:?} at {i}: {got}, want {want}");
            }
        }
    }
}

/// A model with a large vocabulary: its window's logits (600 × 262,144 f32, 629 MB) exceed one
/// call's working memory, so scoring runs the window in pieces through the KV cache and gives
/// what decoding token by token gives, to the bit. Native only: about 1 GB is in flight.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn a_window_too_large_for_one_call_is_scored_in_pieces() {
    let c = LmConfig { dim: 8, n_layers: 1, n_heads: 1, n_kv_heads: 1, hidden_dim: 8, vocab_size: 262_144, seq_len: 600, tied: true, ..LmConfig::shakespeare() };
    let model = LmModel::from_weights(&LmWeights::init(&c, 3).unwrap()).unwrap();
    let rows = model.rows_per_call();
    assert!(rows > 1 && rows < c.seq_len, "{rows} rows per call");
    assert!(LmModel::work_bytes(&c, rows, false) <= forward::MAX_WORK_BYTES && LmModel::work_bytes(&c, rows + 1, false) > forward::MAX_WORK_BYTES);
    let tokens: Vec<u32> = (0..=c.seq_len as u32).map(|i| (i * 40_503 + 11) % c.vocab_size as u32).collect();
    // One call over the whole window is refused by its size ...
    let mut cache = KvCache::new(&c, KvFormat::F32).unwrap();
    let e = model.forward(&tokens[..c.seq_len], &mut cache, false, &mut NoProbe).unwrap_err();
    assert!(matches!(e, LmError::TooLarge { .. }), "{e}");
    // ... and the last position's logits alone are not (a long prompt before generating).
    cache.clear();
    assert_eq!(model.forward(&tokens[..c.seq_len], &mut cache, true, &mut NoProbe).unwrap().len(), c.vocab_size);
    // Decoding token by token, the reference.
    cache.clear();
    let mut nll = 0f64;
    for i in 0..c.seq_len {
        let row = model.forward(&tokens[i..i + 1], &mut cache, false, &mut NoProbe).unwrap();
        nll -= eval::log_prob(&row, tokens[i + 1] as usize);
    }
    let want = (nll / c.seq_len as f64).exp();
    let p = eval::perplexity(&model, &tokens, KvFormat::F32, |_, _| {}).unwrap();
    assert_eq!((p.perplexity, p.tokens), (want, c.seq_len));
    // A comparison holds FP32's logits (and a layer reference's) beside the quantized model's
    // call: all of it within one call's working memory, plus what no piece size changes (the
    // three KV caches, two rows of log-probabilities).
    let (cmp, held) = crate::alloc_probe::peak_held(|| eval::compare(&model, &model, &tokens, KvFormat::F32, |_, _| {}).unwrap());
    assert_eq!((cmp.fp32.perplexity, cmp.quantized.perplexity, cmp.mean_kl, cmp.top1_same), (want, want, 0.0, 1.0));
    assert!(cmp.layers.iter().all(|l| l.mse == 0.0) && cmp.layers.iter().any(|l| l.name == "output") && !cmp.layers.is_empty());
    let slack = 3 * KvCache::bytes_for(&c, KvFormat::F32, c.seq_len) + 2 * 8 * c.vocab_size as u128 + (1 << 20);
    assert!((held as u128) <= forward::MAX_WORK_BYTES + slack, "a comparison held {held} bytes at once");
    let (with_layers, held) = crate::alloc_probe::peak_held(|| eval::compare_layers_against(&model, Some(&model), &model, &tokens, KvFormat::F32, |_, _| {}).unwrap());
    assert_eq!(with_layers, cmp, "against a layer reference equal to FP32, the same comparison");
    assert!((held as u128) <= forward::MAX_WORK_BYTES + slack, "a comparison against a layer reference held {held} bytes at once");
}
