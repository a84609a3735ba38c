// Quantizing a language model: every format builds and runs, the skip list and per-layer
// bits are honoured, bad settings are typed errors, and seeded generation is the same
// everywhere (the expected tokens were produced natively; Node and Chromium must agree).

use qplay::lm::eval::compare;
use qplay::lm::sample::{generate, SampleConfig};
use qplay::lm::*;
use qplay::ptq::lm::{quantize_lm, LmQuantConfig, LmWeightFormat};

fn small() -> LmWeights {
    LmWeights::from_safetensors(fixture!("lm/random_small.safetensors")).unwrap()
}

fn rtn(bits: u8, group: usize) -> LmQuantConfig {
    LmQuantConfig { weights: LmWeightFormat::Rtn, bits, group, ..LmQuantConfig::default() }
}

fn tokens(n: usize, v: u32) -> Vec<u32> {
    (0..n as u32).map(|i| (i * 13 + i / 5) % v).collect()
}

both! {
    every_format_runs_and_w8_stays_close {
        let w = small();
        let fp32 = LmModel::from_weights(&w).unwrap();
        let ids = tokens(3 * w.config.seq_len + 1, w.config.vocab_size as u32);
        let mut seen = vec![];
        for cfg in [
            rtn(8, 0), rtn(8, 32), rtn(4, 32), LmQuantConfig { symmetric: false, ..rtn(4, 32) }, rtn(3, 32), rtn(2, 0),
            LmQuantConfig { weights: LmWeightFormat::Q8_0, ..LmQuantConfig::default() },
            LmQuantConfig { weights: LmWeightFormat::Q4_0, ..LmQuantConfig::default() },
            LmQuantConfig { weights: LmWeightFormat::Q4_1, ..LmQuantConfig::default() },
            LmQuantConfig { weights: LmWeightFormat::F16, ..LmQuantConfig::default() },
            LmQuantConfig { weights: LmWeightFormat::Bf16, ..LmQuantConfig::default() },
            LmQuantConfig { int8_acts: true, ..rtn(8, 0) },
            LmQuantConfig { int8_acts: true, ..rtn(4, 32) },
            LmQuantConfig { kv: KvFormat::Int8, ..rtn(8, 0) },
        ] {
            let q = quantize_lm(&w, &cfg).unwrap();
            let c = compare(&fp32, &q.model, &ids, cfg.kv, |_, _| {}).unwrap();
            assert!(c.quantized.perplexity.is_finite() && c.mean_kl >= 0.0, "{}", cfg.label());
            assert_eq!(c.layers.len(), 7 * w.config.n_layers + 1, "every projection and the head are scored");
            seen.push((cfg.label(), c.mean_kl, q.model.weight_bytes()));
        }
        let kl = |label: &str| seen.iter().find(|s| s.0 == label).unwrap().1;
        assert!(kl("W8 per-channel RTN") < 1e-3, "{seen:?}");
        assert!(kl("W8 per-channel RTN") < kl("W4 g32 RTN"));
        assert!(kl("W4 g32 RTN") < kl("W2 per-channel RTN"));
        let bytes = |label: &str| seen.iter().find(|s| s.0 == label).unwrap().2;
        assert!(bytes("W4 g32 RTN") < bytes("W8 per-channel RTN"));
        assert!(bytes("Q4_0") < bytes("Q8_0"));
    }

    linears_reading_one_input_give_what_each_gives_alone {
        use qplay::runtime::qmatmul::{quantize_activations, QuantizedActs};
        let w = small();
        let d = w.config.dim;
        let model = |cfg: LmQuantConfig| quantize_lm(&w, &cfg).unwrap().model;
        let (w8a8, w4a8, fp32) = (model(LmQuantConfig { int8_acts: true, ..rtn(8, 0) }), model(LmQuantConfig { int8_acts: true, ..rtn(4, 32) }), LmModel::from_weights(&w).unwrap());
        let (b8, b4, bf) = (&w8a8.blocks[0], &w4a8.blocks[0], &fp32.blocks[0]);
        // int8 per channel, float, int8 g32, then int8 per channel again: x is quantized again
        // whenever the group changes, and the float layer in between leaves the scratch alone.
        let linears = [&b8.wq, &bf.wk, &b4.wv, &b8.wk, &b8.wv];
        for m in [1, 3] {
            let x: Vec<f32> = (0..m * d).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect();
            let alone: Vec<Vec<f32>> = linears
                .iter()
                .map(|l| {
                    let mut y = vec![0f32; m * l.n()];
                    l.forward(&x, m, &mut y, &mut QuantizedActs::default()).unwrap();
                    y
                })
                .collect();
            // The scratch starts out holding another input quantized with the first layer's group.
            let other: Vec<f32> = x.iter().map(|v| v * 3.0 + 1.0).collect();
            let mut acts = quantize_activations(&other, m, d, d).unwrap();
            let mut ys: Vec<Vec<f32>> = linears.iter().map(|l| vec![0f32; m * l.n()]).collect();
            let mut outs: Vec<(&LmLinear, &mut [f32])> = linears.iter().copied().zip(ys.iter_mut().map(|y| y.as_mut_slice())).collect();
            LmLinear::forward_same_input(&x, m, &mut outs, &mut acts).unwrap();
            assert_eq!(ys, alone, "m = {m}");
        }
    }

    widths_without_a_kernel_simulate_int8_activations_too {
        use qplay::runtime::qmatmul::{quantize_activations, QuantizedActs};
        let w = small();
        let d = w.config.dim;
        let model = |cfg: LmQuantConfig| quantize_lm(&w, &cfg).unwrap().model;
        let (w3, w3a8) = (model(rtn(3, 32)), model(LmQuantConfig { int8_acts: true, ..rtn(3, 32) }));
        let (plain, acts8) = (&w3.blocks[0].wq, &w3a8.blocks[0].wq);
        assert_eq!(plain.acts_group(), None);
        assert_eq!(acts8.acts_group(), Some(32));
        assert!(acts8.engine().contains("int8 activations"), "{}", acts8.engine());
        let m = 2;
        let x: Vec<f32> = (0..m * d).map(|i| ((i * 53 % 97) as f32 - 48.0) / 13.0).collect();
        // What the integer kernels multiply: s_x · q_x per token and group of 32.
        let a = quantize_activations(&x, m, d, 32).unwrap();
        let xq: Vec<f32> = a.q.iter().enumerate().map(|(i, &q)| a.scale[i / 32] * q as f32).collect();
        let (mut expected, mut got, mut float_acts) = (vec![0f32; m * d], vec![0f32; m * d], vec![0f32; m * d]);
        plain.forward(&xq, m, &mut expected, &mut QuantizedActs::default()).unwrap();
        acts8.forward(&x, m, &mut got, &mut QuantizedActs::default()).unwrap();
        plain.forward(&x, m, &mut float_acts, &mut QuantizedActs::default()).unwrap();
        assert_eq!(got, expected);
        assert_ne!(got, float_acts, "the activations are quantized");
        // The W3A8 model scores differently from W3 with float activations.
        let fp32 = LmModel::from_weights(&w).unwrap();
        let ids = tokens(w.config.seq_len + 1, w.config.vocab_size as u32);
        let kl = |q: &LmModel| compare(&fp32, q, &ids, KvFormat::F32, |_, _| {}).unwrap().mean_kl;
        assert_ne!(kl(&w3), kl(&w3a8));
    }

    w8a8_per_channel_runs_on_the_int8_gemm_with_the_grouped_kernels_bits {
        // Every quantized Linear of a W8A8 per-channel model carries gemm_i8 panels; the model's
        // logits over a prefill and a decoded token are the bits of the same model on the grouped
        // kernels (panels removed). W8A16 and W4A8 carry none.
        let w = small();
        let q = quantize_lm(&w, &LmQuantConfig { int8_acts: true, ..rtn(8, 0) }).unwrap().model;
        let mut grouped = q.clone();
        let mut packed = 0;
        for b in grouped.blocks.iter_mut() {
            for l in [&mut b.wq, &mut b.wk, &mut b.wv, &mut b.wo, &mut b.w1, &mut b.w2, &mut b.w3] {
                let LmLinear::Grouped { panels, .. } = l else { panic!("W8A8 is on the integer kernels") };
                packed += usize::from(panels.take().is_some());
            }
        }
        assert_eq!(packed, 7 * w.config.n_layers);
        let t = w.config.seq_len;
        let ids = tokens(t, w.config.vocab_size as u32);
        let run = |m: &LmModel| {
            let mut cache = KvCache::new(&m.config, KvFormat::F32).unwrap();
            let mut out = m.forward(&ids[..t - 1], &mut cache, false, &mut NoProbe).unwrap();
            out.extend(m.forward(&ids[t - 1..], &mut cache, true, &mut NoProbe).unwrap());
            out
        };
        let (a, b) = (run(&q), run(&grouped));
        assert_eq!(a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), b.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        for cfg in [rtn(8, 0), LmQuantConfig { int8_acts: true, ..rtn(4, 32) }] {
            let m = quantize_lm(&w, &cfg).unwrap().model;
            assert!(matches!(&m.blocks[0].w1, LmLinear::Grouped { panels: None, .. }), "{cfg:?}");
        }
        // Switching int8 activations on later packs too.
        let w8 = quantize_lm(&w, &rtn(8, 0)).unwrap().model;
        let on = w8.blocks[0].wo.clone().with_int8_acts(w.config.dim);
        assert!(matches!(on, LmLinear::Grouped { panels: Some(_), int8_acts: true, .. }));
    }

    windows_shared_among_workers_add_up_to_the_one_run_comparison {
        use qplay::experiment::shard::Shard;
        use qplay::lm::eval::{compare_with, merge_windows, score_windows, window_count, Comparison};
        let w = small();
        let fp32 = LmModel::from_weights(&w).unwrap();
        // Five windows, the last one short.
        let ids = tokens(4 * w.config.seq_len + 7, w.config.vocab_size as u32);
        let total = window_count(ids.len(), w.config.seq_len);
        assert_eq!(total, 5);
        let cfg = LmQuantConfig { int8_acts: true, kv: KvFormat::Int8, ..rtn(4, 32) };
        let q = quantize_lm(&w, &cfg).unwrap();
        let one = compare_with(&fp32, &q.model, &ids, cfg.kv, |_, _, _| {}).unwrap();
        for count in [1, 2, 3, 7] {
            let mut parts = Vec::new();
            let mut ranges = Vec::new();
            for index in 0..count {
                let (scores, r) = score_windows(&fp32, None, &q.model, &ids, cfg.kv, Shard::new(index, count).unwrap(), |_, _, _| {}).unwrap();
                parts.push(scores);
                ranges.push(r);
            }
            let merged = Comparison::from_windows(&merge_windows(parts.clone(), total).unwrap(), ranges.swap_remove(0));
            // Debug prints each f64 exactly: the same text is the same bits.
            let key = |c: &Comparison| format!("{:?} {:?} {} {} {} {} {:?}", c.fp32, c.quantized, c.delta_pct, c.mean_kl, c.top1_same, c.rms_delta_p, c.layers);
            assert_eq!(key(&merged), key(&one), "{count} workers");
            parts[0].pop();
            assert!(merge_windows(parts, total).is_err(), "a lost window is refused");
        }
    }

    the_skip_list_and_layer_bits_are_honoured {
        let w = small();
        let q = quantize_lm(&w, &rtn(8, 0)).unwrap();
        let fmt = |q: &qplay::ptq::lm::QuantizedLm, name: &str| q.layers.iter().find(|l| l.name == name).unwrap().format.clone();
        assert_eq!(fmt(&q, "output"), "f32");
        assert_eq!(fmt(&q, "tok_embeddings"), "f32");
        assert_eq!(fmt(&q, "layers.0.attention.wq"), "W8 per-channel");
        assert_eq!(q.layers.iter().find(|l| l.name == "layers.0.attention.wq").unwrap().engine, "int8 weights × f32 (W8A16)");
        let all = quantize_lm(&w, &LmQuantConfig { skip: vec![], ..rtn(8, 0) }).unwrap();
        assert_eq!(fmt(&all, "output"), "W8 per-channel");
        let lm_head = quantize_lm(&w, &LmQuantConfig { skip: vec!["lm_head".into(), "attention.wq".into()], ..rtn(8, 0) }).unwrap();
        assert_eq!(fmt(&lm_head, "output"), "f32");
        assert_eq!(fmt(&lm_head, "layers.1.attention.wq"), "f32");
        assert_eq!(fmt(&lm_head, "tok_embeddings"), "W8 per-channel");
        // An entry is whole dotted parts of a name, wherever they sit: "attention" is every
        // attention Linear (Golden Stick's opname_blacklist matches such a part too).
        let attention = quantize_lm(&w, &LmQuantConfig { skip: vec!["attention".into()], ..rtn(8, 0) }).unwrap();
        for l in &attention.layers {
            let kept = l.name.contains(".attention.");
            assert_eq!(l.format == "f32", kept, "{}: {}", l.name, l.format);
        }
        let ffn = quantize_lm(&w, &LmQuantConfig { skip: vec!["feed_forward".into(), "layers.1.attention".into()], ..rtn(8, 0) }).unwrap();
        assert_eq!(fmt(&ffn, "layers.0.feed_forward.w3"), "f32");
        assert_eq!(fmt(&ffn, "layers.1.attention.wo"), "f32");
        assert_eq!(fmt(&ffn, "layers.0.attention.wo"), "W8 per-channel");
        let mut cfg = rtn(8, 0);
        cfg.layer_bits.insert("feed_forward.w2".into(), 4);
        cfg.layer_bits.insert("layers.1.feed_forward.w1".into(), 3);
        let mixed = quantize_lm(&w, &cfg).unwrap();
        assert_eq!(fmt(&mixed, "layers.0.feed_forward.w2"), "W4 per-channel");
        assert_eq!(fmt(&mixed, "layers.1.feed_forward.w1"), "W3 per-channel (simulated)");
        assert!(mixed.layers.iter().find(|l| l.name == "layers.1.feed_forward.w1").unwrap().note.as_ref().unwrap().contains("no integer kernel"));
    }

    a_group_that_does_not_divide_a_layer_quantizes_it_per_channel {
        // A model of hidden size 36 (w2 has 36 inputs, the others 32): a group that does not
        // divide a layer's inputs quantizes it per channel (as group 0 does, the same values), and
        // its label says why; llama.cpp's block formats refuse rows of 36, as llama.cpp does.
        let mut w = small();
        let (d, f) = (w.config.dim, 36);
        w.config.hidden_dim = f;
        for l in &mut w.layers {
            l.w1.truncate(f * d);
            l.w3.truncate(f * d);
            l.w2 = (0..d * f).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.02).collect();
        }
        let fmt = |q: &qplay::ptq::lm::QuantizedLm, name: &str| q.layers.iter().find(|l| l.name == name).unwrap().format.clone();
        let g32 = quantize_lm(&w, &rtn(4, 32)).unwrap();
        assert_eq!(fmt(&g32, "layers.0.feed_forward.w1"), "W4 g32");
        assert_eq!(fmt(&g32, "layers.0.feed_forward.w2"), "W4 per-channel (g32 does not divide its 36 inputs) (simulated)");
        let g64 = quantize_lm(&w, &rtn(4, 64)).unwrap();
        assert_eq!(fmt(&g64, "layers.1.attention.wq"), "W4 per-channel (g64 does not divide its 32 inputs)");
        let per_channel = quantize_lm(&w, &rtn(4, 0)).unwrap();
        let ids = tokens(20, w.config.vocab_size as u32);
        let logits = |q: &qplay::ptq::lm::QuantizedLm| {
            let mut cache = KvCache::new(&w.config, KvFormat::F32).unwrap();
            q.model.forward(&ids, &mut cache, true, &mut NoProbe).unwrap()
        };
        assert_eq!(logits(&g64), logits(&per_channel), "g64 divides no layer: the model of group 0");
        let e = quantize_lm(&w, &LmQuantConfig { weights: LmWeightFormat::Q4_0, ..LmQuantConfig::default() }).err().expect("Q4_0 on rows of 36");
        assert!(e.to_string().contains("not 36 (llama.cpp refuses it too)"), "{e}");
    }

    bad_settings_are_typed_errors {
        let w = small();
        for (cfg, setting) in [
            (rtn(9, 0), "bits"),
            (rtn(1, 0), "bits"),
            (rtn(4, 48), "group"),
            (LmQuantConfig { int8_acts: true, ..LmQuantConfig::default() }, "int8_acts"),
        ] {
            let e = quantize_lm(&w, &cfg).err().unwrap_or_else(|| panic!("{} must fail", cfg.label()));
            assert!(matches!(&e, LmError::Setting { name, .. } if *name == setting), "{}: {e}", cfg.label());
        }
        // A misspelt name in the skip list or the per-layer bits is named, never ignored.
        for (cfg, setting, name) in [
            (LmQuantConfig { skip: vec!["output".into(), "tok_embedings".into()], ..rtn(8, 0) }, "skip", "tok_embedings"),
            (LmQuantConfig { skip: vec!["layers.9".into()], ..rtn(8, 0) }, "skip", "layers.9"),
            (LmQuantConfig { skip: vec!["ttention".into()], ..rtn(8, 0) }, "skip", "ttention"),
            (LmQuantConfig { skip: vec!["".into()], ..rtn(8, 0) }, "skip", "\"\""),
            (LmQuantConfig { layer_bits: [("feed_forwad.w2".to_string(), 4u8)].into(), ..rtn(8, 0) }, "layer_bits", "feed_forwad.w2"),
        ] {
            let e = quantize_lm(&w, &cfg).err().unwrap_or_else(|| panic!("{name} must fail"));
            assert!(matches!(&e, LmError::Setting { name: s, message } if *s == setting && message.contains(name)), "{e}");
        }
        for ok in [vec!["lm_head".to_string()], vec!["attention.wq".into()], vec!["layers.1".into(), "feed_forward.w3".into(), "layers.0.attention.wk".into()]] {
            quantize_lm(&w, &LmQuantConfig { skip: ok.clone(), ..rtn(8, 0) }).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
        }
        let mut bad = w.clone();
        bad.layers[0].wv[3] = f32::INFINITY;
        assert!(matches!(quantize_lm(&bad, &rtn(8, 0)), Err(LmError::NonFinite { .. })));
    }

    seeded_generation_is_the_same_everywhere {
        let w = small();
        let m = LmModel::from_weights(&w).unwrap();
        let cfg = SampleConfig { temperature: 1.0, top_k: 20, top_p: 0.9, seed: 7 };
        let run = || generate(&m, &[1, 2, 3], 20, KvFormat::F32, &cfg, &[], |_| true).unwrap().iter().map(|g| g.token).collect::<Vec<_>>();
        let a = run();
        assert_eq!(a, run());
        assert_eq!(a, EXPECTED_SAMPLED, "the same seed gives the same tokens on every platform");
        let greedy = generate(&m, &[1, 2, 3], 5, KvFormat::F32, &SampleConfig { temperature: 0.0, ..cfg.clone() }, &[], |_| true).unwrap();
        let mut cache = KvCache::new(&w.config, KvFormat::F32).unwrap();
        let logits = m.forward(&[1, 2, 3], &mut cache, true, &mut NoProbe).unwrap();
        let argmax = logits.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0;
        assert_eq!(greedy[0].token as usize, argmax);
        // The context holds seq_len tokens: generation stops there, a longer prompt is refused.
        let long = vec![1u32; w.config.seq_len];
        let e = generate(&m, &long, 5, KvFormat::F32, &cfg, &[], |_| true).unwrap_err();
        assert!(e.to_string().contains("context"), "{e}");
        let all = generate(&m, &[1], 1000, KvFormat::F32, &cfg, &[], |_| true).unwrap();
        assert_eq!(all.len(), w.config.seq_len);
        assert!(SampleConfig { top_p: 0.0, ..cfg.clone() }.validate().is_err());
        assert!(SampleConfig { temperature: f32::NAN, ..cfg }.validate().is_err());
    }
}

