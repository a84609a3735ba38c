//! The language-model trainer (native): gradients against finite differences, its loss
//! against the inference forward pass, and determinism.
#![cfg(not(target_arch = "wasm32"))]

use qplay::lm::train::{backprop::loss_and_grads, batch_loss_and_grads, train, TrainConfig};
use qplay::lm::*;

fn tiny(tied: bool) -> LmConfig {
    LmConfig {
        dim: 16,
        n_layers: 2,
        n_heads: 4,
        n_kv_heads: 2,
        hidden_dim: 24,
        vocab_size: 11,
        seq_len: 8,
        norm_eps: 1e-5,
        rope_theta: 10000.0,
        tied,
    }
}

/// A tiny model with weights large enough that every part of the network matters.
fn tiny_weights(tied: bool, seed: u64) -> LmWeights {
    let mut w = LmWeights::init(&tiny(tied), seed).unwrap();
    let mut i = 0u32;
    let mut bump = |v: &mut Vec<f32>| {
        for x in v.iter_mut() {
            i = i.wrapping_mul(1103515245).wrapping_add(12345);
            *x = *x * 5.0 + ((i >> 16) % 100) as f32 * 1e-3;
        }
    };
    bump(&mut w.tok_embeddings);
    for l in &mut w.layers {
        for m in l.matrices_mut() {
            bump(m);
        }
        bump(&mut l.attention_norm);
        bump(&mut l.ffn_norm);
    }
    if let Some(o) = &mut w.output {
        bump(o);
    }
    w
}

fn tokens(b: usize, t: usize, v: u32) -> Vec<u32> {
    (0..b * (t + 1)).map(|i| ((i * 7 + i / 3) as u32) % v).collect()
}

/// Every tensor of a model, mutable, by name (to poke one coordinate).
fn get<'a>(w: &'a mut LmWeights, name: &str) -> &'a mut Vec<f32> {
    match name {
        "emb" => &mut w.tok_embeddings,
        "norm" => &mut w.norm,
        "output" => w.output.as_mut().unwrap(),
        _ => {
            let (l, n) = name.split_once('.').unwrap();
            let b = &mut w.layers[l.parse::<usize>().unwrap()];
            match n {
                "attention_norm" => &mut b.attention_norm,
                "ffn_norm" => &mut b.ffn_norm,
                "wq" => &mut b.wq,
                "wk" => &mut b.wk,
                "wv" => &mut b.wv,
                "wo" => &mut b.wo,
                "w1" => &mut b.w1,
                "w2" => &mut b.w2,
                "w3" => &mut b.w3,
                _ => unreachable!(),
            }
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    for tied in [false, true] {
        let w = tiny_weights(tied, 3);
        let b = 2;
        let toks = tokens(b, w.config.seq_len, w.config.vocab_size as u32);
        let mut grads = w.clone();
        for p in [&mut grads.tok_embeddings, &mut grads.norm] {
            p.fill(0.0);
        }
        grads.output.iter_mut().for_each(|o| o.fill(0.0));
        for l in &mut grads.layers {
            l.attention_norm.fill(0.0);
            l.ffn_norm.fill(0.0);
            for m in l.matrices_mut() {
                m.fill(0.0);
            }
        }
        loss_and_grads(&w, &toks, b, &mut grads, 1.0);
        let mut names = vec!["emb", "norm"];
        if !tied {
            names.push("output");
        }
        let layer_names = [
            "0.attention_norm", "0.ffn_norm", "0.wq", "0.wk", "0.wv", "0.wo", "0.w1", "0.w2", "0.w3",
            "1.wq", "1.wk", "1.wv", "1.w2",
        ];
        names.extend(layer_names);
        // Central differences with ε = 1e-3 (1e-2 is too coarse where attention is sharp).
        let eps = 1e-3f32;
        let mut checked = 0;
        for name in names {
            let len = get(&mut w.clone(), name).len();
            for j in (0..len).step_by(len / 5 + 1) {
                let mut plus = w.clone();
                get(&mut plus, name)[j] += eps;
                let mut minus = w.clone();
                get(&mut minus, name)[j] -= eps;
                let mut scratch = grads.clone();
                let lp = loss_and_grads(&plus, &toks, b, &mut scratch, 1.0);
                let lm = loss_and_grads(&minus, &toks, b, &mut scratch, 1.0);
                let numeric = ((lp - lm) / (2.0 * eps as f64)) as f32;
                let analytic = get(&mut grads, name)[j];
                let tol = 5e-2 * numeric.abs().max(analytic.abs()) + 5e-3;
                assert!(
                    (numeric - analytic).abs() <= tol,
                    "tied {tied}: d loss / d {name}[{j}]: numeric {numeric}, analytic {analytic}"
                );
                checked += 1;
            }
        }
        assert!(checked > 60);
    }
}

#[test]
fn training_loss_equals_the_inference_forward_pass() {
    let w = tiny_weights(false, 5);
    let t = w.config.seq_len;
    let toks = tokens(3, t, w.config.vocab_size as u32);
    let (mean_loss, _) = batch_loss_and_grads(&w, &toks, 3, 2);
    let model = LmModel::from_weights(&w).unwrap();
    let mut total = 0f64;
    for s in 0..3 {
        let seq = &toks[s * (t + 1)..(s + 1) * (t + 1)];
        let mut cache = KvCache::new(&w.config, KvFormat::F32).unwrap();
        let logits = model.forward(&seq[..t], &mut cache, false, &mut NoProbe).unwrap();
        for (i, row) in logits.chunks_exact(w.config.vocab_size).enumerate() {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &z| m.max(z)) as f64;
            let lse = row.iter().map(|&z| (z as f64 - max).exp()).sum::<f64>().ln() + max;
            total += lse - row[seq[i + 1] as usize] as f64;
        }
    }
    let reference = total / (3 * t) as f64;
    assert!((mean_loss - reference).abs() < 1e-4 * reference, "{mean_loss} vs {reference}");
}

