//! Mixed precision for the language model (src/ptq/lm_sensitivity.rs, `qplay lm search`): the
//! KL it measures is [`compare`]'s, the sensitivities rank layers as quantizing each alone does,
//! the chosen bits meet the budget by sizes recomputed from the layer shapes, its perplexity is
//! re-measured independently, and it is held against the uniform widths of equal or larger size.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use qplay::lm::eval::compare;
use qplay::lm::{CharTokenizer, KvFormat, LmModel, LmWeights};
use qplay::ptq::lm::{quantize_lm, LmQuantConfig, LmWeightFormat};
use qplay::ptq::lm_sensitivity::{compact_bits, search_mixed_precision, with_bits, KlReference, SearchError, SearchSettings, SearchTarget};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn load(path: &str) -> LmWeights {
    LmWeights::from_safetensors(&std::fs::read(PathBuf::from(ROOT).join(path)).expect(path)).expect(path)
}

fn rtn(bits: u8, group: usize) -> LmQuantConfig {
    LmQuantConfig { weights: LmWeightFormat::Rtn, bits, group, ..LmQuantConfig::default() }
}

/// Bytes of an [n, k] RTN Linear at b bits in groups of g (symmetric: one f32 scale per group),
/// from the shape alone.
fn rtn_bytes(n: usize, k: usize, bits: u8, g: usize) -> usize {
    n * k * bits as usize / 8 + n * (k / g) * 4
}

/// [N, K] of every block Linear by name, from the configuration.
fn shapes(w: &LmWeights) -> BTreeMap<String, (usize, usize)> {
    let c = &w.config;
    let (d, kv, f) = (c.dim, c.kv_dim(), c.hidden_dim);
    let mut m = BTreeMap::new();
    for l in 0..c.n_layers {
        for (name, s) in [
            ("attention.wq", (d, d)),
            ("attention.wk", (kv, d)),
            ("attention.wv", (kv, d)),
            ("attention.wo", (d, d)),
            ("feed_forward.w1", (f, d)),
            ("feed_forward.w2", (d, f)),
            ("feed_forward.w3", (f, d)),
        ] {
            m.insert(format!("layers.{l}.{name}"), s);
        }
    }
    m
}

fn val_ids(w: &LmWeights, n: usize) -> Vec<u32> {
    let tok = CharTokenizer::new(w.alphabet.clone().expect("alphabet").chars().collect()).unwrap();
    let gz = std::fs::read(PathBuf::from(ROOT).join("www/data/shakespeare.val.txt.gz")).unwrap();
    let text = qplay::lm::corpus::gunzip_text(&gz).unwrap();
    tok.encode(&text.chars().take(n).collect::<String>()).unwrap()
}