both! {
    /// Top-k and top-p select the most probable (ties by id) without sorting the vocabulary: every
    /// draw equals one from a sampler written from the doc comment's rule with a full sort,
    /// on logits with many ties, k from 1 past the vocabulary, with and without top-p.
    top_k_draws_what_a_full_sort_draws {
        use rand::{Rng, SeedableRng};
        use rand_chacha::ChaCha8Rng;
        fn by_full_sort(logits: &[f32], cfg: &SampleConfig, rng: &mut ChaCha8Rng) -> u32 {
            let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
            let mut p: Vec<(usize, f64)> = logits.iter().enumerate().map(|(i, &z)| (i, ((z as f64 - max) / cfg.temperature as f64).exp())).collect();
            let total: f64 = p.iter().map(|x| x.1).sum();
            p.iter_mut().for_each(|x| x.1 /= total);
            p.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
            if cfg.top_k > 0 {
                p.truncate(cfg.top_k);
            }
            if cfg.top_p < 1.0 {
                let mut mass = 0.0;
                if let Some(i) = p.iter().position(|x| { mass += x.1; mass >= cfg.top_p as f64 }) {
                    p.truncate(i + 1);
                }
            }
            let kept: f64 = p.iter().map(|x| x.1).sum();
            let u = rng.random::<f64>() * kept;
            let mut acc = 0.0;
            p.iter().find(|x| { acc += x.1; u < acc }).unwrap_or(p.last().unwrap()).0 as u32
        }
        let mut gen = ChaCha8Rng::seed_from_u64(3);
        let mut drawn = std::collections::BTreeSet::new();
        for trial in 0..200 {
            let v = 1 + gen.random_range(0..if trial % 5 == 0 { 3000 } else { 300usize });
            // Few distinct values: many ties the order must break by id.
            let logits: Vec<f32> = (0..v).map(|_| gen.random_range(0..6u8) as f32 * 0.7).collect();
            let top_k = [0, 1, 2, 7, v / 2, v, v + 5][trial % 7];
            let top_p = [1.0, 0.5, 0.95][trial % 3];
            let cfg = SampleConfig { temperature: 0.9, top_k, top_p, seed: trial as u64 };
            let (mut a, mut b) = (ChaCha8Rng::seed_from_u64(trial as u64), ChaCha8Rng::seed_from_u64(trial as u64));
            for _ in 0..5 {
                let got = qplay::lm::sample::sample(&logits, &cfg, &mut a);
                assert_eq!(got, by_full_sort(&logits, &cfg, &mut b), "trial {trial}: v {v}, top_k {top_k}, top_p {top_p}");
                drawn.insert(got);
            }
        }
        assert!(drawn.len() > 20, "the draws vary: {drawn:?}");
    }
}

