//! Language-model benchmarks (natively, under Node and in the browser): decoding tokens/s
//! with the KV cache, one matrix-vector product per Linear per token, and the time of a
//! perplexity run over the default evaluation slice (GEMMs of 256 rows).
//!
//! Every format of a model is timed interleaved (trial t of every format, then t + 1 …) so
//! that their ratios hold on a busy machine; each figure is a median over the trials, after
//! one untimed warm-up call.

use crate::bench::{time_medians_of, BenchLine, Measured};
use crate::lm::eval::{compare, perplexity};
use crate::lm::{KvCache, KvFormat, LmError, LmLinear, LmModel, LmWeights, NoProbe};
use crate::runtime::qmatmul::QuantizedActs;
use crate::ptq::lm::{quantize_lm, LmQuantConfig, LmWeightFormat};

/// The formats timed, by label.
pub fn bench_formats() -> Vec<(&'static str, LmQuantConfig)> {
    let rtn = |bits, group| LmQuantConfig { weights: LmWeightFormat::Rtn, bits, group, ..LmQuantConfig::default() };
    vec![
        ("fp32", LmQuantConfig::default()),
        ("fp16", LmQuantConfig { weights: LmWeightFormat::F16, ..LmQuantConfig::default() }),
        ("w8_per_channel", rtn(8, 0)),
        ("w8a8_per_channel", LmQuantConfig { int8_acts: true, ..rtn(8, 0) }),
        ("fp32_kv8", LmQuantConfig { kv: KvFormat::Int8, ..LmQuantConfig::default() }),
        ("w8a8_kv8", LmQuantConfig { int8_acts: true, kv: KvFormat::Int8, ..rtn(8, 0) }),
        ("q8_0", LmQuantConfig { weights: LmWeightFormat::Q8_0, ..LmQuantConfig::default() }),
        ("w4_per_channel", rtn(4, 0)),
        ("w4_g32", rtn(4, 32)),
        ("w4_g64", rtn(4, 64)),
        ("w4_g128", rtn(4, 128)),
        ("w4a8_g32", LmQuantConfig { int8_acts: true, ..rtn(4, 32) }),
        ("q4_0", LmQuantConfig { weights: LmWeightFormat::Q4_0, ..LmQuantConfig::default() }),
    ]
}

