// Inside one projection (src/lm/inspect.rs): every quantized weight of the row sits on its
// group's grid, RTN is within half a step of FP32, the histograms count every weight, bad
// names and rows are typed errors. The step-by-step generator and scorer (what the page's
// side-by-side generation streams) give the same tokens as `generate` and the same
// probabilities as one full forward pass; `log_prob` (the perplexity's per-token score) is
// `log_softmax` at the target, bit for bit.

use qplay::lm::eval::log_softmax;
use qplay::lm::inspect::{projection_names, weight_view};
use qplay::lm::sample::{generate, Generator, SampleConfig, Scorer};
use qplay::lm::*;
use qplay::ptq::lm::{quantize_lm, LmQuantConfig, LmWeightFormat};

fn small() -> LmWeights {
    LmWeights::from_safetensors(fixture!("lm/random_small.safetensors")).unwrap()
}

both! {
    w4_rows_sit_on_their_group_grids {
        let w = small();
        let fp32 = LmModel::from_weights(&w).unwrap();
        let cfg = LmQuantConfig { weights: LmWeightFormat::Rtn, bits: 4, group: 32, ..LmQuantConfig::default() };
        let q = quantize_lm(&w, &cfg).unwrap().model;
        let names = projection_names(&q);
        assert!(names.contains(&"layers.0.attention.wq".to_string()) && names.contains(&"output".to_string()), "{names:?}");
        let v = weight_view(&fp32, &q, "layers.0.feed_forward.w2", 3).unwrap();
        assert_eq!((v.bits, v.group, v.row), (Some(4), Some(32), 3));
        assert_eq!(v.grids.len(), v.k / 32);
        let total = (v.n * v.k) as f64;
        assert_eq!(v.fp32_counts.iter().sum::<f64>(), total);
        assert_eq!(v.quantized_counts.iter().sum::<f64>(), total);
        for g in &v.grids {
            // Symmetric 4-bit with the full range: 16 levels −8s … 7s, one step |s| apart
            // (s < 0 when the group's largest magnitude is negative, as llama.cpp does).
            assert_eq!(g.levels.len(), 16);
            assert_eq!(g.levels[0], (-8.0 * g.scale).min(7.0 * g.scale));
            assert_eq!(g.levels[15], (-8.0 * g.scale).max(7.0 * g.scale));
            for j in g.start..g.start + g.len {
                let (x, xq) = (v.fp32[j], v.quantized[j]);
                assert!(g.levels.contains(&xq), "column {j}: {xq} is not on the grid");
                // Round to nearest inside the grid, clamp to its end outside.
                let (lo, hi) = (g.levels[0], g.levels[15]);
                if x > hi {
                    assert_eq!(xq, hi, "column {j}: {x} above the grid");
                } else if x < lo {
                    assert_eq!(xq, lo, "column {j}: {x} below the grid");
                } else {
                    assert!((x - xq).abs() <= 0.5 * g.scale.abs() * (1.0 + 1e-5), "column {j}: |{x} − {xq}| > |s|/2 = {}", g.scale.abs() / 2.0);
                }
            }
        }
        // The output head is skipped by default: float, no grid, a note that says so.
        let out = weight_view(&fp32, &q, "output", 0).unwrap();
        assert!(out.grids.is_empty() && out.bits.is_none() && out.note.is_some());
        assert_eq!(out.fp32, out.quantized);
    }

    q4_1_grids_add_the_minimum {
        let w = small();
        let fp32 = LmModel::from_weights(&w).unwrap();
        let cfg = LmQuantConfig { weights: LmWeightFormat::Q4_1, ..LmQuantConfig::default() };
        let q = quantize_lm(&w, &cfg).unwrap().model;
        let v = weight_view(&fp32, &q, "layers.1.attention.wv", 0).unwrap();
        for g in &v.grids {
            // Q4_1: u = 0 … 15, value s·u + m, so the lowest level is the group's minimum.
            let lo = v.quantized[g.start..g.start + g.len].iter().copied().fold(f32::INFINITY, f32::min);
            assert!(g.levels[0] <= lo);
            assert!((g.levels[1] - g.levels[0] - g.scale.abs()).abs() <= 1e-5 * g.scale.abs().max(1e-6));
            assert!(v.quantized[g.start..g.start + g.len].iter().all(|q| g.levels.contains(q)));
        }
    }

    bad_names_and_rows_are_typed_errors {
        let w = small();
        let fp32 = LmModel::from_weights(&w).unwrap();
        let e = weight_view(&fp32, &fp32, "layers.9.attention.wq", 0).unwrap_err().to_string();
        assert!(e.contains("layers.9.attention.wq"), "{e}");
        assert!(weight_view(&fp32, &fp32, "layers.x.attention.wq", 0).is_err());
        assert!(weight_view(&fp32, &fp32, "", 0).is_err());
        let n = w.config.dim;
        let e = weight_view(&fp32, &fp32, "layers.0.attention.wq", n).unwrap_err().to_string();
        assert!(e.contains(&n.to_string()), "{e}");
    }

    stepping_matches_generate_and_scoring_matches_one_pass {
        let w = small();
        let fp32 = LmModel::from_weights(&w).unwrap();
        let prompt: Vec<u32> = vec![1, 5, 9, 2];
        let cfg = SampleConfig { temperature: 0.9, top_k: 0, top_p: 0.9, seed: 7 };
        let all = generate(&fp32, &prompt, 20, KvFormat::F32, &cfg, &[], |_| true).unwrap();
        let mut g = Generator::new(&fp32, &prompt, KvFormat::F32, &cfg).unwrap();
        let stepped: Vec<_> = (0..20).map_while(|_| g.step().unwrap()).collect();
        assert_eq!(all, stepped);
        // p(token | prefix) from the scorer against one forward pass over the whole text.
        let mut s = Scorer::new(&fp32, &prompt).unwrap();
        let p: Vec<f64> = all.iter().map(|t| s.score(t.token).unwrap().unwrap()).collect();
        let seq: Vec<u32> = prompt.iter().copied().chain(all.iter().map(|t| t.token)).collect();
        let mut cache = KvCache::new(&fp32.config, KvFormat::F32).unwrap();
        let logits = fp32.forward(&seq[..seq.len() - 1], &mut cache, false, &mut NoProbe).unwrap();
        let v = fp32.config.vocab_size;
        for (i, t) in all.iter().enumerate() {
            let row = prompt.len() - 1 + i;
            let want = log_softmax(&logits[row * v..(row + 1) * v])[t.token as usize].exp();
            assert!((p[i] - want).abs() <= 1e-5, "token {i}: {} against {want}", p[i]);
            // The sampled token's own probability is the same figure.
            assert!((t.prob - want).abs() <= 1e-5);
        }
    }

    generation_ends_after_an_end_of_text_token {
        let fp32 = LmModel::from_weights(&small()).unwrap();
        let prompt: Vec<u32> = vec![1, 5, 9, 2];
        let cfg = SampleConfig { temperature: 0.9, top_k: 0, top_p: 0.9, seed: 7 };
        let all = generate(&fp32, &prompt, 20, KvFormat::F32, &cfg, &[], |_| true).unwrap();
        assert_eq!(all.len(), 20);
        // The third token, as an end-of-text id, ends the text where it first appears.
        let end = all[2].token;
        let k = all.iter().position(|g| g.token == end).unwrap();
        let cut = generate(&fp32, &prompt, 20, KvFormat::F32, &cfg, &[end], |_| true).unwrap();
        assert_eq!(cut, all[..=k]);
        let mut g = Generator::new(&fp32, &prompt, KvFormat::F32, &cfg).unwrap().stopping_at(&[u32::MAX, end]);
        assert!(!g.wrote_end_of_text());
        let stepped: Vec<_> = (0..20).map_while(|_| g.step().unwrap()).collect();
        assert_eq!(stepped, cut);
        assert!(g.wrote_end_of_text());
        assert_eq!(g.step().unwrap(), None);
        // An id the model does not write changes nothing, and a full context is no end of text.
        let never = (0..fp32.config.vocab_size as u32).find(|id| all.iter().all(|g| g.token != *id)).unwrap();
        let long = generate(&fp32, &prompt, 1000, KvFormat::F32, &cfg, &[never], |_| true).unwrap();
        assert_eq!(long[..20], all[..]);
        assert_eq!(prompt.len() + long.len(), fp32.config.seq_len + 1);
        let mut g = Generator::new(&fp32, &prompt, KvFormat::F32, &cfg).unwrap().stopping_at(&[never]);
        while g.step().unwrap().is_some() {}
        assert!(!g.wrote_end_of_text());
    }

    a_generator_writes_only_the_ids_its_tokenizer_can {
        // The head is wider than the tokenizer's vocabulary: at a high temperature unused ids were
        // drawn (and printed as "�"). Writing only the first half, none past it is drawn, and a
        // text that drew none before is the same.
        let fp32 = LmModel::from_weights(&small()).unwrap();
        let prompt: Vec<u32> = vec![1, 5, 9, 2];
        let hot = SampleConfig { temperature: 5.0, top_k: 0, top_p: 1.0, seed: 3 };
        let half = fp32.config.vocab_size / 2;
        let free = generate(&fp32, &prompt, 200, KvFormat::F32, &hot, &[], |_| true).unwrap();
        assert!(free.iter().any(|g| g.token as usize >= half), "the test draws some id past the half");
        let g = Generator::new(&fp32, &prompt, KvFormat::F32, &hot).unwrap().writing_only(half);
        let only = g.run(200, |_| true).unwrap();
        assert_eq!(only.len(), free.len(), "as long as the free text (the context fills)");
        assert!(only.iter().all(|g| (g.token as usize) < half), "{:?}", only.iter().map(|g| g.token).collect::<Vec<_>>());
        // Each token's probability is still the model's over its whole head.
        assert!(only.iter().all(|g| g.prob > 0.0 && g.prob < 1.0));
        let cool = SampleConfig { temperature: 0.9, top_k: 0, top_p: 0.9, seed: 7 };
        let before = generate(&fp32, &prompt, 20, KvFormat::F32, &cool, &[], |_| true).unwrap();
        let all_ids = Generator::new(&fp32, &prompt, KvFormat::F32, &cool).unwrap().writing_only(fp32.config.vocab_size);
        assert_eq!(all_ids.run(20, |_| true).unwrap(), before);
    }
}

both! {
    log_prob_is_log_softmax_at_the_target {
        use qplay::lm::eval::log_prob;
        // Ordinary, spread-out and extreme rows: the same f64 bits at every index.
        let rows: [Vec<f32>; 4] = [
            (0..128).map(|i| ((i * 37 % 101) as f32 - 50.0) / 9.0).collect(),
            (0..128).map(|i| if i == 5 { 80.0 } else { -80.0 + i as f32 * 0.01 }).collect(),
            vec![3.0; 7],
            vec![f32::MAX / 2.0, -f32::MAX / 2.0, 0.0],
        ];
        for row in &rows {
            let all = log_softmax(row);
            for (t, want) in all.iter().enumerate() {
                assert_eq!(log_prob(row, t).to_bits(), want.to_bits(), "row of {} at {t}", row.len());
            }
        }
        assert!((log_prob(&rows[2], 0) - (1.0f64 / 7.0).ln()).abs() < 1e-12);
    }
}