both! {
    /// The calibrated methods work on the blocks' Linears: a rounded embedding table or head
    /// says that the method did not reach it (RTN's rows have no such note; a skipped head none).
    the_head_says_when_the_method_did_not_reach_it {
        use qplay::ptq::lm::LmMethod;
        use qplay::ptq::lm_method::quantize_with_method;
        let w = small();
        let calib = tokens(600, w.config.vocab_size as u32);
        let note = |cfg: LmQuantConfig, name: &str| {
            let r = quantize_with_method(&w, &cfg, &calib, &mut |_, _| {}).unwrap();
            r.quantized.layers.iter().find(|l| l.name == name).unwrap().note.clone().unwrap_or_default()
        };
        let all = |method, int8_acts, awq_gptq| LmQuantConfig { method, int8_acts, awq_gptq, calib_tokens: 256, skip: vec![], ..rtn(8, 0) };
        assert!(note(all(LmMethod::Awq, false, false), "output").starts_with("AWQ scales the blocks' Linears; this one is rounded to nearest (RTN)"));
        assert!(note(all(LmMethod::Awq, false, true), "output").starts_with("GPTQ covers the blocks' Linears"));
        assert!(note(all(LmMethod::Gptq, false, false), "tok_embeddings").starts_with("GPTQ covers the blocks' Linears"));
        assert!(note(all(LmMethod::SmoothQuant, true, false), "output").starts_with("SmoothQuant smooths the blocks' Linears; this one is quantized without smoothing"));
        assert!(!note(all(LmMethod::Rtn, false, false), "output").contains("blocks"));
        assert!(!note(LmQuantConfig { skip: vec!["output".into()], ..all(LmMethod::Awq, false, false) }, "output").contains("AWQ"));
        assert!(!note(all(LmMethod::Awq, false, false), "layers.0.attention.wq").contains("blocks' Linears"));
    }
}