#[test]
fn the_search_on_the_built_in_model_meets_its_budget_and_is_re_measured() {
    let w = load("www/models/shakespeare.safetensors");
    let out = std::env::temp_dir().join(format!("qplay-lm-search-{}.json", std::process::id()));
    let o = Command::new(env!("CARGO_BIN_EXE_qplay"))
        .args(["lm", "search", "--budget-bpw", "6", "--group", "32", "--tokens", "1025", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("layer (most sensitive first)") && err.contains("<- chosen"), "{err}");
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let r = &j["report"];
    let cands = r["candidates"].as_array().unwrap();
    // The sensitivity pass (42 evaluations) is about as long as the candidates' (46), not the
    // moment the first progress came (it once read 0.27 s of 11 s).
    let (sens_s, all_s) = (j["sensitivity_seconds"].as_f64().unwrap(), j["seconds"].as_f64().unwrap());
    assert!(sens_s > 0.2 * all_s && sens_s < 0.9 * all_s, "sensitivity {sens_s} s of {all_s} s");
    let chosen = &cands[r["chosen"].as_u64().unwrap() as usize];
    let bits: BTreeMap<String, u8> = serde_json::from_value(chosen["layer_bits"].clone()).unwrap();
    assert_eq!(serde_json::from_value::<BTreeMap<String, u8>>(j["chosen_layer_bits"].clone()).unwrap(), bits);

    // The size, from the shapes alone: every block Linear at 4 or 8 bits in groups of 32.
    let sh = shapes(&w);
    assert_eq!(bits.keys().collect::<Vec<_>>(), sh.keys().collect::<Vec<_>>(), "the block Linears (output and embedding skipped)");
    let bytes: usize = bits.iter().map(|(n, &b)| rtn_bytes(sh[n].0, sh[n].1, b, 32)).sum();
    let weights: usize = sh.values().map(|(n, k)| n * k).sum();
    assert!(bits.values().all(|&b| (4..=8).contains(&b)));
    assert_eq!(chosen["bytes"].as_u64().unwrap() as usize, bytes);
    assert!(bytes as f64 * 8.0 / weights as f64 <= 6.0, "{bytes} bytes for {weights} weights");
    // Of the candidates that fit (the 4/8 greedy path and the uniform widths), the one of least
    // measured KL.
    let kl = chosen["score"]["mean_kl"].as_f64().unwrap();
    assert_eq!(cands.len(), sh.len() + 1 + 3, "p = 0 … 42, then uniform W5, W6, W7");
    assert!(cands.iter().filter(|c| c["bits_per_weight"].as_f64().unwrap() <= 6.0).all(|c| c["score"]["mean_kl"].as_f64().unwrap() >= kl));

    // Its perplexity and KL re-measured with the evaluation `qplay lm eval` uses.
    let ids = val_ids(&w, 1025);
    let fp32 = LmModel::from_weights(&w).unwrap();
    let cfg = LmQuantConfig { layer_bits: bits.clone(), ..rtn(8, 32) };
    let q = quantize_lm(&w, &cfg).unwrap();
    let c = compare(&fp32, &q.model, &ids, KvFormat::F32, |_, _| {}).unwrap();
    let ppl = chosen["score"]["perplexity"].as_f64().unwrap();
    assert!((c.quantized.perplexity - ppl).abs() < 1e-9 * ppl, "{} vs {ppl}", c.quantized.perplexity);
    assert!((c.mean_kl - chosen["score"]["mean_kl"].as_f64().unwrap()).abs() < 1e-12);

    // Against every uniform width that fits the budget (W4 … W8 in groups of 32), measured here:
    // none has a lower KL. (On this slice uniform W5, exactly 6 bits per weight, beats every 4/8
    // mix of its size: the choice is W5.)
    let mut report = Vec::new();
    for b in 4..=8u8 {
        let u = quantize_lm(&w, &rtn(b, 32)).unwrap();
        let ub: usize = sh.values().map(|&(n, k)| rtn_bytes(n, k, b, 32)).sum();
        let uc = compare(&fp32, &u.model, &ids, KvFormat::F32, |_, _| {}).unwrap();
        report.push(format!("W{b}: {ub} bytes, ppl {:.4}, KL {:.6}", uc.quantized.perplexity, uc.mean_kl));
        if ub as f64 * 8.0 <= 6.0 * weights as f64 {
            assert!(c.mean_kl <= uc.mean_kl + 1e-12, "chosen {bytes} bytes KL {} vs uniform W{b} {ub} bytes KL {}", c.mean_kl, uc.mean_kl);
        }
    }
    eprintln!("chosen {}: {bytes} bytes, ppl {ppl:.4}, KL {:.6}; {}", chosen["label"], c.mean_kl, report.join("; "));

    // The most sensitive Linear alone raises KL more than the least sensitive alone (compare()).
    let sens = r["sensitivity"].as_array().unwrap();
    let (most, least) = (sens[0]["name"].as_str().unwrap(), sens[sens.len() - 1]["name"].as_str().unwrap());
    let alone = |name: &str| {
        let skip: Vec<String> = sh.keys().filter(|n| *n != name).cloned().chain(["output".into(), "tok_embeddings".into()]).collect();
        let q = quantize_lm(&w, &LmQuantConfig { skip, ..rtn(4, 32) }).unwrap();
        compare(&fp32, &q.model, &ids, KvFormat::F32, |_, _| {}).unwrap().mean_kl
    };
    let (kl_most, kl_least) = (alone(most), alone(least));
    assert!(kl_most > kl_least, "{most} {kl_most} vs {least} {kl_least}");
    assert!((kl_most - sens[0]["kl"].as_f64().unwrap()).abs() < 1e-12);
}

#[test]
fn kl_reference_is_compare_and_targets_and_cancel_work_on_a_small_model() {
    let w = load("tests/fixtures/lm/random_small.safetensors");
    let v = w.config.vocab_size as u32;
    let tokens: Vec<u32> = (0..97u32).map(|i| (i * 7 + 3 + i / 5) % v).collect();
    let fp32 = LmModel::from_weights(&w).unwrap();
    // The cached reference gives compare()'s KL and perplexity.
    let q = quantize_lm(&w, &rtn(4, 32)).unwrap();
    let c = compare(&fp32, &q.model, &tokens, KvFormat::F32, |_, _| {}).unwrap();
    let s = KlReference::new(&fp32, &tokens, KvFormat::F32).unwrap().score(&q.model).unwrap();
    assert!((s.mean_kl - c.mean_kl).abs() < 1e-12 && (s.perplexity - c.quantized.perplexity).abs() < 1e-9, "{s:?} {c:?}");
    assert!(c.mean_kl > 0.0);

    // KL target: the smallest candidate whose measured KL meets it.
    let settings = |target| SearchSettings { low_bits: 4, high_bits: 8, target };
    let cfg = rtn(8, 32);
    let all = search_mixed_precision(&w, &cfg, &settings(SearchTarget::Kl(1.0)), &tokens, &mut |_| true).unwrap();
    let n = all.order.len();
    assert_eq!(n, 14, "2 blocks × 7 Linears");
    assert_eq!(all.chosen, n, "a loose target takes every Linear to W4");
    let target = all.candidates[n / 2].score.mean_kl;
    let r = search_mixed_precision(&w, &cfg, &settings(SearchTarget::Kl(target)), &tokens, &mut |_| true).unwrap();
    let ch = &r.candidates[r.chosen];
    assert!(ch.score.mean_kl <= target);
    assert!(r.candidates.iter().filter(|c| c.score.mean_kl <= target).all(|c| c.bytes >= ch.bytes));
    // Bytes budget: met, with the sizes from the shapes.
    let budget = (r.candidates[0].bytes + r.candidates[n].bytes) / 2;
    let r = search_mixed_precision(&w, &cfg, &settings(SearchTarget::Bytes(budget)), &tokens, &mut |_| true).unwrap();
    let sh = shapes(&w);
    let chosen = &r.candidates[r.chosen];
    let bytes: usize = chosen.layer_bits.iter().map(|(n, &b)| rtn_bytes(sh[n].0, sh[n].1, b, 32)).sum();
    assert_eq!(bytes, chosen.bytes);
    assert!(bytes <= budget);
    // Unreachable targets and bad settings are named.
    let e = search_mixed_precision(&w, &cfg, &settings(SearchTarget::Bytes(10)), &tokens, &mut |_| true).unwrap_err();
    assert!(e.to_string().contains("budget cannot be met"), "{e}");
    let e = search_mixed_precision(&w, &cfg, &SearchSettings { low_bits: 8, high_bits: 4, target: SearchTarget::Kl(1.0) }, &tokens, &mut |_| true)
        .unwrap_err();
    assert!(e.to_string().contains("low < high"), "{e}");
    let e = search_mixed_precision(&w, &LmQuantConfig { weights: LmWeightFormat::Q4_0, ..cfg.clone() }, &settings(SearchTarget::Kl(1.0)), &tokens, &mut |_| true)
        .unwrap_err();
    assert!(e.to_string().contains("RTN"), "{e}");
    // Cancelled at the third step.
    let mut steps = 0;
    let e = search_mixed_precision(&w, &cfg, &settings(SearchTarget::Kl(1.0)), &tokens, &mut |_| {
        steps += 1;
        steps < 3
    })
    .unwrap_err();
    assert_eq!(e, SearchError::Cancelled);
    assert_eq!(steps, 3);

    // Every candidate written compactly (the page's "Use": the common width as `bits`, the others
    // listed) quantizes every Linear exactly as the candidate's full list does.
    for c in &all.candidates {
        let full = quantize_lm(&w, &with_bits(&cfg, &c.layer_bits)).unwrap();
        let short_cfg = compact_bits(&cfg, &c.layer_bits);
        let short = quantize_lm(&w, &short_cfg).unwrap();
        let key = |l: &qplay::ptq::lm::LmLayerReport| (l.name.clone(), l.format.clone(), l.bytes);
        assert_eq!(full.layers.iter().map(key).collect::<Vec<_>>(), short.layers.iter().map(key).collect::<Vec<_>>(), "{}", c.label);
        let at = |b: u8| c.layer_bits.values().filter(|&&x| x == b).count();
        assert!(at(short_cfg.bits) >= at(4).max(at(8)), "{}: base {} is the most common width", c.label, short_cfg.bits);
        assert_eq!(short_cfg.layer_bits.len(), n - at(short_cfg.bits), "{}", c.label);
        assert!(short_cfg.layer_bits.values().all(|&b| b != short_cfg.bits));
    }
    // A tie takes the higher width as the base.
    let half: BTreeMap<String, u8> = all.order.iter().enumerate().map(|(i, name)| (name.clone(), if i % 2 == 0 { 4 } else { 8 })).collect();
    assert_eq!(compact_bits(&cfg, &half).bits, 8);
}

/// A search under settings it cannot use is refused before anything runs, and the message names
/// the one setting to change (the page shows it next to the disabled Search).
#[test]
fn settings_the_search_cannot_use_are_named() {
    use qplay::lm::LmError;
    use qplay::ptq::lm::LmMethod;
    use qplay::ptq::lm_sensitivity::check_settings;
    let s = SearchSettings { low_bits: 4, high_bits: 8, target: SearchTarget::BitsPerWeight(6.0) };
    assert_eq!(check_settings(&rtn(4, 32), &s), Ok(()));
    let named = |cfg: &LmQuantConfig| match check_settings(cfg, &s) {
        Err(LmError::Setting { name, message }) => (name, message),
        other => panic!("{other:?}"),
    };
    let (name, message) = named(&LmQuantConfig { method: LmMethod::Awq, ..rtn(4, 32) });
    assert_eq!(name, "method");
    assert!(message.contains("set Method to RTN (it is awq)"), "{message}");
    let (name, message) = named(&LmQuantConfig { weights: LmWeightFormat::Q4_0, ..LmQuantConfig::default() });
    assert_eq!(name, "weights");
    assert!(message.contains("set Weights to RTN (it is q4_0)"), "{message}");
    let swapped = SearchSettings { low_bits: 8, high_bits: 4, ..s };
    assert!(matches!(check_settings(&rtn(4, 32), &swapped), Err(LmError::Setting { name: "low_bits", .. })));
    // The page shows the message alone ("Search waits: …"): it names the setting itself.
    let budget = check_settings(&rtn(4, 32), &SearchSettings { target: SearchTarget::BitsPerWeight(f64::NAN), ..s });
    assert!(matches!(&budget, Err(LmError::Setting { name: "budget_bpw", message }) if message.starts_with("the size budget NaN bits per weight")), "{budget:?}");
    let kl = check_settings(&rtn(4, 32), &SearchSettings { target: SearchTarget::Kl(-1.0), ..s });
    assert!(matches!(&kl, Err(LmError::Setting { name: "kl_target", message }) if message.starts_with("the KL target -1 ")), "{kl:?}");
}

/// The search shared among 2 or 3 workers (each stage's items split round robin, the parts put
/// back in order) gives the one-worker report exactly; parts that do not add up are refused.
#[test]
fn a_search_split_among_workers_is_the_one_worker_search() {
    use qplay::experiment::shard::{interleave, Shard};
    use qplay::ptq::lm_sensitivity::{finish_search, SearchPlan};
    let w = load("tests/fixtures/lm/random_small.safetensors");
    let v = w.config.vocab_size as u32;
    let tokens: Vec<u32> = (0..97u32).map(|i| (i * 7 + 3 + i / 5) % v).collect();
    let cfg = LmQuantConfig { kv: KvFormat::Int8, ..rtn(8, 32) };
    let settings = SearchSettings { low_bits: 3, high_bits: 6, target: SearchTarget::BitsPerWeight(5.0) };
    let one = search_mixed_precision(&w, &cfg, &settings, &tokens, &mut |_| true).unwrap();
    assert!(one.base_kl > 0.0, "the int8 KV cache alone moves the KL");
    for count in [2, 3] {
        let plans: Vec<SearchPlan> = (0..count).map(|_| SearchPlan::new(&w, &cfg, &settings, &tokens).unwrap()).collect();
        let shard = |index| Shard::new(index, count).unwrap();
        let sens: Vec<Vec<_>> = plans.iter().enumerate().map(|(k, p)| p.sensitivities(shard(k), &mut |_| true).unwrap()).collect();
        assert_eq!(sens.iter().map(Vec::len).sum::<usize>(), 14);
        let sens = interleave(sens, 14).unwrap();
        let cands: Vec<Vec<_>> = plans.iter().enumerate().map(|(k, p)| p.candidates(&sens, shard(k), &mut |_| true).unwrap()).collect();
        let total = 15 + 2; // p = 0 … 14, then uniform W4 and W5
        let cands = interleave(cands, total).unwrap();
        let split = finish_search(&cfg, &plans[0].frame, sens.clone(), cands.clone()).unwrap();
        assert_eq!(split, one, "{count} workers");
        // A stage given a part of the sensitivities, or candidates out of order, is refused.
        assert!(plans[0].candidates(&sens[1..], Shard::ALL, &mut |_| true).is_err());
        let mut swapped = cands;
        swapped.swap(1, 2);
        assert!(finish_search(&cfg, &plans[0].frame, sens, swapped).is_err());
    }
}