#[test]
fn training_learns_and_is_deterministic() {
    let config = tiny(false);
    let text: Vec<u32> = (0..2000u32).map(|i| [1, 2, 3, 4, 5, 6, 7, 8, 9, 10][(i as usize * 3 + i as usize / 7) % 10]).collect();
    let tc = TrainConfig { steps: 60, batch: 4, warmup: 5, lr: 1e-2, min_lr: 1e-3, eval_every: 60, eval_batches: 1, ..Default::default() };
    let run = || {
        let mut w = LmWeights::init(&config, 11).unwrap();
        let mut lines = vec![];
        train(&mut w, &text[..1600], &text[1600..], &tc, |l| lines.push(l.clone())).unwrap();
        (w, lines)
    };
    let (a, la) = run();
    let (b, lb) = run();
    assert_eq!(a, b, "two runs with the same seed give the same weights");
    assert_eq!(la, lb);
    let first = la[0].train_loss;
    let last = la.last().unwrap();
    assert!(first > 2.0, "starts near ln 11: {first}");
    assert!(last.val_loss.unwrap() < 0.5 * first, "learns: {first} → {:?}", last.val_loss);
    // A different thread count changes only the summation order, not the result's quality.
    let mut tc1 = tc.clone();
    tc1.threads = 1;
    let mut w1 = LmWeights::init(&config, 11).unwrap();
    let mut last1 = None;
    train(&mut w1, &text[..1600], &text[1600..], &tc1, |l| last1 = l.val_loss).unwrap();
    assert!((last1.unwrap() - last.val_loss.unwrap()).abs() < 0.1);
}

/// The committed larger model (README, "A larger model for the methods") has the documented shape
/// and alphabet, and predicts the validation text about as well as the README says (its first
/// 1,025 characters: a loose bound, the README's slice figure is 8,193 characters).
#[test]
fn the_committed_larger_model_is_the_documented_one() {
    let root = env!("CARGO_MANIFEST_DIR");
    let bytes = std::fs::read(format!("{root}/www/models/shakespeare-large.safetensors")).unwrap();
    let w = LmWeights::from_safetensors(&bytes).unwrap();
    assert_eq!(w.config, LmConfig::shakespeare_large());
    assert_eq!(w.config.param_count(), 3_213_568);
    let small = LmWeights::from_safetensors(&std::fs::read(format!("{root}/www/models/shakespeare.safetensors")).unwrap()).unwrap();
    assert_eq!(w.alphabet, small.alphabet, "the same characters, the same ids");
    let text = corpus::gunzip_text(&std::fs::read(format!("{root}/www/data/shakespeare.val.txt.gz")).unwrap()).unwrap();
    let tok = CharTokenizer::new(w.alphabet.clone().unwrap().chars().collect()).unwrap();
    let mut ids = tok.encode(&text).unwrap();
    ids.truncate(1025);
    let m = LmModel::from_weights(&w).unwrap();
    let ppl = qplay::lm::eval::perplexity(&m, &ids, KvFormat::F32, |_, _| {}).unwrap().perplexity;
    assert!((2.0..8.0).contains(&ppl), "perplexity {ppl}");
}