const EXPECTED_SAMPLED: [u32; 20] = [7, 63, 35, 57, 57, 6, 41, 37, 46, 15, 46, 34, 61, 62, 55, 9, 62, 26, 52, 45];

both! {
    /// A layer's bits: the last (in key order) `layer_bits` entry that names it, exactly, as a
    /// dotted prefix or suffix, or as lm_head for output; against a scan written from that rule.
    layer_bits_pick_the_last_entry_that_names_the_layer {
        let names = ["tok_embeddings", "output", "layers.0.attention.wq", "layers.10.attention.wq", "layers.1.feed_forward.w2", "layers.0.attention.wo"];
        let entries = ["layers.0", "attention.wq", "wq", "lm_head", "output", "layers.1.feed_forward", "feed_forward.w2", "w2", "layers.1", "attention",
                       "layers.10.attention.wq", "0.attention", "layers", "tok_embeddings", "ayers.0.attention.wq", "layers.0.attention.w"];
        let names_it = |e: &str, n: &str| {
            let e = if e == "lm_head" { "output" } else { e };
            n == e || n.ends_with(&format!(".{e}")) || n.starts_with(&format!("{e}."))
        };
        // Every subset of entries up to 4, with bits 2, 3, 4, … in order of insertion.
        let mut cases = 0;
        for mask in 0u32..(1 << entries.len()) {
            if mask.count_ones() > 4 {
                continue;
            }
            let mut cfg = LmQuantConfig { weights: LmWeightFormat::Rtn, bits: 8, ..LmQuantConfig::default() };
            for (k, e) in entries.iter().enumerate().filter(|(k, _)| mask >> k & 1 == 1) {
                cfg.layer_bits.insert(e.to_string(), 2 + (k % 6) as u8);
            }
            for n in names {
                let scan = cfg.layer_bits.iter().filter(|(e, _)| names_it(e, n)).map(|(_, &b)| b).next_back().unwrap_or(cfg.bits);
                assert_eq!(cfg.bits_of(n), scan, "{n} under {:?}", cfg.layer_bits);
            }
            cases += 1;
        }
        assert!(cases > 2000, "{cases}");
    }
}