/// The formats of `formats` that apply to `w` and decode it (a model whose rows are not a
/// multiple of 32 has no Q8_0, one whose activations overflow has no int8 activations), and the
/// reasons of the others, so that a benchmark of the user's model times what can run.
pub fn applicable_formats(w: &LmWeights, formats: &[(&'static str, LmQuantConfig)]) -> (Vec<(&'static str, LmQuantConfig)>, Vec<String>) {
    let (mut ok, mut skipped) = (Vec::new(), Vec::new());
    for (label, cfg) in formats {
        let tried = quantize_lm(w, cfg).and_then(|q| {
            let mut cache = KvCache::new(&q.model.config, cfg.kv)?;
            decode(&q.model, &mut cache, 2.min(q.model.config.seq_len))
        });
        match tried {
            Ok(()) => ok.push((*label, cfg.clone())),
            Err(e) => skipped.push(format!("{label}: {e}")),
        }
    }
    (ok, skipped)
}

/// Decodes `tokens` tokens greedily from an empty cache (token ids cycle; the arithmetic is
/// the same whatever they are).
fn decode(model: &LmModel, cache: &mut KvCache, tokens: usize) -> Result<(), LmError> {
    cache.clear();
    let v = model.config.vocab_size as u32;
    for i in 0..tokens {
        let logits = model.forward(&[(i as u32 * 7 + 1) % v], cache, true, &mut NoProbe)?;
        std::hint::black_box(logits);
    }
    Ok(())
}

/// Median seconds of each of `fs`, timed interleaved after one untimed warm-up call each.
fn medians_after_warmup(clock: &dyn Fn() -> f64, fs: Vec<Box<dyn FnMut() + '_>>, repeats: usize) -> Vec<f64> {
    timings_after_warmup(clock, fs, repeats).into_iter().map(|t| t.median_s).collect()
}

/// Each function's median and spread over `repeats` interleaved trials, after one untimed call.
fn timings_after_warmup(clock: &dyn Fn() -> f64, mut fs: Vec<Box<dyn FnMut() + '_>>, repeats: usize) -> Vec<crate::bench::Timing> {
    for f in fs.iter_mut() {
        f();
    }
    let mut refs: Vec<&mut dyn FnMut()> = fs.iter_mut().map(|f| &mut **f as &mut dyn FnMut()).collect();
    crate::bench::measure(clock, &mut refs, crate::bench::Plan::fixed(repeats, 0.0))
}

/// Times `fs` (one per format) interleaved, after one untimed warm-up call each, and names the
/// medians: `n` tokens per call.
#[allow(clippy::too_many_arguments)]
fn timed_lines(
    clock: &dyn Fn() -> f64,
    suite: &'static str,
    name: &str,
    formats: &[(&'static str, LmQuantConfig)],
    fs: Vec<Box<dyn FnMut() + '_>>,
    n: usize,
    repeats: usize,
) -> Vec<Measured> {
    let timings = timings_after_warmup(clock, fs, repeats);
    formats
        .iter()
        .zip(timings)
        .map(|((label, _), t)| Measured {
            line: BenchLine {
                suite,
                case: format!("{name}_{label}"),
                kernel: if cfg!(target_arch = "wasm32") { "simd128" } else { "native" },
                n,
                median_s: t.median_s,
                rate: n as f64 / t.median_s,
                unit: "tokens/s",
            },
            spread: t.spread,
        })
        .collect()
}

fn lines(measured: Vec<Measured>) -> Vec<BenchLine> {
    measured.into_iter().map(|m| m.line).collect()
}

fn models(w: &LmWeights, formats: &[(&'static str, LmQuantConfig)]) -> Vec<LmModel> {
    formats.iter().map(|(_, c)| quantize_lm(w, c).expect("the formats apply").model).collect()
}

/// tokens/s of decoding `tokens` tokens for each format of `w` (`name` prefixes the case).
pub fn decode_speed(clock: &dyn Fn() -> f64, name: &str, w: &LmWeights, formats: &[(&'static str, LmQuantConfig)], tokens: usize, repeats: usize) -> Vec<BenchLine> {
    lines(decode_speed_measured(clock, name, w, formats, tokens, repeats))
}

/// [`decode_speed`] with each format's spread over its trials (the Benchmark page shows it).
pub fn decode_speed_measured(clock: &dyn Fn() -> f64, name: &str, w: &LmWeights, formats: &[(&'static str, LmQuantConfig)], tokens: usize, repeats: usize) -> Vec<Measured> {
    let models = models(w, formats);
    let mut caches: Vec<KvCache> =
        models.iter().zip(formats).map(|(m, (_, c))| KvCache::new(&m.config, c.kv).expect("cache fits")).collect();
    let fs = models.iter().zip(caches.iter_mut()).map(|(m, c)| Box::new(move || decode(m, c, tokens).expect("a valid model decodes")) as Box<dyn FnMut()>).collect();
    timed_lines(clock, "lm_decode", name, formats, fs, tokens, repeats)
}

/// tokens/s of a decoded token's Linears alone: every block's seven matrix-vector products
/// (wq, wk, wv and w1, w3 from one input each, as the forward pass runs them) and the head's,
/// on fixed inputs. Against [`decode_speed`] this splits a token's time into the products and
/// the rest (attention over the cache, norms, rotary, SwiGLU), which every format shares.
pub fn linears_speed(clock: &dyn Fn() -> f64, name: &str, w: &LmWeights, formats: &[(&'static str, LmQuantConfig)], tokens: usize, repeats: usize) -> Vec<BenchLine> {
    let models = models(w, formats);
    let c = &w.config;
    let (d, kv, f, v) = (c.dim, c.kv_dim(), c.hidden_dim, c.vocab_size);
    let fs = models
        .iter()
        .map(|m| {
            let input = |n: usize| (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect::<Vec<f32>>();
            let (xd, xf) = (input(d), input(f));
            let (mut q, mut k, mut vv, mut o, mut h1, mut h3, mut y, mut logits) =
                (vec![0f32; d], vec![0f32; kv], vec![0f32; kv], vec![0f32; d], vec![0f32; f], vec![0f32; f], vec![0f32; d], vec![0f32; v]);
            let mut acts = QuantizedActs::default();
            Box::new(move || {
                for _ in 0..tokens {
                    for b in &m.blocks {
                        let run = |r: Result<(), crate::lm::LmError>| r.expect("the model's own shapes");
                        run(LmLinear::forward_same_input(&xd, 1, &mut [(&b.wq, &mut q), (&b.wk, &mut k), (&b.wv, &mut vv)], &mut acts));
                        run(b.wo.forward(&xd, 1, &mut o, &mut acts));
                        run(LmLinear::forward_same_input(&xd, 1, &mut [(&b.w1, &mut h1), (&b.w3, &mut h3)], &mut acts));
                        run(b.w2.forward(&xf, 1, &mut y, &mut acts));
                    }
                    m.output.forward(&xd, 1, &mut logits, &mut acts).expect("the model's own shapes");
                    std::hint::black_box(&logits);
                }
            }) as Box<dyn FnMut()>
        })
        .collect();
    lines(timed_lines(clock, "lm_linears", name, formats, fs, tokens, repeats))
}

/// tokens/s of the perplexity of `tokens` with each format.
pub fn perplexity_speed(clock: &dyn Fn() -> f64, name: &str, w: &LmWeights, formats: &[(&'static str, LmQuantConfig)], tokens: &[u32], repeats: usize) -> Vec<BenchLine> {
    let models = models(w, formats);
    let fs = models
        .iter()
        .zip(formats)
        .map(|(m, (_, c))| {
            Box::new(move || {
                std::hint::black_box(perplexity(m, tokens, c.kv, |_, _| {}).expect("scores"));
            }) as Box<dyn FnMut()>
        })
        .collect();
    lines(timed_lines(clock, "lm_perplexity", name, formats, fs, tokens.len() - 1, repeats))
}

/// Calls per second of quantizing one token's activations to int8 (per token, one group per
/// row, as W8A8 does before each product) for each row length in `ks` (1 / rate: the time of
/// one call); `calls` calls per trial.
pub fn activation_quantizer_speed(clock: &dyn Fn() -> f64, ks: &[usize], calls: usize, repeats: usize) -> Vec<BenchLine> {
    let inputs: Vec<Vec<f32>> = ks.iter().map(|&k| (0..k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect()).collect();
    let fs: Vec<Box<dyn FnMut() + '_>> = inputs
        .iter()
        .map(|x| {
            let mut acts = QuantizedActs::default();
            Box::new(move || {
                for _ in 0..calls {
                    crate::runtime::qmatmul::quantize_activations_into(std::hint::black_box(x), 1, x.len(), x.len(), &mut acts).expect("finite values");
                }
                std::hint::black_box(&acts);
            }) as Box<dyn FnMut()>
        })
        .collect();
    let medians = medians_after_warmup(clock, fs, repeats);
    ks.iter()
        .zip(medians)
        .map(|(&k, s)| BenchLine {
            suite: "lm_quantize_acts",
            case: format!("k{k}"),
            kernel: if cfg!(target_arch = "wasm32") { "simd128" } else { "native" },
            n: calls,
            median_s: s,
            rate: calls as f64 / s,
            unit: "calls/s",
        })
        .collect()
}

/// Multiply-adds per second of the float-activation product (W8A16 / W4A16) of `m` activation
/// rows on each path: the register kernels (`kernel=registers`, what decoding runs) and the
/// blocks of weight rows dequantized for the f32 GEMM (`kernel=blocks`,
/// [`crate::runtime::qmatmul::dequant_blocks`]), for W4 g32 and W8 per channel on each
/// (N, K) of `shapes` (`suite=lm_prefill case=w4g32_384x128_m8`): where the blocks start to pay
/// is [`crate::runtime::qmatmul::dequant_blocks::min_rows`].
pub fn prefill_product_speed(clock: &dyn Fn() -> f64, shapes: &[(usize, usize)], ms: &[usize], repeats: usize) -> Vec<BenchLine> {
    use crate::quant::grouped::{quantize_rtn, RtnSpec};
    use crate::runtime::qmatmul::{best, dequant_blocks};
    let mut lines = Vec::new();
    // V8 replaces a wasm function by an optimised compilation once it has run a while: a first
    // case would time the baseline code, so every case runs once untimed (pass 0) first.
    for pass in 0..2 {
        lines.clear();
        for &(n, k) in shapes {
            let wf: Vec<f32> = (0..n * k).map(|i| ((i * 7919 % 2003) as f32 - 1001.0) / 1001.0).collect();
            for (label, bits, group) in [("w4g32", 4u8, 32usize), ("w8", 8, k)] {
                let w = quantize_rtn(&wf, n, k, RtnSpec { bits, group, symmetric: true, narrow: false }).expect("a valid shape");
                for &m in ms {
                    let x: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
                    let (mut y1, mut y2) = (vec![0f32; m * n], vec![0f32; m * n]);
                    let (w, x) = (&w, &x);
                    let fs: Vec<Box<dyn FnMut() + '_>> = vec![
                        Box::new(move || (best().f32_grouped)(x, m, w, &mut y1).expect("valid shapes")),
                        Box::new(move || dequant_blocks::matmul(x, m, w, &mut y2).expect("valid shapes")),
                    ];
                    let medians = medians_after_warmup(clock, fs, if pass == 0 { 1 } else { repeats });
                    for (kernel, s) in ["registers", "blocks"].into_iter().zip(medians) {
                        let macs = m * n * k;
                        lines.push(BenchLine { suite: "lm_prefill", case: format!("{label}_{n}x{k}_m{m}"), kernel, n: macs, median_s: s, rate: macs as f64 / s, unit: "MAC/s" });
                    }
                }
            }
        }
    }
    lines
}

/// The language-model table of one run (the README's): for each format, its quality against
/// FP32 on `tokens` (perplexity, Δ %, mean KL, same top-1), its size and KV cache, and the
/// speeds this run measured in `lines` — decoding tokens/s of the cases `{name}_{label}` and
/// the seconds of the perplexity runs `{ppl_name}_{label}` ("—" where a speed was not timed).
pub fn table(name: &str, ppl_name: &str, w: &LmWeights, formats: &[(&'static str, LmQuantConfig)], tokens: &[u32], lines: &[BenchLine]) -> Result<String, LmError> {
    let fp32 = LmModel::from_weights(w)?;
    let line = |suite: &str, case: String| lines.iter().find(|l| l.suite == suite && l.case == case);
    let fp32_rate = line("lm_decode", format!("{name}_fp32")).map(|l| l.rate);
    let mut md = format!(
        "| format | perplexity | Δ % | KL | same top-1 | weights (kB) | bits/weight | KV cache (kB) | decoding (tokens/s) | × FP32 | perplexity of {} tokens |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
        tokens.len().saturating_sub(1)
    );
    for (label, cfg) in formats {
        let q = quantize_lm(w, cfg)?;
        let c = compare(&fp32, &q.model, tokens, cfg.kv, |_, _| {})?;
        let kv = KvCache::bytes_for(&w.config, cfg.kv, w.config.seq_len);
        let decode = line("lm_decode", format!("{name}_{label}"));
        let (rate, ratio) = match (decode, fp32_rate) {
            (Some(d), Some(f)) => (format!("{:.0}", d.rate), format!("{:.2}", d.rate / f)),
            _ => ("—".into(), "—".into()),
        };
        let ppl_time = line("lm_perplexity", format!("{ppl_name}_{label}")).map_or("—".into(), |l| format!("{:.2} s", l.median_s));
        md.push_str(&format!(
            "| {} | {:.4} | {:+.2} | {:.5} | {:.2} % | {:.1} | {:.2} | {:.0} | {rate} | {ratio} | {ppl_time} |\n",
            cfg.label(),
            c.quantized.perplexity,
            c.delta_pct,
            c.mean_kl,
            c.top1_same * 100.0,
            q.model.weight_bytes() as f64 / 1000.0,
            q.model.bits_per_weight(),
            kv as f64 / 1000.0
        ));
    }
    Ok(md)
}

/// `ratio suite=lm_decode case=NAME LABEL/fp32=…` for every format against FP32 of the same run.
pub fn ratios_to_fp32(lines: &[BenchLine]) -> Vec<String> {
    let mut out = Vec::new();
    for l in lines {
        if let Some((model, _)) = l.case.split_once("_fp32").filter(|(_, rest)| rest.is_empty()) {
            for o in lines.iter().filter(|o| o.suite == l.suite && o.case.starts_with(model) && o.case != l.case) {
                let label = &o.case[model.len() + 1..];
                out.push(format!("ratio suite={} case={model} {label}/fp32={:.2}", l.suite, o.rate / l.rate));
            }
        }
    }
    out
}

/// Tokens per second of two models of one shape side by side, as Neural Compressor's table puts
/// FP32 against INT8: `decode` one token at a time with the KV cache (a token's latency is
/// 1 / rate), `prefill` a prompt in one pass (throughput); [FP32, quantized] each, timed
/// interleaved after a warm-up, medians of `repeats` trials.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairSpeed {
    pub decode_tokens: usize,
    pub decode: [f64; 2],
    pub prefill_tokens: usize,
    pub prefill: [f64; 2],
}

/// Tokens decoded, and prefilled, per trial of [`pair_speed`] (fewer when the context is shorter).
pub const PAIR_DECODE_TOKENS: usize = 16;
pub const PAIR_PREFILL_TOKENS: usize = 64;

/// Each trial of [`pair_speed`] repeats its decode or prefill for at least this long (s): a
/// browser's clock in a worker ticks every 0.1 ms, and one 16-token decode of the built-in model
/// took 1.2–3 ms, so its rates were 16 tokens over a whole number of ticks (steps of 4–8 %).
/// 25 ms is 250 ticks or more.
pub const PAIR_MIN_TRIAL_S: f64 = 0.025;

/// [`PairSpeed`] of `fp32` (f32 KV cache) and `quantized` (a `kv` cache). Each call runs once
/// untimed first, so a model that cannot run is an error here, never inside the timing.
pub fn pair_speed(clock: &dyn Fn() -> f64, fp32: &LmModel, quantized: &LmModel, kv: KvFormat, repeats: usize) -> Result<PairSpeed, LmError> {
    if fp32.config != quantized.config {
        return Err(LmError::Tokens("the two models have different shapes".into()));
    }
    let c = &fp32.config;
    let (nd, np) = (PAIR_DECODE_TOKENS.min(c.seq_len), PAIR_PREFILL_TOKENS.min(c.seq_len));
    let v = c.vocab_size as u32;
    let prompt: Vec<u32> = (0..np as u32).map(|i| (i * 7 + 1) % v).collect();
    let prefill = |m: &LmModel, cache: &mut KvCache| -> Result<(), LmError> {
        cache.clear();
        std::hint::black_box(m.forward(&prompt, cache, true, &mut NoProbe)?);
        Ok(())
    };
    let positions = nd.max(np);
    let mut caches = [KvCache::for_positions(c, KvFormat::F32, positions)?, KvCache::for_positions(c, kv, positions)?];
    let models = [fp32, quantized];
    for (m, cache) in models.iter().zip(caches.iter_mut()) {
        decode(m, cache, nd)?;
        prefill(m, cache)?;
    }
    let [c32, cq] = &mut caches;
    let decode_s = time_medians_of(
        clock,
        &mut [&mut || drop(decode(fp32, c32, nd)), &mut || drop(decode(quantized, cq, nd))],
        repeats,
        PAIR_MIN_TRIAL_S,
    );
    let prefill_s = time_medians_of(clock, &mut [&mut || drop(prefill(fp32, c32)), &mut || drop(prefill(quantized, cq))], repeats, PAIR_MIN_TRIAL_S);
    let rate = |n: usize, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    Ok(PairSpeed {
        decode_tokens: nd,
        decode: [rate(nd, decode_s[0]), rate(nd, decode_s[1])],
        prefill_tokens: np,
        prefill: [rate(np, prefill_s[0]), rate(np, prefill_s[1])],
    })
}