/// A results row is told apart by its label: the settings that differ from the defaults and
/// change the model are named (the dampening and calibration tokens only where a method reads
/// them), so two rows never read the same for different models.
#[test]
fn a_label_names_the_settings_that_differ_from_the_defaults() {
    use qplay::ptq::lm::LmMethod;
    let base = rtn(4, 32);
    assert_eq!(base.label(), "W4 g32 RTN");
    // RTN reads neither: not named.
    assert_eq!(LmQuantConfig { damp: 0.05, calib_tokens: 4096, ..base.clone() }.label(), "W4 g32 RTN");
    let gptq = LmQuantConfig { method: LmMethod::Gptq, damp: 0.05, calib_tokens: 4096, skip: Vec::new(), ..base.clone() };
    assert_eq!(gptq.label(), "W4 g32 GPTQ, damp 0.05, 4096 calibration tokens, every Linear quantized");
    let widths = LmQuantConfig { skip: vec!["output".into()], layer_bits: (1..=6).map(|i| (format!("layers.{i}"), 8)).collect(), ..base };
    assert_eq!(widths.label(), "W4 g32 RTN, FP32: output, bits layers.1=8 layers.2=8 layers.3=8 layers.4=8 +2 more");
    assert_eq!(LmQuantConfig { kv: KvFormat::Int8, ..widths }.label().matches("+ KV int8").count(), 1);
    // Float formats: F32 rounds nothing (its skip list changes nothing, so it is not named); F16
    // rounds what is not skipped.
    let float = |weights, skip: &[&str]| LmQuantConfig { weights, skip: skip.iter().map(|s| s.to_string()).collect(), ..LmQuantConfig::default() }.label();
    assert_eq!(float(LmWeightFormat::F32, &[]), "F32");
    assert_eq!(float(LmWeightFormat::F32, &["layers.0"]), "F32");
    assert_eq!(float(LmWeightFormat::F16, &[]), "F16, every Linear in F16");
    assert_eq!(float(LmWeightFormat::Bf16, &["layers.0"]), "BF16, FP32: layers.0");
    assert_eq!(float(LmWeightFormat::Q4_0, &[]), "Q4_0, every Linear quantized");
}

/// FP32 against a quantized model in tokens/s (the page's table, as Neural Compressor's has
/// them): both rates measured, at most the context's tokens, and models of two shapes refused.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn pair_speed_times_both_models() {
    use qplay::lm::bench::{pair_speed, PAIR_DECODE_TOKENS, PAIR_PREFILL_TOKENS};
    let w = small();
    let fp32 = LmModel::from_weights(&w).unwrap();
    let q = quantize_lm(&w, &rtn(8, 0)).unwrap().model;
    let t0 = std::time::Instant::now();
    let clock = || t0.elapsed().as_secs_f64();
    let s = pair_speed(&clock, &fp32, &q, KvFormat::Int8, 3).unwrap();
    assert_eq!(s.decode_tokens, PAIR_DECODE_TOKENS.min(w.config.seq_len));
    assert_eq!(s.prefill_tokens, PAIR_PREFILL_TOKENS.min(w.config.seq_len));
    assert!(s.decode.iter().chain(&s.prefill).all(|&r| r.is_finite() && r > 0.0), "{s:?}");
    let other = LmModel::from_weights(&LmWeights::from_safetensors(fixture!("lm/random_small.safetensors")).map(|mut w| {
        w.config.seq_len /= 2;
        w
    }).unwrap());
    if let Ok(other) = other {
        assert!(pair_speed(&clock, &fp32, &other, KvFormat::F32, 1).is_err());
    }
}
