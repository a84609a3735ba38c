//! The model importers (src/lm/import/) and the GGUF export, natively, against fixtures written
//! by independent code: scripts/make_lm_import_fixtures.py (llama2.c's export.py layouts, the PyPI
//! `gguf` package's GGUFWriter and quantizers, the PyPI `safetensors` package) with reference
//! logits from scripts/lm_reference.py's float64 forward pass. See that script for the files.
//!
//! Tolerances: logits within 1e-4 of the reference, relative to the largest |logit| of the
//! sequence, when the file holds the reference's weights exactly (every F32 / F16 / BF16 file,
//! and the quantized files against their own dequantization); quantized files against the float
//! model within the quantization's error (see [`Q8_0_TOLERANCE`]): a random model is sensitive.
//! Bad files: every error is typed, names the problem (asserted on the message), never panics,
//! and a counting allocator checks that no adversarial header makes the reader allocate more
//! than a small multiple of the file.

use qplay::lm::import::gguf::GgufFile;
use qplay::lm::import::*;
use qplay::lm::{KvCache, KvFormat, LmError, LmModel, LmWeights, NoProbe};
use qplay::quant::ggml::{self, GgmlType};

use crate::alloc_probe::largest_allocation;

// ---------------------------------------------------------------------------- fixtures

macro_rules! fixture {
    ($name:literal) => {
        {
            let bytes: &'static [u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lm/import/", $name));
            bytes
        }
    };
}

const V0: &[u8] = fixture!("model_v0.bin");
const V2: &[u8] = fixture!("model_q80_v2.bin");
const TOKENIZER_BIN: &[u8] = fixture!("tokenizer.bin");
const TIED_GGUF: &[u8] = fixture!("tied_f32.gguf");
const MIXED_GGUF: &[u8] = fixture!("mixed_q.gguf");
const HF_CONFIG: &[u8] = fixture!("hf/config.json");
const HF_MODEL: &[u8] = fixture!("hf/model.safetensors");
const HF_TOKENIZER: &[u8] = fixture!("hf/tokenizer.json");

/// Allowed |qplay − reference| relative to the largest |logit|, for the same weights.
const REL_TOLERANCE: f32 = 1e-4;
/// Quantized weights against the float model, relative to the largest |logit|: about twice what
/// NumPy measures on the fixtures (ref_v2 vs ref_untied: 5.1e-2; ref_mixed vs ref_untied: 0.39;
/// this random model, N(0, 1/fan_in) weights, is sensitive: the mean |Δ logit| is 1.7 % of the
/// logits' standard deviation for Q8_0).
const Q8_0_TOLERANCE: f32 = 0.1;
const Q4_TOLERANCE: f32 = 0.8;
const MIXTURE_TOLERANCE: f32 = 0.6;

fn sequences() -> Vec<Vec<u32>> {
    let index: serde_json::Value = serde_json::from_slice(fixture!("reference.json")).unwrap();
    index["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect())
        .collect()
}

/// The reference logits of each sequence ([T, V] row-major).
fn reference(file: &[u8], vocab: usize) -> Vec<Vec<f32>> {
    let all: Vec<f32> = file.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let mut at = 0;
    sequences()
        .iter()
        .map(|s| {
            let n = s.len() * vocab;
            at += n;
            all[at - n..at].to_vec()
        })
        .collect()
}

fn logits(w: &LmWeights, tokens: &[u32]) -> Vec<f32> {
    let model = LmModel::from_weights(w).expect("the imported model builds");
    let mut cache = KvCache::new(&w.config, KvFormat::F32).unwrap();
    model.forward(tokens, &mut cache, false, &mut NoProbe).unwrap()
}

/// The worst |Δ| / max |reference logit| over all sequences.
fn worst_relative(w: &LmWeights, reference_file: &[u8]) -> f32 {
    let want = reference(reference_file, w.config.vocab_size);
    let mut worst = 0f32;
    for (tokens, want) in sequences().iter().zip(&want) {
        let got = logits(w, tokens);
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        worst = worst.max(d / scale);
    }
    worst
}

fn assert_matches(w: &LmWeights, reference_file: &[u8], tolerance: f32, what: &str) {
    let worst = worst_relative(w, reference_file);
    assert!(worst <= tolerance, "{what}: worst |Δ logit| / max |logit| = {worst:e} > {tolerance:e}");
}

fn import(files: &[(&str, &[u8])]) -> Result<ImportedModel, LmError> {
    let owned: Vec<(String, &[u8])> = files.iter().map(|(n, b)| (n.to_string(), *b)).collect();
    import_model(&owned)
}

fn err_text(r: Result<impl std::fmt::Debug, LmError>) -> String {
    r.expect_err("an error was expected").to_string()
}

/// The config every fixture has (seq_len 32, so nothing is clamped).
fn check_shape(w: &LmWeights, tied: bool) {
    let c = &w.config;
    assert_eq!(
        (c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.hidden_dim, c.vocab_size, c.seq_len, c.tied),
        (32, 2, 4, 2, 64, 32, 32, tied)
    );
    assert_eq!(c.norm_eps, 1e-5);
    assert_eq!(c.rope_theta, 10000.0);
}

fn hf_files() -> Vec<(&'static str, &'static [u8])> {
    vec![("hf/config.json", HF_CONFIG), ("hf/model.safetensors", HF_MODEL), ("hf/tokenizer.json", HF_TOKENIZER)]
}

// ---------------------------------------------------------------------------- every format

#[test]
fn llama2c_v0_matches_the_reference() {
    let m = import(&[("model.bin", V0), ("tokenizer.bin", TOKENIZER_BIN)]).unwrap();
    assert_eq!(m.format, ModelFormat::Llama2c { version: 0 });
    assert_eq!(m.dequantized, None);
    check_shape(&m.weights, false);
    assert_matches(&m.weights, fixture!("ref_untied.f32"), REL_TOLERANCE, "llama2.c v0");
    let Some(RawVocab::Tokens(v)) = &m.vocab else { panic!("tokenizer.bin: {:?}", m.vocab) };
    assert_eq!(v.tokens.len(), 32);
    assert_eq!(v.tokens[15], b" the", "▁ is written as a space by llama2.c's tokenizer.py");
    assert_eq!(v.tokens[29], " é".as_bytes());
    assert_eq!((v.scores[0], v.scores[3], v.scores[31]), (0.0, 0.0, -28.0));
    assert_eq!((v.bos_id, v.eos_id, v.max_token_length), (Some(1), Some(2), Some(6)));
    // A tokenizer under another name (llama2.c's tok512.bin) is known by its content, and the
    // model under any name is not taken for one.
    let renamed = import(&[("stories.bin", V0), ("tok512.bin", TOKENIZER_BIN)]).unwrap();
    assert_eq!(renamed.vocab, m.vocab);
    assert_eq!(renamed.weights.tensors().len(), m.weights.tensors().len());
    assert!(qplay::lm::import::llama2c::reads_as_llama2c_tokenizer(TOKENIZER_BIN));
    assert!(!qplay::lm::import::llama2c::reads_as_llama2c_tokenizer(V0));
    assert!(!qplay::lm::import::llama2c::reads_as_llama2c_tokenizer(&TOKENIZER_BIN[..TOKENIZER_BIN.len() - 1]));
}

#[test]
fn llama2c_v2_matches_its_dequantized_reference() {
    let m = import(&[("model_q80_v2.bin", V2)]).unwrap();
    assert_eq!(m.format, ModelFormat::Llama2c { version: 2 });
    check_shape(&m.weights, false);
    assert!(m.notes.iter().any(|n| n.contains("groups of 32")), "{:?}", m.notes);
    assert_eq!(m.dequantized.as_deref(), Some("Q8_0 (groups of 32)"));
    assert_matches(&m.weights, fixture!("ref_v2.f32"), REL_TOLERANCE, "llama2.c v2 vs its dequantization");
    // Against the float model: Q8_0's error, and not nothing.
    let worst = worst_relative(&m.weights, fixture!("ref_untied.f32"));
    assert!(worst < Q8_0_TOLERANCE && worst > 1e-3, "Q8_0 vs float: {worst:e}");
}

#[test]
fn gguf_f32_tied_matches_the_reference() {
    let m = import(&[("tied_f32.gguf", TIED_GGUF)]).unwrap();
    assert_eq!(m.format, ModelFormat::Gguf { version: 3 });
    check_shape(&m.weights, true);
    assert!(m.weights.output.is_none());
    assert_eq!(m.dequantized, None, "every tensor is F32");
    assert!(m.notes.iter().any(|n| n.contains("tied")), "{:?}", m.notes);
    assert_matches(&m.weights, fixture!("ref_tied.f32"), REL_TOLERANCE, "GGUF F32 tied");
    let Some(RawVocab::Tokens(v)) = &m.vocab else { panic!("{:?}", m.vocab) };
    assert_eq!(v.model.as_deref(), Some("llama"));
    assert_eq!(v.tokens.len(), 32);
    assert_eq!(v.tokens[29], "▁é".as_bytes());
    assert_eq!(v.scores[31], -28.0);
    assert_eq!(&v.token_types[..6], &[2, 3, 3, 6, 6, 1]);
    assert_eq!((v.bos_id, v.eos_id, v.unknown_id, v.add_bos), (Some(1), Some(2), Some(0), Some(true)));
    assert!(v.merges.is_empty());
}

#[test]
fn gguf_mixed_quantization_matches_the_gguf_package_dequantization() {
    let m = import(&[("mixed_q.gguf", MIXED_GGUF)]).unwrap();
    check_shape(&m.weights, false);
    let types = m.notes.iter().find(|n| n.starts_with("GGUF v3")).expect("a note on the types");
    for t in ["F32 ×5", "F16 ×1", "Q8_0 ×7", "Q4_0 ×4", "Q4_1 ×4"] {
        assert!(types.contains(t), "{types}");
    }
    // The floats are not counted as dequantized; the quantized types are, as the file orders them.
    let dequantized = m.dequantized.as_deref().expect("quantized tensors");
    assert!(!dequantized.contains('F') && ["Q8_0 ×7", "Q4_0 ×4", "Q4_1 ×4"].iter().all(|t| dequantized.contains(t)), "{dequantized}");
    assert_matches(&m.weights, fixture!("ref_mixed.f32"), REL_TOLERANCE, "GGUF mixed vs gguf.quants.dequantize");
    let worst = worst_relative(&m.weights, fixture!("ref_untied.f32"));
    assert!(worst < MIXTURE_TOLERANCE && worst > 1e-2, "Q4/Q8 mixture vs float: {worst:e}");
    let Some(RawVocab::Tokens(v)) = &m.vocab else { panic!("{:?}", m.vocab) };
    assert_eq!(v.model.as_deref(), Some("gpt2"));
    assert_eq!(v.merges, ["t h", "h e", "th e", "Ġ t", "a n"]);
    assert!(v.scores.is_empty());
}

#[test]
fn hugging_face_f16_matches_the_reference() {
    let m = import(&hf_files()).unwrap();
    assert_eq!(m.format, ModelFormat::HuggingFace);
    check_shape(&m.weights, false);
    assert_matches(&m.weights, fixture!("ref_untied.f32"), REL_TOLERANCE, "Hugging Face F16");
    let Some(RawVocab::TokenizerJson { json, end_of_text }) = &m.vocab else { panic!("{:?}", m.vocab) };
    assert_eq!(json.as_bytes(), HF_TOKENIZER);
    assert_eq!(end_of_text, &[2], "config.json's eos_token_id");
    assert!(m.notes.iter().any(|n| n.contains("rotate-half")), "{:?}", m.notes);
}

/// tokenizer.json has no EOS: config.json's `eos_token_id` (one id or a list, as Llama 3's) gives
/// the ids that end a generated text, the first as EOS; values that are no id of the vocabulary
/// are left out with one note.
#[test]
fn a_hugging_face_models_end_of_text_ids_come_from_its_config_json() {
    let with_eos = |eos: &str| {
        let config = String::from_utf8(HF_CONFIG.to_vec()).unwrap().replace("\"eos_token_id\": 2", &format!("\"eos_token_id\": {eos}"));
        assert!(config.contains(&format!("\"eos_token_id\": {eos},")));
        let m = import(&[("config.json", config.as_bytes()), ("model.safetensors", HF_MODEL), ("tokenizer.json", HF_TOKENIZER)]).unwrap();
        let Some(RawVocab::TokenizerJson { end_of_text, .. }) = m.vocab else { panic!("{:?}", m.vocab) };
        (end_of_text, m.notes)
    };
    let (ends, notes) = with_eos("2");
    assert_eq!(ends, [2]);
    assert!(notes.iter().all(|n| !n.contains("eos_token_id")), "{notes:?}");
    assert_eq!(with_eos("[5, 2, 5]").0, [5, 2]);
    let (ends, notes) = with_eos("[32, 3, \"x\", -1]");
    assert_eq!(ends, [3]);
    let note: Vec<_> = notes.iter().filter(|n| n.contains("eos_token_id")).collect();
    assert_eq!(note.len(), 1, "{notes:?}");
    assert!(note[0].contains("32 and 2 more") && note[0].contains("vocabulary of 32"), "{note:?}");
    assert!(with_eos("null").0.is_empty());
    // A list as long as a config.json can hold is read in linear time.
    let long = format!("[{}]", (0..200_000).map(|i| (i % 32).to_string()).collect::<Vec<_>>().join(","));
    assert_eq!(with_eos(&long).0, (0..32).collect::<Vec<u32>>());

    // The tokenizer made from them: the first as EOS, all ending a text.
    let w = model_of_512_ids();
    let vocab = RawVocab::TokenizerJson { json: BPE_JSON.to_string(), end_of_text: vec![7, 3] };
    let t = tokenizer_for(&w, Some(&vocab)).unwrap();
    assert_eq!((t.eos(), t.end_of_text()), (Some(7), vec![7, 3]));
    // Another model's tokenizer (ids beyond the vocabulary): the files are not one model, an
    // error the page and the CLI refuse like a bad file, not a model without a tokenizer.
    let mut fewer = w.clone();
    fewer.config.vocab_size = 4;
    let e = tokenizer_for(&fewer, Some(&vocab)).err().expect("ids beyond the vocabulary");
    assert!(matches!(&e, qplay::lm::LmError::Files(m) if m.contains("beyond the model's vocabulary of 4 (ids 0–3)")), "{e}");
    // So is one qplay cannot run (a model type it does not implement): its ids are read without
    // running it, from model.vocab (token → id, or a Unigram list numbered from 0) and
    // added_tokens; within the vocabulary it stays a tokenizer qplay cannot run (a note).
    let json: serde_json::Value = serde_json::from_str(BPE_JSON).unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut j = json.clone();
        j["model"]["type"] = "WordPiece".into();
        f(&mut j);
        RawVocab::TokenizerJson { json: j.to_string(), end_of_text: vec![] }
    };
    let ids = json["model"]["vocab"].as_object().unwrap().values().chain(json["added_tokens"].as_array().unwrap().iter().map(|a| &a["id"]));
    let top = ids.filter_map(|v| v.as_u64()).max().unwrap();
    let beyond = |vocab: &RawVocab, w: &LmWeights| match tokenizer_for(w, Some(vocab)) {
        Err(qplay::lm::LmError::Files(m)) => Some(m),
        Err(qplay::lm::LmError::Config { .. }) => None,
        other => panic!("{:?}", other.map(|t| t.vocab_len())),
    };
    let m = beyond(&with(&|_| {}), &fewer).expect("its vocab's ids pass 4");
    assert!(m.contains(&format!("reach {top}, beyond the model's vocabulary of 4 (ids 0–3)")), "{m}");
    assert_eq!(beyond(&with(&|_| {}), &w), None, "ids up to {top} fit 512");
    let added = with(&|j| j["added_tokens"] = serde_json::json!([{ "id": 4_000_000_000u32, "content": "<x>" }, { "id": 3, "content": "<y>" }]));
    assert!(beyond(&added, &w).unwrap().contains("reach 4000000000, beyond the model's vocabulary of 512 (ids 0–511)"));
    let unigram = |n: usize| {
        with(&|j| {
            j["model"] = serde_json::json!({ "type": "Unigram", "vocab": (0..n).map(|i| serde_json::json!([format!("t{i}"), -1.5])).collect::<Vec<_>>() });
            j["added_tokens"] = serde_json::json!([]);
        })
    };
    assert!(beyond(&unigram(600), &w).unwrap().contains("reach 599, beyond the model's vocabulary of 512"));
    assert_eq!(beyond(&unigram(512), &w), None);
    // A GGUF vocabulary qplay does not run ("bert"): its tokens are its ids.
    let bert = |n: usize| RawVocab::Tokens(Vocabulary { model: Some("bert".into()), tokens: (0..n).map(|i| format!("t{i}").into_bytes()).collect(), ..Vocabulary::default() });
    assert!(beyond(&bert(513), &w).unwrap().contains("reach 512, beyond the model's vocabulary of 512 (ids 0–511)"));
    assert_eq!(beyond(&bert(512), &w), None);

    // This fixture's tokenizer.bin has no "\n<s>\n" / "\n</s>\n": nothing ends a text (the
    // tokenizer test spm_llama2c_bin_matches_sentencepiece has a tokenizer.bin with both).
    let m = import(&[("model.bin", V0), ("tokenizer.bin", TOKENIZER_BIN)]).unwrap();
    let t = tokenizer_for(&m.weights, m.vocab.as_ref()).unwrap();
    assert_eq!((t.bos(), t.eos(), t.end_of_text()), (None, None, vec![]));
}

/// The model's own name, shown beside its files' names: GGUF's `general.name` (the fixtures' is
/// written by the `gguf` package's `add_name`), config.json's `_name_or_path`; cut to 80
/// characters with hidden characters shown as U+FFFD, and a value of another type is no name.
#[test]
fn a_models_own_name_comes_from_its_files() {
    for (name, bytes) in [("tied_f32.gguf", TIED_GGUF), ("mixed_q.gguf", MIXED_GGUF)] {
        assert_eq!(import(&[(name, bytes)]).unwrap().title.as_deref(), Some("qplay import fixture"), "{name}");
    }
    assert_eq!(import(&[("model.bin", V0)]).unwrap().title, None, "a llama2.c header has no name");
    assert_eq!(import(&hf_files()).unwrap().title, None, "the fixture's config.json has no _name_or_path");
    let titled = |v: serde_json::Value| {
        let config = hf_config_with(|c| {
            c.insert("_name_or_path".into(), v);
        });
        import(&[("config.json", &config), ("model.safetensors", HF_MODEL)]).unwrap().title
    };
    assert_eq!(titled("TinyLlama/TinyLlama-1.1B-Chat-v1.0".into()).as_deref(), Some("TinyLlama/TinyLlama-1.1B-Chat-v1.0"));
    assert_eq!(titled("  ".into()), None);
    assert_eq!(titled(7.into()), None);
    let long = titled(format!("a\u{202E}{}", "b".repeat(10_000)).into()).unwrap();
    assert_eq!(long.chars().count(), 81, "80 characters and …: {long}");
    assert!(long.starts_with("a\u{FFFD}bbb") && long.ends_with('…'), "{long}");
}

/// Files that quote 100,000 characters of themselves in a parser's message (a tokenizer.json that
/// is one long string, a long dtype in a safetensors header, a long tokenizer type) give a message
/// of at most about 500 characters that still says what was expected and where.
#[test]
fn a_message_about_a_file_does_not_quote_it_whole() {
    let short = |e: &str, says: &[&str]| {
        assert!(e.chars().count() < 600, "{} characters: {}…", e.chars().count(), e.chars().take(200).collect::<String>());
        for s in says {
            assert!(e.contains(s), "{s:?} not in {e}");
        }
    };
    let hf = |tokenizer: &[u8]| {
        let m = import(&[("config.json", HF_CONFIG), ("model.safetensors", HF_MODEL), ("tokenizer.json", tokenizer)]).unwrap();
        tokenizer_for(&m.weights, m.vocab.as_ref()).err().expect("the tokenizer is refused").to_string()
    };
    let long_string = format!("\"{}\"", "q".repeat(200_000));
    short(&hf(long_string.as_bytes()), &["invalid type: string \"qqq", " … ", "expected", "column 200002"]);
    let long_type = String::from_utf8(HF_TOKENIZER.to_vec()).unwrap().replacen("\"type\": \"BPE\"", &format!("\"type\": \"{}\"", "T".repeat(100_000)), 1);
    assert!(long_type.len() > 100_000, "the fixture names its model type BPE");
    short(&hf(long_type.as_bytes()), &["model type \"TTT", "is not implemented"]);
    let header = format!("{{\"w\":{{\"dtype\":\"{}\",\"shape\":[1],\"data_offsets\":[0,4]}}}}", "D".repeat(100_000));
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&[0; 4]);
    let e = err_text(import(&[("config.json", HF_CONFIG), ("model.safetensors", &file)]));
    short(&e, &["unknown variant `DDD", " … ", "expected one of"]);
}

#[test]
fn lossless_formats_hold_bit_identical_weights() {
    let v0 = import(&[("model.bin", V0)]).unwrap().weights;
    let hf = import(&hf_files()).unwrap().weights;
    assert_eq!(v0, hf, "llama2.c v0 (f32) and Hugging Face (f16, rotate-half) give the same weights");
    let tied = import(&[("tied_f32.gguf", TIED_GGUF)]).unwrap().weights;
    assert_eq!(tied.layers, v0.layers);
    assert_eq!((&tied.tok_embeddings, &tied.norm), (&v0.tok_embeddings, &v0.norm));
    // Without the un-permutation the q rows would differ (the test can fail).
    let raw = safetensors::SafeTensors::deserialize(HF_MODEL).unwrap();
    let q = raw.tensor("model.layers.0.self_attn.q_proj.weight").unwrap();
    let q: Vec<f32> = q.data().chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect();
    assert_ne!(q, v0.layers[0].wq);
}

#[test]
fn tied_and_v1_llama2c_files_made_from_the_v0_bytes() {
    // Tied v0: a positive vocab_size and no trailing classifier.
    let (v, d) = (32usize, 32usize);
    let mut tied = V0[..V0.len() - v * d * 4].to_vec();
    tied[20..24].copy_from_slice(&32i32.to_le_bytes());
    let m = import(&[("model.bin", &tied)]).unwrap();
    check_shape(&m.weights, true);
    assert!(m.notes.iter().any(|n| n.contains("shared classifier")));
    assert_matches(&m.weights, fixture!("ref_tied.f32"), REL_TOLERANCE, "llama2.c v0, tied");

    // v1 (version1_export): the same tensors behind a 256-byte header, norms first.
    let f = |n: usize| n * 4;
    let (l, kv, hid, seq, hd) = (2usize, 16usize, 64usize, 32usize, 8usize);
    let mut at = 28;
    let mut cut = |n: usize| {
        let s = &V0[at..at + f(n)];
        at += f(n);
        s
    };
    let tok = cut(v * d);
    let att_norm = cut(l * d);
    let (wq, wk, wv, wo) = (cut(l * d * d), cut(l * kv * d), cut(l * kv * d), cut(l * d * d));
    let ffn_norm = cut(l * d);
    let (w1, w2, w3) = (cut(l * hid * d), cut(l * d * hid), cut(l * hid * d));
    let norm = cut(d);
    cut(2 * seq * hd / 2);
    let output = cut(v * d);
    let mut v1 = Vec::new();
    v1.extend_from_slice(&0x616b_3432u32.to_le_bytes());
    v1.extend_from_slice(&1i32.to_le_bytes());
    for x in [32i32, 64, 2, 4, 2, 32, 32] {
        v1.extend_from_slice(&x.to_le_bytes());
    }
    v1.push(0);
    v1.resize(256, 0);
    for part in [att_norm, ffn_norm, norm, tok, wq, wk, wv, wo, w1, w2, w3, output] {
        v1.extend_from_slice(part);
    }
    assert_eq!(&v1[..4], b"24ka", "the magic 0x616b3432 as little-endian bytes");
    let m1 = import(&[("model.bin", &v1)]).unwrap();
    assert_eq!(m1.format, ModelFormat::Llama2c { version: 1 });
    assert_eq!(m1.weights, import(&[("model.bin", V0)]).unwrap().weights);
}

#[test]
fn gguf_v2_files_read_like_v3() {
    let mut v2 = TIED_GGUF.to_vec();
    v2[4..8].copy_from_slice(&2u32.to_le_bytes());
    let m = import(&[("m.gguf", &v2)]).unwrap();
    assert_eq!(m.format, ModelFormat::Gguf { version: 2 });
    assert_eq!(m.weights, import(&[("m.gguf", TIED_GGUF)]).unwrap().weights);
}

/// Hugging Face names, values and dtypes of the fixture (f16 read as f32).
fn hf_tensors() -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let st = safetensors::SafeTensors::deserialize(HF_MODEL).unwrap();
    let mut out: Vec<_> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| {
            let v = t.data().chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect();
            (n, t.shape().to_vec(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A .safetensors file (with the safetensors crate) of (name, shape, values) in `dtype`.
fn safetensors_of(tensors: &[(String, Vec<usize>, Vec<f32>)], dtype: safetensors::Dtype) -> Vec<u8> {
    use qplay::formats::safetensors::{write_raw, RawTensor};
    let raw: Vec<RawTensor> = tensors
        .iter()
        .map(|(n, s, v)| RawTensor {
            name: n.clone(),
            dtype,
            shape: s.clone(),
            data: match dtype {
                safetensors::Dtype::BF16 => v.iter().flat_map(|x| half::bf16::from_f32(*x).to_le_bytes()).collect(),
                safetensors::Dtype::F16 => v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect(),
                safetensors::Dtype::I8 => v.iter().map(|x| *x as i8 as u8).collect(),
                _ => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            },
        })
        .collect();
    write_raw(&raw, Default::default()).unwrap()
}

fn hf_config_with(edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(HF_CONFIG).unwrap();
    edit(v.as_object_mut().unwrap());
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn hugging_face_bf16_shards_and_tied_heads() {
    // BF16 in two shards, tied, lm_head dropped: the weights are exactly bf16, so nothing changes.
    let all: Vec<_> = hf_tensors().into_iter().filter(|t| t.0 != "lm_head.weight").collect();
    let (a, b) = all.split_at(all.len() / 2);
    let shard1 = safetensors_of(a, safetensors::Dtype::BF16);
    let shard2 = safetensors_of(b, safetensors::Dtype::BF16);
    let config = hf_config_with(|c| {
        c.insert("tie_word_embeddings".into(), true.into());
    });
    let m = import(&[
        ("config.json", &config),
        ("model-00001-of-00002.safetensors", &shard1),
        ("model-00002-of-00002.safetensors", &shard2),
        ("generation_config.json", b"{}"),
    ])
    .unwrap();
    check_shape(&m.weights, true);
    assert!(m.notes.iter().any(|n| n.contains("generation_config.json ignored")), "{:?}", m.notes);
    assert_matches(&m.weights, fixture!("ref_tied.f32"), REL_TOLERANCE, "Hugging Face BF16 shards, tied");
    // Tied with lm_head present: ignored, with a note.
    let m = import(&[("config.json", &config), ("model.safetensors", HF_MODEL)]).unwrap();
    assert!(m.notes.iter().any(|n| n.contains("lm_head.weight ignored")), "{:?}", m.notes);
    assert!(m.weights.output.is_none());
}

#[test]
fn a_long_context_is_clamped_with_a_note() {
    let config = hf_config_with(|c| {
        c.insert("max_position_embeddings".into(), 131072.into());
    });
    let m = import(&[("config.json", &config), ("model.safetensors", HF_MODEL)]).unwrap();
    assert_eq!(m.weights.config.seq_len, IMPORT_MAX_SEQ_LEN);
    assert!(m.notes.iter().any(|n| n.contains("max_position_embeddings 131072 clamped to 2048")), "{:?}", m.notes);
}

// ---------------------------------------------------------------------------- export

fn untied() -> ImportedModel {
    import(&[("model.bin", V0), ("tokenizer.bin", TOKENIZER_BIN)]).unwrap()
}

/// The tied fixture's vocabulary (llama tokenizer metadata), for the export.
fn llama_vocab() -> Vocabulary {
    match import(&[("tied_f32.gguf", TIED_GGUF)]).unwrap().vocab {
        Some(RawVocab::Tokens(v)) => v,
        other => panic!("{other:?}"),
    }
}

const EXPORT_TYPES: [GgufWeightType; 5] = [
    GgufWeightType::F32,
    GgufWeightType::F16,
    GgufWeightType::Block(GgmlType::Q8_0),
    GgufWeightType::Block(GgmlType::Q4_0),
    GgufWeightType::Block(GgmlType::Q4_1),
];

#[test]
fn gguf_export_round_trips() {
    let w = untied().weights;
    let vocab = llama_vocab();
    for ty in EXPORT_TYPES {
        let bytes = write_gguf(&w, "qplay test", ty, Some(&RawVocab::Tokens(vocab.clone()))).unwrap();
        let back = read_gguf(&bytes).unwrap();
        assert_eq!(back.version, 3);
        assert_eq!(back.vocab.as_ref(), Some(&vocab), "{}", ty.name());
        assert_eq!(back.weights.config, w.config);
        assert_eq!((&back.weights.norm, &back.weights.layers[1].ffn_norm), (&w.norm, &w.layers[1].ffn_norm), "norms stay F32");
        match ty {
            // The fixture's weights are exactly f16: F32 and F16 give them back bit for bit.
            GgufWeightType::F32 | GgufWeightType::F16 => assert_eq!(back.weights, w, "{}", ty.name()),
            GgufWeightType::Block(t) => {
                // Each matrix is ggml's dequantize(quantize(x)) (ggml.rs is bit-exact with gguf-py).
                let want = ggml::dequantize(t, &ggml::quantize(t, &w.layers[0].w2).unwrap()).unwrap();
                assert_eq!(back.weights.layers[0].w2, want, "{}", t.name());
                assert_ne!(back.weights.layers[0].w2, w.layers[0].w2);
                let tol = if t == GgmlType::Q8_0 { Q8_0_TOLERANCE } else { Q4_TOLERANCE };
                let worst = worst_relative(&back.weights, fixture!("ref_untied.f32"));
                eprintln!("export {}: worst |Δ logit| / max |logit| vs float = {worst:e}", t.name());
                assert!(worst < tol && worst > 1e-3, "{}: {worst:e}", t.name());
            }
        }
    }
    // A tied model, and the character alphabet as qplay.alphabet.
    let mut tied = import(&[("tied_f32.gguf", TIED_GGUF)]).unwrap().weights;
    tied.alphabet = Some("abcdefghijklmnopqrstuvwxyz .,!?\n".into());
    let back = read_gguf(&write_gguf(&tied, "qplay test", GgufWeightType::F32, None).unwrap()).unwrap();
    assert_eq!(back.weights, tied);
    // The name given is general.name (once always "qplay"): trimmed, hidden characters as U+FFFD,
    // cut to 80 characters.
    assert_eq!(back.title.as_deref(), Some("qplay test"));
    let named = |name: &str| read_gguf(&write_gguf(&tied, name, GgufWeightType::F32, None).unwrap()).unwrap().title;
    assert_eq!(named(" TinyLlama\u{202E}-1.1B \n").as_deref(), Some("TinyLlama\u{FFFD}-1.1B"));
    assert_eq!(named(&"x".repeat(1000)).map(|t| t.chars().count()), Some(81), "80 characters and '…'");
    // The alphabet is also written as a "llama" vocabulary (llama.cpp needs tokenizer.ggml.*):
    // its SentencePiece tokenization is the character tokenizer's, id for id; qplay itself
    // keeps using the alphabet.
    let Some(v) = &back.vocab else { panic!("no vocabulary") };
    let raw = Some(RawVocab::Tokens(v.clone()));
    assert_eq!(v, &Vocabulary::from_alphabet(tied.alphabet.as_deref().unwrap(), 32).unwrap());
    assert_eq!(v.model.as_deref(), Some("llama"));
    assert_eq!(&v.tokens[26], "▁".as_bytes(), "the space is sentencepiece's ▁");
    assert_eq!(v.tokens.len(), 32, "no room for <unk>, <s>, </s> in 32 ids");
    assert_eq!((v.bos_id, v.add_bos, v.add_space_prefix), (None, Some(false), Some(false)));
    let chars = tokenizer_for(&back.weights, raw.as_ref()).unwrap();
    assert!(matches!(chars, qplay::lm::tokenizers::Tokenizer::Char(_)));
    let mut no_alphabet = back.weights.clone();
    no_alphabet.alphabet = None;
    let spm = tokenizer_for(&no_alphabet, raw.as_ref()).unwrap();
    assert!(!matches!(spm, qplay::lm::tokenizers::Tokenizer::Char(_)));
    for text in ["to be, or not to be!\n", " leading and  double  spaces ", "\n\n?", "a"] {
        let ids = chars.encode(text).unwrap();
        assert_eq!(spm.encode(text).unwrap(), ids, "{text:?}");
        assert_eq!(spm.decode(&ids), text);
    }
    // With room in the vocabulary: <unk>, <s>, </s> after the characters, then unused pieces.
    let v = Vocabulary::from_alphabet("ab c", 10).unwrap();
    let pieces: Vec<&str> = v.tokens.iter().map(|t| std::str::from_utf8(t).unwrap()).collect();
    assert_eq!(pieces, ["a", "b", "▁", "c", "<unk>", "<s>", "</s>", "<unused7>", "<unused8>", "<unused9>"]);
    assert_eq!(v.token_types, [1, 1, 1, 1, 2, 3, 3, 5, 5, 5]);
    assert_eq!((v.unknown_id, v.bos_id, v.eos_id), (Some(4), Some(5), Some(6)));
    let e = err_text(Vocabulary::from_alphabet("a▁b", 10));
    assert!(e.contains("qplay.alphabet") && e.contains("space"), "{e}");
    assert!(err_text(Vocabulary::from_alphabet("abcd", 3)).contains("4 characters for a vocabulary of 3"));
    assert!(err_text(Vocabulary::from_alphabet("abca", 8)).contains("lists 'a' twice"));
    // A hand-edited qplay.alphabet that cannot be a vocabulary is named when the model is exported.
    let mut w = tied.clone();
    w.alphabet = Some("ab▁".into());
    let e = err_text(write_gguf(&w, "qplay test", GgufWeightType::F32, None));
    assert!(e.contains("qplay.alphabet"), "{e}");
}

#[test]
fn gguf_export_refuses_what_the_type_cannot_hold() {
    let mut w = untied().weights;
    w.layers[0].wq[5] = 1e6;
    let e = err_text(write_gguf(&w, "qplay test", GgufWeightType::F16, None));
    assert!(e.contains("blk.0.attn_q.weight") && e.contains("overflows F16"), "{e}");
    let mut v = llama_vocab();
    v.tokens.pop();
    let e = err_text(write_gguf(&untied().weights, "qplay test", GgufWeightType::F32, Some(&RawVocab::Tokens(v))));
    assert!(e.contains("31 tokens for a vocabulary of 32"), "{e}");
}

/// A llama2.c tokenizer.bin from its pieces (score, length, bytes after max_token_length).
fn tokenizer_bin(pieces: &[Vec<u8>], scores: &[f32]) -> Vec<u8> {
    let mut out = (pieces.iter().map(Vec::len).max().unwrap() as i32).to_le_bytes().to_vec();
    for (p, s) in pieces.iter().zip(scores) {
        out.extend_from_slice(&s.to_le_bytes());
        out.extend_from_slice(&(p.len() as i32).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Texts for the tokenizers' round trips: spaces (leading, double, trailing), newlines, merges
/// across words, characters with no piece (byte fallback: "\n" and " " have byte pieces here,
/// the rest fall to <unk>), "é" (a piece only after a space).
const LLAMA2C_TEXTS: [&str; 12] = [
    "the",
    " the",
    "in the end they sat on a stone",
    "  leading and  double  spaces ",
    "line one\nline two\n\n",
    "\n",
    " ",
    "é",
    "café é",
    "tab\tand ~{}| 日本",
    "resent ou nd ed",
    "",
];

/// The GGUF export of a llama2.c model with its tokenizer.bin writes the SentencePiece ("llama")
/// vocabulary tokenizer.py exported from: the tied fixture's, which the `gguf` package wrote from
/// the same pieces (with their types and scores), spaces spelt "▁"; read back, it tokenizes every
/// text as llama2.c's tokenizer did.
#[test]
fn gguf_export_writes_a_llama2c_tokenizer_as_sentencepiece() {
    let m = untied();
    let original = tokenizer_for(&m.weights, m.vocab.as_ref()).unwrap();
    let back = read_gguf(&write_gguf(&m.weights, "qplay test", GgufWeightType::F32, m.vocab.as_ref()).unwrap()).unwrap();
    let Some(v) = &back.vocab else { panic!("no vocabulary") };
    let mut reference = llama_vocab();
    // The fixture script's piece list keeps tokenizer.py's ' ' in all but "▁é".
    for t in &mut reference.tokens {
        *t = String::from_utf8(t.clone()).unwrap().replace(' ', "▁").into_bytes();
    }
    assert_eq!(v.model.as_deref(), Some("llama"));
    assert_eq!(v.tokens, reference.tokens, "' ' written back as ▁, BOS / EOS as <s> / </s>");
    assert_eq!((&v.tokens[1], &v.tokens[2], &v.tokens[5]), (&b"<s>".to_vec(), &b"</s>".to_vec(), &"▁".as_bytes().to_vec()));
    assert_eq!(v.tokens[15], "▁the".as_bytes());
    // This file spells BOS / EOS "<s>" / "</s>", not tokenizer.py's "\n<s>\n" / "\n</s>\n": qplay's
    // llama2.c tokenizer gives it no BOS, so neither does the export (it used to take run.c's id 1,
    // and every text read back gained a BOS).
    assert_eq!(original.bos(), None);
    let mut types = reference.token_types.clone();
    (types[1], types[2]) = (1, 1);
    assert_eq!(v.token_types, types, "unk 2, <0xXX> 6, the rest 1");
    assert_eq!(v.scores, reference.scores);
    assert_eq!((v.bos_id, v.eos_id, v.unknown_id, v.add_bos), (None, None, Some(0), Some(false)));
    assert_eq!(v.add_space_prefix, Some(true));
    let raw = Some(RawVocab::Tokens(v.clone()));
    let spm = tokenizer_for(&back.weights, raw.as_ref()).unwrap();
    assert_eq!(spm.kind(), "SentencePiece BPE");
    assert_eq!((spm.bos(), spm.eos()), (original.bos(), original.eos()));
    for text in LLAMA2C_TEXTS {
        let ids = original.encode(text).unwrap();
        assert_eq!(spm.encode(text).unwrap(), ids, "{text:?}");
        assert_eq!(spm.decode(&ids), original.decode(&ids), "{text:?}");
    }
    assert!(original.encode("\n~").unwrap().contains(&3), "the texts reach the byte pieces");

    // tokenizer.py's own spelling of BOS / EOS ("\n<s>\n", "\n</s>\n"), and a model whose
    // embedding has rows beyond the tokenizer: unused pieces fill them.
    let (pieces, scores) = match &m.vocab {
        Some(RawVocab::Tokens(v)) => (v.tokens.clone(), v.scores.clone()),
        other => panic!("{other:?}"),
    };
    let mut real = pieces.clone();
    real[1] = b"\n<s>\n".to_vec();
    real[2] = b"\n</s>\n".to_vec();
    real.truncate(30);
    let bin = tokenizer_bin(&real, &scores);
    let m2 = import(&[("model.bin", V0), ("tokenizer.bin", &bin)]).unwrap();
    let original = tokenizer_for(&m2.weights, m2.vocab.as_ref()).unwrap();
    assert_eq!((original.bos(), original.eos()), (Some(1), Some(2)));
    let back = read_gguf(&write_gguf(&m2.weights, "qplay test", GgufWeightType::Block(GgmlType::Q8_0), m2.vocab.as_ref()).unwrap()).unwrap();
    let Some(v) = &back.vocab else { panic!("no vocabulary") };
    assert_eq!(v.tokens[..30], reference.tokens[..30]);
    assert_eq!(v.tokens[30..], [b"<unused30>".to_vec(), b"<unused31>".to_vec()]);
    assert_eq!(v.token_types[..30], reference.token_types[..30], "unk 2, <s> </s> 3, <0xXX> 6, the rest 1");
    assert_eq!(v.token_types[30..], [5, 5]);
    assert_eq!((v.bos_id, v.eos_id, v.add_bos), (Some(1), Some(2), Some(true)));
    let spm = tokenizer_for(&back.weights, Some(&RawVocab::Tokens(v.clone()))).unwrap();
    assert_eq!((spm.bos(), spm.eos()), (Some(1), Some(2)));
    for text in LLAMA2C_TEXTS {
        let ids = original.encode(text).unwrap();
        assert_eq!(spm.encode(text).unwrap(), ids, "{text:?}");
        assert_eq!(spm.decode(&ids), original.decode(&ids), "{text:?}");
    }

    // A piece holding "▁" would read back as a space: refused, and the message says what to do.
    let mut odd = pieces;
    odd[20] = "r▁".as_bytes().to_vec();
    let m3 = import(&[("model.bin", V0), ("tokenizer.bin", &tokenizer_bin(&odd, &scores))]).unwrap();
    let e = err_text(write_gguf(&m3.weights, "qplay test", GgufWeightType::F32, m3.vocab.as_ref()));
    assert!(e.contains("tokenizer.bin") && e.contains("piece 20") && e.contains(".safetensors"), "{e}");
}

const BPE_JSON: &str = include_str!("../fixtures/lm/tokenizers/bpe.tokenizer.json");
const BPE_CASES: &str = include_str!("../fixtures/lm/tokenizers/bpe_cases.json");
const SPM_METASPACE_JSON: &str = include_str!("../fixtures/lm/tokenizers/spm_metaspace.tokenizer.json");

/// A model whose embedding has 512 rows, for the 502 ids of the BPE fixture.
fn model_of_512_ids() -> LmWeights {
    let config = qplay::lm::LmConfig {
        dim: 16,
        n_layers: 1,
        n_heads: 2,
        n_kv_heads: 2,
        hidden_dim: 32,
        vocab_size: 512,
        seq_len: 16,
        norm_eps: 1e-5,
        rope_theta: 10000.0,
        tied: true,
    };
    LmWeights::init(&config, 7).unwrap()
}

/// A Hugging Face model's byte-level BPE tokenizer.json (as import_model hands it over) through the
/// GGUF export and back: a "gpt2" vocabulary with the llama.cpp pre-tokenizer name of each
/// variant, the merges in rank order, and the same ids as `tokenizers` on the fixture's strings.
/// The fixture's "<sep>" (lstrip) and "[X]" (rstrip, single_word) cannot be carried, so the
/// file is refused as it is and exported with those flags cleared.
#[test]
fn gguf_export_writes_a_byte_level_tokenizer_json_as_gpt2() {
    use serde_json::Value;
    let w = model_of_512_ids();
    // "<|endoftext|>" (id 0) as config.json's eos_token_id.
    let export = |json: String| write_gguf(&w, "qplay test", GgufWeightType::F32, Some(&RawVocab::TokenizerJson { json, end_of_text: vec![0] }));
    let e = err_text(export(BPE_JSON.to_string()));
    assert!(e.contains("<sep>") && e.contains("lstrip") && e.contains(".safetensors"), "{e}");

    let mut base: Value = serde_json::from_str(BPE_JSON).unwrap();
    for t in base["added_tokens"].as_array_mut().unwrap() {
        for flag in ["lstrip", "rstrip", "single_word"] {
            t[flag] = Value::Bool(false);
        }
    }
    // A spelling of two ids cannot be looked up in GGUF: an added token that spells a token of the
    // vocabulary, or the name the export pads an unused id with.
    for (content, added, first, second) in [("ł", 505, 255, 505), ("[PAD503]", 502, 502, 503)] {
        let mut dup = base.clone();
        let token = serde_json::json!({"id": added, "content": content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false});
        dup["added_tokens"].as_array_mut().unwrap().push(token);
        let e = err_text(export(dup.to_string()));
        assert!(e.contains(&format!("tokens {first} and {second} are both \"{content}\"")) && e.contains(".safetensors"), "{content}: {e}");
    }
    let cases: Value = serde_json::from_str(BPE_CASES).unwrap();
    let strings: Vec<&str> = cases["strings"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    let merges: Vec<String> = base["model"]["merges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {}", p[0].as_str().unwrap(), p[1].as_str().unwrap()))
        .collect();
    for (variant, pre) in [("gpt2", "gpt-2"), ("llama3", "llama-bpe"), ("qwen2", "qwen2"), ("legacy_merges", "gpt-2")] {
        let case = cases["variants"].as_array().unwrap().iter().find(|v| v["name"] == variant).unwrap();
        let json = crate::lm_tokenizers::patched(&base, &case["patch"]);
        let original = qplay::lm::tokenizers::Tokenizer::from_tokenizer_json(&json).unwrap();
        let back = read_gguf(&export(json).unwrap()).unwrap();
        let Some(v) = &back.vocab else { panic!("{variant}: no vocabulary") };
        assert_eq!((v.model.as_deref(), v.pre.as_deref()), (Some("gpt2"), Some(pre)), "{variant}");
        assert_eq!(v.merges, merges, "{variant}");
        assert_eq!(v.tokens.len(), 512);
        assert_eq!((&v.tokens[0], &v.tokens[500], &v.tokens[511]), (&b"<|endoftext|>".to_vec(), &b"<sep>".to_vec(), &b"[PAD511]".to_vec()));
        assert_eq!(v.tokens[221], "Ġ".as_bytes(), "{variant}: byte-level spelling");
        assert_eq!((v.token_types[0], v.token_types[1], v.token_types[500], v.token_types[501]), (3, 1, 4, 4));
        assert!(v.token_types[502..].iter().all(|&t| t == 5));
        assert_eq!((v.bos_id, v.eos_id, v.add_bos), (original.bos(), Some(0), Some(original.bos().is_some())), "{variant}");
        let gguf = tokenizer_for(&back.weights, Some(&RawVocab::Tokens(v.clone()))).unwrap();
        assert_eq!(gguf.bos(), original.bos());
        let expected: Vec<Vec<u32>> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect())
            .collect();
        for (k, s) in strings.iter().enumerate() {
            let ids = gguf.encode(s).unwrap();
            assert_eq!(ids, original.encode(s).unwrap(), "{variant}: ids of {s:?}");
            if !crate::lm_tokenizers::strips_whitespace(s) {
                assert_eq!(ids, expected[k], "{variant}: `tokenizers`' ids of {s:?}");
            }
            assert_eq!(gguf.decode(&ids), original.decode(&ids), "{variant}: decode of {s:?}");
        }
    }
    assert_eq!(cases["variants"][1]["name"], "llama3");

    // What GGUF cannot carry is named, with the way out.
    let prefix = cases["variants"].as_array().unwrap().iter().find(|v| v["name"] == "gpt2_prefix_space").unwrap();
    let e = err_text(export(crate::lm_tokenizers::patched(&base, &prefix["patch"])));
    assert!(e.contains("pre-tokenizer") && e.contains("add_prefix_space: true") && e.contains(".safetensors"), "{e}");
    let e = err_text(export(SPM_METASPACE_JSON.to_string()));
    assert!(e.contains("SentencePiece-style") && e.contains(".safetensors"), "{e}");
    let e = err_text(export(String::from_utf8(HF_TOKENIZER.to_vec()).unwrap()));
    assert!(e.contains("does not read it") && e.contains(".safetensors"), "{e}");
    let mut mixed = base.clone();
    mixed["added_tokens"][0]["content"] = Value::String("<sep>|".into());
    let e = err_text(export(mixed.to_string()));
    assert!(e.contains("can overlap"), "{e}");
    // 1,000 raw and 1,000 normalized added tokens of 500 bytes: checking every pair for overlaps
    // would take minutes (about 2.5·10^11 byte comparisons); the work is refused at once.
    let mut many = base.clone();
    let added: Vec<Value> = (0..2000)
        .map(|i| serde_json::json!({"id": 0, "content": format!("{i:0>500}"), "single_word": false, "lstrip": false, "rstrip": false, "normalized": i % 2 == 1, "special": true}))
        .collect();
    many["added_tokens"] = Value::from(added);
    let start = std::time::Instant::now();
    let e = err_text(export(many.to_string()));
    eprintln!("2,000 added tokens of 500 bytes: refused in {:.3} s", start.elapsed().as_secs_f64());
    assert!(e.contains("too many raw and normalized added tokens"), "{e}");
}

/// Writes qplay's exports for scripts/make_lm_import_fixtures.py check-export (GGUFReader).
#[test]
#[ignore]
fn write_export_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/lm-import-export");
    std::fs::create_dir_all(&dir).unwrap();
    let w = untied().weights;
    let vocab = llama_vocab();
    for ty in EXPORT_TYPES {
        let name = format!("untied_{}.gguf", ty.name().to_ascii_lowercase());
        std::fs::write(dir.join(name), write_gguf(&w, "qplay test", ty, Some(&RawVocab::Tokens(vocab.clone()))).unwrap()).unwrap();
    }
    let tied = import(&[("tied_f32.gguf", TIED_GGUF)]).unwrap().weights;
    std::fs::write(dir.join("tied_f32.gguf"), write_gguf(&tied, "qplay test", GgufWeightType::F32, Some(&RawVocab::Tokens(vocab))).unwrap()).unwrap();
}

// ---------------------------------------------------------------------------- bad files

/// Every prefix at cut points (each of the first 600 bytes, then every `step`) is an error whose
/// message satisfies `ok`, with no allocation beyond `alloc_limit`.
fn check_truncations(full: &[u8], step: usize, read: impl Fn(&[u8]) -> Result<(), LmError>, ok: impl Fn(&str) -> bool) {
    let cuts = (0..full.len().min(600)).chain((600..full.len()).step_by(step));
    for cut in cuts {
        let (r, largest) = largest_allocation(|| read(&full[..cut]));
        let e = match r {
            Err(e) => e.to_string(),
            Ok(()) => panic!("a file cut at {cut} of {} bytes was accepted", full.len()),
        };
        assert!(ok(&e), "cut at {cut}: {e}");
        assert!(largest <= 4 * full.len() + (1 << 16), "cut at {cut}: an allocation of {largest} bytes");
    }
}

#[test]
fn truncated_files_are_errors_at_every_cut() {
    let gguf = |b: &[u8]| read_gguf(b).map(|_| ());
    let says = |e: &str| e.contains("truncated") || e.contains("run past the end") || e.contains("wrong magic");
    check_truncations(TIED_GGUF, 89, gguf, says);
    check_truncations(MIXED_GGUF, 31, gguf, says);
    let l2c = |b: &[u8]| read_llama2c(b).map(|_| ());
    let short = |e: &str| e.contains("truncated");
    check_truncations(V0, 97, l2c, short);
    check_truncations(V2, 41, l2c, short);
    check_truncations(HF_MODEL, 83, |b| read_hf(HF_CONFIG, &[("model.safetensors", b)]).map(|_| ()), |e| {
        e.contains(".safetensors file is malformed: model.safetensors")
    });
    // config.json without its final newline is still a whole JSON object: cut before that.
    let config = &HF_CONFIG[..HF_CONFIG.trim_ascii_end().len()];
    check_truncations(config, 1, |b| read_hf(b, &[("model.safetensors", HF_MODEL)]).map(|_| ()), |e| {
        e.contains("config.json")
    });
    // A tokenizer.bin cut inside a token is an error; cut between tokens it is a shorter vocabulary.
    let mut whole = 0;
    for cut in 0..TOKENIZER_BIN.len() {
        match read_llama2c_tokenizer(&TOKENIZER_BIN[..cut]) {
            Ok(v) => {
                assert!(v.tokens.len() < 32);
                whole += 1;
            }
            Err(e) => assert!(e.to_string().contains("truncated"), "cut at {cut}: {e}"),
        }
    }
    assert_eq!(whole, 32, "the cuts between tokens (and after the header) read");
}

/// A header that claims more layers than the file can hold is refused from the header alone,
/// without laying out (or allocating for) its layers: 32,769 layers of a tiny model (under the
/// weight-size limit) once took the fuzzer past its time limit while the layout was built.
#[test]
fn a_header_with_absurd_layer_counts_is_refused_before_its_layout() {
    // A v2 header as the fuzzer wrote it: dim 8, hidden_dim 16, 2 heads, 1 kv head, vocab 8,
    // context 4, shared classifier, group 4; then 1,500 bytes.
    let file = |layers: i32| {
        let mut b = b"24ka".to_vec();
        for v in [2i32, 8, 16, layers, 2, 1, 8, 4] {
            b.extend(v.to_le_bytes());
        }
        b.push(1);
        b.extend(4i32.to_le_bytes());
        b.resize(256 + 1500, 0);
        b
    };
    for layers in [32_769i32, 1 << 20, i32::MAX] {
        let b = file(layers);
        let (r, largest) = largest_allocation(|| read_llama2c(&b).map(|_| ()));
        let e = err_text(r);
        // Past the weight-size limit the limit says so first; below it, the file's size.
        let named = e.contains(&format!("{layers} layers")) && e.contains("more than the file's");
        let layer_limit = e.contains(&format!("n_layers: {layers} is more than the limit 1024"));
        assert!(named || layer_limit || (layers > 32_769 && e.contains("the limit is")), "{layers} layers: {e}");
        assert!(largest < 1 << 16, "{layers} layers: an allocation of {largest} bytes");
    }
}

#[test]
fn wrong_magic_and_versions_are_named() {
    let mut bad = TIED_GGUF.to_vec();
    bad[3] = b'X';
    let e = err_text(import(&[("m.gguf", &bad)]));
    assert_eq!(e, "this is not a GGUF file (wrong magic bytes)");
    for (version, says) in [(1u32, "GGUF v1"), (4, "GGUF version 4"), (0x0300_0000, "big-endian")] {
        let mut b = TIED_GGUF.to_vec();
        b[4..8].copy_from_slice(&version.to_le_bytes());
        let e = err_text(read_gguf(&b));
        assert!(e.contains(says), "{e}");
    }
    let mut v2 = V2.to_vec();
    v2[4..8].copy_from_slice(&3i32.to_le_bytes());
    let e = err_text(read_llama2c(&v2));
    assert!(e.contains("version 3 is not supported"), "{e}");
    // A broken llama2.c magic makes it a legacy header that does not describe the file.
    let mut v2 = V2.to_vec();
    v2[0] = b'X';
    let e = err_text(import(&[("model.bin", &v2)]));
    assert!(e.contains("the header (v0") || e.contains("model configuration"), "{e}");
    // The magic one bit off ("ak43"): read as a version-0 header of dim 1634415667, which says so.
    let mut v2 = V2.to_vec();
    v2[0..4].copy_from_slice(&0x616b_3433u32.to_le_bytes());
    let e = err_text(read_llama2c(&v2));
    assert!(e.contains("does not start with llama2.c's magic \"ak42\"") && e.contains("version-0 header"), "{e}");
}

/// A little GGUF builder for hand-made bad files (independent of gguf_write).
#[derive(Default)]
struct Gguf {
    kv: Vec<u8>,
    n_kv: u64,
    infos: Vec<u8>,
    n_tensors: u64,
    data: Vec<u8>,
}

impl Gguf {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    fn kv(mut self, key: &str, ty: u32, value: &[u8]) -> Self {
        Gguf::string(&mut self.kv, key);
        self.kv.extend_from_slice(&ty.to_le_bytes());
        self.kv.extend_from_slice(value);
        self.n_kv += 1;
        self
    }
    fn u32(self, key: &str, v: u32) -> Self {
        self.kv(key, 4, &v.to_le_bytes())
    }
    fn str(self, key: &str, v: &str) -> Self {
        let mut b = Vec::new();
        Gguf::string(&mut b, v);
        self.kv(key, 8, &b)
    }
    fn tensor(mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> Self {
        Gguf::string(&mut self.infos, name);
        self.infos.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in dims {
            self.infos.extend_from_slice(&d.to_le_bytes());
        }
        self.infos.extend_from_slice(&ty.to_le_bytes());
        self.infos.extend_from_slice(&offset.to_le_bytes());
        self.n_tensors += 1;
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&self.n_tensors.to_le_bytes());
        out.extend_from_slice(&self.n_kv.to_le_bytes());
        out.extend_from_slice(&self.kv);
        out.extend_from_slice(&self.infos);
        out.resize(out.len().div_ceil(32) * 32, 0);
        out.extend_from_slice(&self.data);
        out
    }
}

fn llama_header() -> Gguf {
    Gguf::default()
        .str("general.architecture", "llama")
        .u32("llama.embedding_length", 32)
        .u32("llama.block_count", 1)
        .u32("llama.feed_forward_length", 64)
        .u32("llama.attention.head_count", 4)
        .u32("llama.context_length", 32)
        .kv("llama.attention.layer_norm_rms_epsilon", 6, &1e-5f32.to_le_bytes())
}

#[test]
fn absurd_counts_and_sizes_are_refused_before_allocating() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        // 10^12 elements in one tensor.
        (llama_header().tensor("token_embd.weight", &[1_000_000, 1_000_000], 0, 0).bytes(), "token_embd.weight (1000000000000 elements"),
        // Dimensions whose product overflows u64.
        (llama_header().tensor("blk.0.attn_q.weight", &[u64::MAX, 3], 0, 0).bytes(), "blk.0.attn_q.weight"),
        // A tensor past the end of the file.
        (llama_header().tensor("output.weight", &[32, 32], 0, 1 << 40).bytes(), "run past the end of the file"),
        // A misaligned offset.
        (llama_header().tensor("output.weight", &[32], 0, 4).bytes(), "not a multiple of the alignment 32"),
        // Five dimensions.
        (llama_header().tensor("output.weight", &[1, 1, 1, 1, 1], 0, 0).bytes(), "5 dimensions"),
        // A string of 2^60 bytes, an array of 2^60 values, 2^40 strings.
        (Gguf::default().kv("k", 8, &(1u64 << 60).to_le_bytes()).bytes(), "truncated: the string of metadata key k needs 1152921504606846976 bytes"),
        (Gguf::default().kv("k", 9, &[&6u32.to_le_bytes()[..], &(1u64 << 60).to_le_bytes()].concat()).bytes(), "truncated"),
        (Gguf::default().kv("k", 9, &[&8u32.to_le_bytes()[..], &(1u64 << 40).to_le_bytes()].concat()).bytes(), "claims 1099511627776 strings"),
        // Nested arrays, unknown value types, a bad bool, a key longer than the spec allows.
        (Gguf::default().kv("k", 9, &[&9u32.to_le_bytes()[..], &1u64.to_le_bytes()].concat()).bytes(), "arrays of arrays"),
        (Gguf::default().kv("k", 13, &[0; 8]).bytes(), "unknown value type 13"),
        (Gguf::default().kv("k", 7, &[2]).bytes(), "a bool must be 0 or 1"),
        (Gguf::default().kv(&"k".repeat(70_000), 4, &[0; 4]).bytes(), "70000 bytes long"),
        (Gguf::default().kv("k", 4, &[0; 4]).kv("k", 4, &[0; 4]).bytes(), "metadata key k appears twice"),
        (Gguf::default().u32("general.alignment", 48).bytes(), "general.alignment must be a power of two"),
    ];
    for (bytes, says) in cases {
        let (r, largest) = largest_allocation(|| read_gguf(&bytes).map(|_| ()));
        let e = err_text(r);
        assert!(e.contains(says), "expected {says:?} in: {e}");
        assert!(largest < (1 << 20), "{says}: an allocation of {largest} bytes");
    }
    // Header counts: 2^40 tensors, 2^20 metadata entries claimed by a 24-byte file.
    for (tensors, kvs, says) in [(1u64 << 40, 0u64, "tensors: the limit is 65536"), (10, 1000, "need at least")] {
        let mut b = b"GGUF".to_vec();
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&tensors.to_le_bytes());
        b.extend_from_slice(&kvs.to_le_bytes());
        let (r, largest) = largest_allocation(|| read_gguf(&b).map(|_| ()));
        let e = err_text(r);
        assert!(e.contains(says), "{e}");
        assert!(largest < 4096, "{largest}");
    }
    // llama2.c: a header describing 2^31 layers; tokenizer.bin claiming a 2 GB token.
    let mut v0 = V0[..64].to_vec();
    v0[8..12].copy_from_slice(&i32::MAX.to_le_bytes());
    let (r, largest) = largest_allocation(|| read_llama2c(&v0).map(|_| ()));
    let e = err_text(r);
    assert!(e.contains("a model of this shape (f32 weights) needs") || e.contains("n_layers: 2147483647 is more than the limit 1024"), "{e}");
    assert!(largest < 4096, "{largest}");
    let mut tok = TOKENIZER_BIN[..12].to_vec();
    tok[0..4].copy_from_slice(&i32::MAX.to_le_bytes());
    tok[8..12].copy_from_slice(&(i32::MAX - 1).to_le_bytes());
    let (r, largest) = largest_allocation(|| read_llama2c_tokenizer(&tok).map(|_| ()));
    assert!(err_text(r).contains("truncated: token 0 needs 2147483646 bytes"));
    assert!(largest < 4096, "{largest}");
    // Hugging Face: a config of 10^9 layers.
    let config = hf_config_with(|c| {
        c.insert("num_hidden_layers".into(), 1_000_000_000.into());
    });
    let (r, largest) = largest_allocation(|| read_hf(&config, &[("model.safetensors", HF_MODEL)]).map(|_| ()));
    let e = err_text(r);
    assert!(e.contains("a model of this shape (f32 weights) needs") || e.contains("n_layers: 1000000000 is more than the limit 1024"), "{e}");
    assert!(largest < (1 << 16), "{largest}");
    // A width of 2^62: the parameter count saturates, and is not shown as a size.
    let config = hf_config_with(|c| {
        c.insert("hidden_size".into(), (1u64 << 62).into());
        c.insert("intermediate_size".into(), (1u64 << 62).into());
    });
    let e = err_text(read_hf(&config, &[("model.safetensors", HF_MODEL)]).map(|_| ()));
    assert!(!e.contains(&u128::MAX.to_string()), "{e}");
    assert!(e.contains("a model of this shape (f32 weights) needs more bytes than can be counted (2^128)"), "{e}");
}

/// Reading metadata is linear in the file: a 65,535-byte key over an array of 10^6 empty
/// strings (8 MB) once cost a scan of the key per string (10^11 steps, minutes); a bound of
/// seconds for milliseconds of work tells linear from that.
#[test]
fn a_long_key_over_a_long_string_array_reads_in_linear_time() {
    let count = 1_000_000u64;
    let mut value = [&8u32.to_le_bytes()[..], &count.to_le_bytes()].concat();
    value.resize(value.len() + 8 * count as usize, 0);
    let key = "k".repeat(65_535);
    let bytes = Gguf::default().kv(&key, 9, &value).bytes();
    let start = std::time::Instant::now();
    let f = GgufFile::parse(&bytes).expect("a valid GGUF header");
    let took = start.elapsed();
    assert_eq!(f.metadata.len(), 1);
    assert!(took.as_secs_f64() < 5.0, "{took:?} to read one array of {count} strings");
}

/// The offset in `file` of the tensor info of `name` (just after its name).
fn info_at(file: &[u8], name: &str) -> usize {
    let mut key = (name.len() as u64).to_le_bytes().to_vec();
    key.extend_from_slice(name.as_bytes());
    file.windows(key.len()).position(|w| w == key.as_slice()).expect("the name is in the file") + key.len()
}

#[test]
fn unknown_and_unsupported_tensor_types_are_named() {
    // blk.0.attn_q.weight is Q8_0 [32, 32] (1088 bytes); as IQ4_NL it takes 576, still in range.
    for (id, says) in [
        (
            20u32,
            "tensor blk.0.attn_q.weight: type IQ4_NL (20) is not supported: qplay reads F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K",
        ),
        (99, "tensor blk.0.attn_q.weight: unknown ggml type id 99"),
        (12, "tensor blk.0.attn_q.weight: rows of 32 values are not whole Q4_K blocks of 256"),
    ] {
        let mut b = MIXED_GGUF.to_vec();
        let at = info_at(&b, "blk.0.attn_q.weight") + 4 + 16; // n_dims, ne[2]
        b[at..at + 4].copy_from_slice(&id.to_le_bytes());
        assert_eq!(err_text(read_gguf(&b)), says);
    }
    // Hugging Face: an I8 tensor.
    let mut all = hf_tensors();
    let i = all.iter().position(|t| t.0 == "model.norm.weight").unwrap();
    let norm = all.remove(i);
    let mut bytes = safetensors_of(&all, safetensors::Dtype::F32);
    let extra = safetensors_of(std::slice::from_ref(&norm), safetensors::Dtype::I8);
    let e = err_text(read_hf(HF_CONFIG, &[("a.safetensors", &bytes), ("b.safetensors", &extra)]));
    assert_eq!(e, "tensor model.norm.weight: dtype I8 is not supported: qplay reads F32, F16 and BF16");
    // And the F32 file alone lacks model.norm.weight.
    let e = err_text(read_hf(HF_CONFIG, &[("a.safetensors", &bytes)]));
    assert_eq!(e, "tensor model.norm.weight: missing from the .safetensors file(s)");
    bytes.clear();
}

#[test]
fn missing_tensors_and_shape_mismatches_are_named() {
    // A renamed tensor (same length): the model misses output_norm.weight.
    let mut b = TIED_GGUF.to_vec();
    let at = info_at(&b, "output_norm.weight");
    b[at - 1] = b'X';
    assert_eq!(err_text(read_gguf(&b)), "tensor output_norm.weight: missing from the file");
    // ffn_down [64 → 32] stored as ne = [32, 64] instead of [64, 32] (same bytes).
    let mut b = TIED_GGUF.to_vec();
    let at = info_at(&b, "blk.1.ffn_down.weight") + 4;
    b[at..at + 8].copy_from_slice(&32u64.to_le_bytes());
    b[at + 8..at + 16].copy_from_slice(&64u64.to_le_bytes());
    assert_eq!(
        err_text(read_gguf(&b)),
        "tensor blk.1.ffn_down.weight: shape [32, 64] (ggml order, ne[0] first), the configuration needs [64, 32]"
    );
    // The metadata disagreeing with the tensors.
    let mut b = TIED_GGUF.to_vec();
    let at = info_at(&b, "llama.feed_forward_length") + 4;
    b[at..at + 4].copy_from_slice(&48u32.to_le_bytes());
    let e = err_text(read_gguf(&b));
    assert!(e.starts_with("tensor blk.0.ffn_gate.weight: shape [32, 64]") && e.ends_with("needs [32, 48]"), "{e}");
    // Hugging Face: config.json against the tensors, and an absent lm_head.
    let config = hf_config_with(|c| {
        c.insert("intermediate_size".into(), 48.into());
    });
    let e = err_text(read_hf(&config, &[("model.safetensors", HF_MODEL)]));
    assert_eq!(e, "tensor model.layers.0.mlp.gate_proj.weight: shape [64, 32], the configuration needs [48, 32]");
    let no_head: Vec<_> = hf_tensors().into_iter().filter(|t| t.0 != "lm_head.weight").collect();
    let e = err_text(read_hf(HF_CONFIG, &[("model.safetensors", &safetensors_of(&no_head, safetensors::Dtype::F16))]));
    assert_eq!(e, "tensor lm_head.weight: missing from the .safetensors file(s)");
    // llama2.c: a header that does not describe the file.
    let mut v0 = V0.to_vec();
    v0[4..8].copy_from_slice(&48i32.to_le_bytes());
    let e = err_text(read_llama2c(&v0));
    assert!(e.contains("hidden_dim 48") && e.contains("describes") && e.contains("the file has 83612"), "{e}");
    let mut v0 = V0.to_vec();
    v0.extend_from_slice(&[0; 4]);
    assert!(err_text(read_llama2c(&v0)).contains("trailing bytes"));
    // GGUF: llama.vocab_size and the embedding disagree.
    let mut b = MIXED_GGUF.to_vec();
    let at = info_at(&b, "llama.vocab_size") + 4;
    b[at..at + 4].copy_from_slice(&33u32.to_le_bytes());
    assert_eq!(err_text(read_gguf(&b)), "model configuration: llama.vocab_size: 33, but token_embd.weight has 32 rows");
}

#[test]
fn nan_weights_are_named() {
    // GGUF F32: the first value of blk.1.attn_k.weight.
    let f = GgufFile::parse(TIED_GGUF).unwrap();
    let t = f.tensor("blk.1.attn_k.weight").unwrap().clone();
    let mut b = TIED_GGUF.to_vec();
    b[t.start + 8..t.start + 12].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_eq!(err_text(read_gguf(&b)), "tensor blk.1.attn_k.weight: value 2 is NaN or infinite");
    // GGUF Q8_0: an infinite f16 block scale in blk.0.ffn_down.weight's second block.
    let f = GgufFile::parse(MIXED_GGUF).unwrap();
    let t = f.tensor("blk.0.ffn_down.weight").unwrap().clone();
    let mut b = MIXED_GGUF.to_vec();
    b[t.start + 34..t.start + 36].copy_from_slice(&0x7C00u16.to_le_bytes());
    assert_eq!(err_text(read_gguf(&b)), "tensor blk.0.ffn_down.weight: value 32 is NaN or infinite");
    // llama2.c v0: the 6th value of layers.0.attention.wq (after the embedding and 2 norms).
    let mut v0 = V0.to_vec();
    let at = 28 + 4 * (32 * 32 + 2 * 32 + 5);
    v0[at..at + 4].copy_from_slice(&f32::INFINITY.to_le_bytes());
    assert_eq!(err_text(read_llama2c(&v0)), "tensor layers.0.attention.wq.weight: value 5 is NaN or infinite");
    // llama2.c v2: the first scale of the embedding.
    let mut v2 = V2.to_vec();
    let at = 256 + 4 * 5 * 32 + 32 * 32;
    v2[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let e = err_text(read_llama2c(&v2));
    // With what the scales' NaN most often means: a file laid out otherwise than runq.c reads it.
    assert!(e.starts_with("tensor tok_embeddings.weight (scales): value 0 is NaN or infinite: a version-2 file stores each tensor's int8 values and then its f32 scales"), "{e}");
    // Hugging Face F16: a NaN in model.layers.1.mlp.up_proj.weight.
    let mut all = hf_tensors();
    let up = all.iter_mut().find(|t| t.0 == "model.layers.1.mlp.up_proj.weight").unwrap();
    up.2[7] = f32::NAN;
    let bytes = safetensors_of(&all, safetensors::Dtype::F16);
    assert_eq!(
        err_text(read_hf(HF_CONFIG, &[("model.safetensors", &bytes)])),
        "tensor model.layers.1.mlp.up_proj.weight: value 7 is NaN or infinite"
    );
}

#[test]
fn unsupported_architectures_and_rope_variants_are_refused() {
    let mut b = TIED_GGUF.to_vec();
    let at = info_at(&b, "general.architecture") + 4 + 8;
    b[at..at + 5].copy_from_slice(b"mamba");
    assert_eq!(
        err_text(read_gguf(&b)),
        "model configuration: general.architecture: \"mamba\": only \"llama\" models are supported"
    );
    for (key, value, says) in [
        ("rope_scaling", serde_json::json!({"type": "linear", "factor": 2.0}), "rope_scaling: {\"factor\":2.0,\"type\":\"linear\"}: RoPE scaling is not supported"),
        ("model_type", serde_json::json!("mistral"), "model_type: \"mistral\": only \"llama\" models are supported"),
        ("hidden_act", serde_json::json!("gelu"), "hidden_act: \"gelu\": only \"silu\""),
        ("attention_bias", serde_json::json!(true), "attention_bias: true: biases are not supported"),
        ("head_dim", serde_json::json!(16), "head_dim: 16"),
        ("rope_parameters", serde_json::json!({"rope_type": "yarn"}), "rope_type \"yarn\""),
        // Numbers f32 cannot hold, named with the value the file gives (not "inf" or "0").
        ("rope_theta", serde_json::json!(1e39), "rope_theta: 1e39: beyond the range of f32"),
        ("rms_norm_eps", serde_json::json!(1e-50), "rms_norm_eps: 1e-50: beyond the range of f32"),
    ] {
        let config = hf_config_with(|c| {
            c.insert(key.into(), value);
        });
        let e = err_text(read_hf(&config, &[("model.safetensors", HF_MODEL)]));
        assert!(e.contains(says), "{key}: {e}");
    }
    // A projection's bias (Qwen2's attention has them; no config field says so) is refused by
    // name: left out, the model would be another one. Other unused tensors are a note.
    let mut tensors = hf_tensors();
    let q = tensors.iter().find(|t| t.0 == "model.layers.0.self_attn.q_proj.weight").unwrap().1[0];
    tensors.push(("model.layers.0.self_attn.q_proj.bias".into(), vec![q], vec![5.0; q]));
    let e = err_text(read_hf(HF_CONFIG, &[("model.safetensors", &safetensors_of(&tensors, safetensors::Dtype::F16))]));
    assert!(e.starts_with("tensor model.layers.0.self_attn.q_proj.bias: a projection with a bias"), "{e}");
    tensors.pop();
    tensors.push(("model.rotary_emb.inv_freq".into(), vec![2], vec![1.0, 0.5]));
    let m = read_hf(HF_CONFIG, &[("model.safetensors", &safetensors_of(&tensors, safetensors::Dtype::F16))]).unwrap();
    assert!(m.notes.iter().any(|n| n == "ignored tensors: model.rotary_emb.inv_freq"), "{:?}", m.notes);
    // A config without rope_theta: LlamaConfig's 10000, said.
    let config = hf_config_with(|c| {
        c.remove("rope_theta");
    });
    let m = read_hf(&config, &[("model.safetensors", HF_MODEL)]).unwrap();
    assert_eq!(m.weights.config.rope_theta, 10000.0);
    assert!(m.notes.iter().any(|n| n == "rope_theta is absent: 10000 assumed (LlamaConfig's default)"), "{:?}", m.notes);
    // transformers 5's rope_parameters with the default type is read.
    let config = hf_config_with(|c| {
        c.remove("rope_theta");
        c.insert("rope_parameters".into(), serde_json::json!({"rope_type": "default", "rope_theta": 500000.0}));
    });
    assert_eq!(read_hf(&config, &[("model.safetensors", HF_MODEL)]).unwrap().weights.config.rope_theta, 500000.0);
    // A byte-order mark before config.json's JSON (as some Windows editors write) is read past.
    let bom = [b"\xEF\xBB\xBF".as_slice(), HF_CONFIG].concat();
    assert_eq!(read_hf(&bom, &[("model.safetensors", HF_MODEL)]).unwrap().weights, read_hf(HF_CONFIG, &[("model.safetensors", HF_MODEL)]).unwrap().weights);
}

/// A file's name in a message or on the page: control and bidirectional-formatting characters
/// (a right-to-left override would turn the end of the message around) are shown as U+FFFD.
#[test]
fn file_names_cannot_reorder_the_messages_they_stand_in() {
    assert_eq!(shown_file_name("dir/mo\u{202E}del\0.gguf"), "mo\u{FFFD}del\u{FFFD}.gguf");
    assert_eq!(shown_file_name("C:\\models\\模型.gguf"), "模型.gguf");
    let e = err_text(import(&[("x\u{2066}y.txt", b"hello")]));
    assert!(e.contains("[x\u{FFFD}y.txt]") && !e.contains('\u{2066}'), "{e}");
}

/// A model with no name of its own is named by its weights file, in the page's exports and the CLI's.
#[test]
fn the_weights_file_names_a_model_without_a_name() {
    fn stem<'a>(names: &[&'a str]) -> Option<&'a str> {
        qplay::lm::import::model_stem(names.iter().copied())
    }
    assert_eq!(stem(&["models/tied_f32.gguf"]), Some("tied_f32"));
    assert_eq!(stem(&["config.json", "tokenizer.json", "model.safetensors"]), Some("model"));
    assert_eq!(stem(&["tokenizer.bin", "C:\\llama\\stories15M.bin"]), Some("stories15M"));
    assert_eq!(stem(&["config.json", "tokenizer.json"]), Some("config"));
    assert_eq!(stem(&["dir/.gguf"]), None);
    assert_eq!(stem(&[]), None);
}

#[test]
fn the_set_of_files_is_checked() {
    let e = err_text(import(&[("README.md", b"hello")]));
    assert!(e.contains("no model file among [README.md]"), "{e}");
    let e = err_text(import(&[("m.gguf", TIED_GGUF), ("model.bin", V0)]));
    assert!(e.contains("several model formats"), "{e}");
    let e = err_text(import(&[("model.safetensors", HF_MODEL)]));
    assert!(e.contains("config.json is missing"), "{e}");
    let e = err_text(import(&[("a.gguf", TIED_GGUF), ("b.gguf", MIXED_GGUF)]));
    assert!(e.contains("2 GGUF files (a.gguf, b.gguf): give one"), "{e}");
    // Hundreds of files dropped together: a message naming the first 8 and how many more, and
    // one note per reason a file is ignored (a message of 300 names, each line a note, before).
    let names: Vec<String> = (0..300).map(|i| format!("f{i}.txt")).collect();
    let many: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"{}"[..])).collect();
    let e = err_text(import(&many));
    assert!(e.contains("no model file among [f0.txt, f1.txt, f2.txt, f3.txt, f4.txt, f5.txt, f6.txt, f7.txt and 292 more]"), "{e}");
    assert!(e.len() < 300, "{e}");
    let ggufs: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), TIED_GGUF)).collect::<Vec<_>>();
    let renamed: Vec<String> = (0..20).map(|i| format!("m{i}.gguf")).collect();
    let twenty: Vec<(&str, &[u8])> = renamed.iter().zip(&ggufs).map(|(n, (_, b))| (n.as_str(), *b)).collect();
    assert!(err_text(import(&twenty)).contains("20 GGUF files (m0.gguf, m1.gguf, m2.gguf, m3.gguf, m4.gguf, m5.gguf, m6.gguf, m7.gguf and 12 more): give one"));
    let mut with_model = many.clone();
    with_model.push(("m.gguf", TIED_GGUF));
    let m = import(&with_model).unwrap();
    assert_eq!(m.notes.iter().filter(|n| n.contains("ignored")).collect::<Vec<_>>(),
        ["f0.txt, f1.txt, f2.txt, f3.txt, f4.txt, f5.txt, f6.txt, f7.txt and 292 more ignored: not a model, config or tokenizer file qplay reads"]);
    assert_eq!(m.unused.len(), 300);
    // A tokenizer.bin that does not match the model's vocabulary: a note, not an error.
    let m = import(&[("model.bin", V0), ("tokenizer.bin", &TOKENIZER_BIN[..TOKENIZER_BIN.len() - 10])]).unwrap();
    assert!(m.notes.iter().any(|n| n.contains("31 tokens for a vocabulary of 32")), "{:?}", m.notes);
}

#[test]
fn every_file_the_model_does_not_use_is_named_and_a_llama2c_model_takes_a_tokenizer_json() {
    let ignored = |m: &ImportedModel, file: &str| m.notes.iter().any(|n| n.starts_with(&format!("{file} ignored")));
    // A llama2.c model with a Hugging Face tokenizer (the Llama 2 models' own): used. It was
    // dropped, and the model then said "give its tokenizer.json / tokenizer.bin with it".
    let m = import(&[("model.bin", V0), ("tokenizer.json", HF_TOKENIZER)]).unwrap();
    assert!(matches!(m.vocab, Some(RawVocab::TokenizerJson { .. })), "{:?}", m.vocab);
    assert!(m.notes.iter().all(|n| !n.contains("ignored")), "{:?}", m.notes);
    assert!(m.unused.is_empty());
    // With both tokenizers, tokenizer.bin is llama2.c's own: the other is named.
    let m = import(&[("model.bin", V0), ("tokenizer.bin", TOKENIZER_BIN), ("tokenizer.json", HF_TOKENIZER), ("config.json", HF_CONFIG)]).unwrap();
    assert!(matches!(m.vocab, Some(RawVocab::Tokens(_))));
    assert!(ignored(&m, "tokenizer.json") && ignored(&m, "config.json"), "{:?}", m.notes);
    // A GGUF file carries its tokenizer: the others are named.
    let m = import(&[("m.gguf", TIED_GGUF), ("tokenizer.bin", TOKENIZER_BIN), ("tokenizer.json", HF_TOKENIZER)]).unwrap();
    assert!(ignored(&m, "tokenizer.bin") && ignored(&m, "tokenizer.json"), "{:?}", m.notes);
    // The ignored files are listed by name, so the page names the model by the files it uses.
    assert_eq!(m.unused, ["tokenizer.json", "tokenizer.bin"]);
    let m = import(&[("notes.txt", b"hello"), ("m.gguf", TIED_GGUF), ("config.json", HF_CONFIG)]).unwrap();
    assert_eq!(m.unused, ["notes.txt", "config.json"]);
    assert!(import(&[("m.gguf", TIED_GGUF)]).unwrap().unused.is_empty());
    // A Hugging Face model does not read llama2.c's tokenizer.bin.
    let mut files = hf_files();
    files.push(("tokenizer.bin", TOKENIZER_BIN));
    let m = import(&files).unwrap();
    assert!(ignored(&m, "tokenizer.bin"), "{:?}", m.notes);
}

#[test]
fn tokenizer_bin_errors_are_named() {
    let mut t = TOKENIZER_BIN.to_vec();
    t[8..12].copy_from_slice(&(-1i32).to_le_bytes());
    assert!(err_text(read_llama2c_tokenizer(&t)).contains("token 0 is -1 bytes long"));
    let mut t = TOKENIZER_BIN.to_vec();
    t[0..4].copy_from_slice(&2i32.to_le_bytes());
    let e = err_text(read_llama2c_tokenizer(&t));
    assert!(e.contains("token 0 is 5 bytes long: it must be 0 to max_token_length = 2"), "{e}");
    let mut t = TOKENIZER_BIN.to_vec();
    t[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    assert!(err_text(read_llama2c_tokenizer(&t)).contains("the score of token 0 is NaN"));
}

/// What the page checks when files are given, so that a model that could never run is refused
/// then (the model in use stays), not at the first run: weights that overflow f32 at the first
/// token, and a tokenizer that cannot spell plain English (every token "a").
#[test]
fn models_that_cannot_run_and_tokenizers_that_cannot_read_are_found_at_once() {
    use qplay::lm::import::tokenizer_for;
    let m = import(&[("tied_f32.gguf", TIED_GGUF)]).unwrap();
    LmModel::from_weights(&m.weights).unwrap().check_runs().unwrap();
    let mut huge = m.weights.clone();
    for l in &mut huge.layers {
        for w in [&mut l.wq, &mut l.wk, &mut l.wv, &mut l.wo, &mut l.w1, &mut l.w2, &mut l.w3] {
            w.fill(3e38);
        }
    }
    let e = LmModel::from_weights(&huge).unwrap().check_runs().unwrap_err();
    assert!(matches!(e, LmError::Overflow { .. }) && e.to_string().contains("overflow f32"), "{e}");
    // The fixtures' tokenizers read plain text (the Hugging Face fixture's tokenizer.json has no
    // pre-tokenizer qplay runs: the page loads that model without a tokenizer, with a note).
    for files in [vec![("tied_f32.gguf", TIED_GGUF)], vec![("model.bin", V0), ("tokenizer.bin", TOKENIZER_BIN)]] {
        let m = import(&files).unwrap();
        tokenizer_for(&m.weights, m.vocab.as_ref()).unwrap().check_reads_text().unwrap();
    }
    let Some(RawVocab::Tokens(mut v)) = m.vocab.clone() else { panic!("a GGUF vocabulary") };
    // Every token a normal "a" (type 1), none a byte token or the unknown token.
    v.tokens.iter_mut().for_each(|t| *t = b"a".to_vec());
    v.token_types.iter_mut().for_each(|t| *t = 1);
    v.unknown_id = None;
    let e = tokenizer_for(&m.weights, Some(&RawVocab::Tokens(v))).unwrap().check_reads_text().unwrap_err();
    assert!(!e.to_string().is_empty(), "{e}");
    eprintln!("every token \"a\": {e}");
}

/// A GGUF without `tokenizer.ggml.*` takes the tokenizer file given with it (one with its own
/// ignores it, with a note); a llama2.c tokenizer cut short under a name of its own is named as
/// a broken tokenizer, not as a second model; a Unigram tokenizer.json is a model type qplay does
/// not run, not a malformed file.
#[test]
fn tokenizers_given_with_a_model_are_used_or_named_for_what_they_are() {
    let m = untied();
    let bare = write_gguf(&m.weights, "qplay test", GgufWeightType::F32, None).unwrap();
    let alone = import(&[("bare.gguf", &bare)]).unwrap();
    assert!(alone.vocab.is_none());
    let with = import(&[("bare.gguf", &bare), ("tokenizer.bin", TOKENIZER_BIN)]).unwrap();
    assert!(with.unused.is_empty(), "{:?}", with.notes);
    let (got, want) = (tokenizer_for(&with.weights, with.vocab.as_ref()).unwrap(), tokenizer_for(&m.weights, m.vocab.as_ref()).unwrap());
    for text in LLAMA2C_TEXTS {
        assert_eq!(got.encode(text).unwrap(), want.encode(text).unwrap(), "{text:?}");
    }
    let json = import(&[("bare.gguf", &bare), ("tokenizer.json", HF_TOKENIZER), ("tokenizer.bin", TOKENIZER_BIN)]).unwrap();
    assert_eq!(json.unused, ["tokenizer.json"], "{:?}", json.notes);
    // A GGUF whose own vocabulary is of a kind qplay does not run takes the given one instead.
    let mut bert = llama_vocab();
    bert.model = Some("bert".into());
    let with_bert = write_gguf(&m.weights, "qplay test", GgufWeightType::F32, Some(&RawVocab::Tokens(bert))).unwrap();
    let b = import(&[("bert.gguf", &with_bert), ("tokenizer.bin", TOKENIZER_BIN)]).unwrap();
    assert!(b.unused.is_empty() && b.notes.iter().any(|n| n.contains("\"bert\" is not") || n.contains("(\"bert\") is not")), "{:?}", b.notes);
    assert_eq!(tokenizer_for(&b.weights, b.vocab.as_ref()).unwrap().encode("in the end").unwrap(), want.encode("in the end").unwrap());
    let own = import(&[("tied_f32.gguf", TIED_GGUF), ("tokenizer.bin", TOKENIZER_BIN)]).unwrap();
    assert_eq!(own.unused, ["tokenizer.bin"]);
    assert!(own.notes.iter().any(|n| n.contains("carries its own tokenizer")), "{:?}", own.notes);

    let cut = &TOKENIZER_BIN[..TOKENIZER_BIN.len() - 3];
    let e = err_text(import(&[("model.bin", V0), ("tok512.bin", cut)]));
    assert!(e.contains("tok512.bin is not a llama2.c model") && e.contains("it breaks") && !e.contains("model files"), "{e}");
    // A negative length on the first token: still the tokenizer that is named, not the model.
    let mut neg = TOKENIZER_BIN.to_vec();
    neg[8..12].copy_from_slice(&(-3i32).to_le_bytes());
    let e = err_text(import(&[("model.bin", V0), ("tok512.bin", &neg)]));
    assert!(e.contains("tok512.bin is not a llama2.c model") && e.contains("token 0 is -3 bytes long"), "{e}");
    // Two models stay two models.
    let e = err_text(import(&[("a.bin", V0), ("b.bin", V0)]));
    assert!(e.contains("2 llama2.c model files"), "{e}");

    let unigram = r#"{"model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], ["a", -1.5]]}}"#;
    let e = qplay::lm::tokenizers::Tokenizer::from_tokenizer_json(unigram).unwrap_err().to_string();
    assert!(e.contains("model type \"Unigram\" is not implemented"), "{e}");
}

/// A configuration error names the key as the file spells it (config.json's, GGUF's), with
/// qplay's own field name beside it.
#[test]
fn configuration_errors_name_the_files_own_keys() {
    let config = hf_config_with(|c| {
        c.insert("num_attention_heads".into(), 3.into());
    });
    let e = err_text(read_hf(&config, &[("model.safetensors", HF_MODEL)]).map(|_| ()));
    assert!(e.starts_with("model configuration: num_attention_heads: 3 heads do not divide dim") && e.ends_with("(qplay's n_heads)"), "{e}");
    let mut b = TIED_GGUF.to_vec();
    let at = info_at(&b, "llama.context_length");
    assert_eq!(u32::from_le_bytes(b[at..at + 4].try_into().unwrap()), 4, "a u32 value");
    b[at + 4..at + 8].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(err_text(read_gguf(&b).map(|_| ())), "model configuration: llama.context_length: must be at least 1 (qplay's seq_len)");
}

/// A size in config.json written in another number form: a whole one ("3.2e1", "1e12") is that
/// integer, checked as any size (1e12 was once "a non-negative integer was expected", not too
/// large); a fraction, a negative number and an integer past 2^64 are each named.
#[test]
fn config_json_sizes_in_another_number_form_are_read_or_named() {
    let with = |text: &str| String::from_utf8(HF_CONFIG.to_vec()).unwrap().replace("\"hidden_size\": 32", &format!("\"hidden_size\": {text}"));
    let fp32 = import(&[("config.json", HF_CONFIG), ("model.safetensors", HF_MODEL)]).unwrap();
    for same in ["3.2e1", "32.0", "320e-1"] {
        let m = read_hf(with(same).as_bytes(), &[("model.safetensors", HF_MODEL)]).unwrap();
        assert_eq!(m.weights.config, fp32.weights.config, "{same}");
    }
    let refused = |text: &str| err_text(read_hf(with(text).as_bytes(), &[("model.safetensors", HF_MODEL)]).map(|_| ()));
    let e = refused("1e12");
    assert!(e.contains("a model of this shape (f32 weights) needs") && e.contains("bytes"), "{e}");
    let e = refused("100000000000000000000000");
    assert!(e.contains("hidden_size: 1e+23: too large"), "{e}");
    let e = refused("32.5");
    assert!(e.contains("hidden_size: 32.5: a whole number was expected"), "{e}");
    let e = refused("-32");
    assert!(e.contains("hidden_size: -32: a non-negative integer was expected"), "{e}");
    let e = refused("\"32\"");
    assert!(e.contains("a non-negative integer was expected"), "{e}");
}

#[test]
fn the_files_fingerprint_tells_contents_apart_whatever_their_order() {
    use qplay::lm::import::{files_fingerprint, is_fingerprint};
    let (a, b) = (b"model bytes".as_slice(), b"tokenizer".as_slice());
    let f = files_fingerprint(&[("m.bin", a), ("tok.bin", b)]);
    assert!(f.starts_with("20-") && is_fingerprint(&f), "{f}");
    // The order given and the folders do not count; names and contents do.
    assert_eq!(files_fingerprint(&[("dir/tok.bin", b), ("C:\\x\\m.bin", a)]), f);
    assert_ne!(files_fingerprint(&[("m.bin", b"model bytez"), ("tok.bin", b)]), f);
    assert_ne!(files_fingerprint(&[("n.bin", a), ("tok.bin", b)]), f);
    // Bytes moved from one file to the next are other files.
    assert_ne!(files_fingerprint(&[("m.bin", b"model byte"), ("tok.bin", b"stokenizer")]), f);
    for bad in ["", "20", "20-", "-0123456789ab", "20-0123456789AB", "20-0123456789a", "x-0123456789ab", "20-0123456789abc"] {
        assert!(!is_fingerprint(bad), "{bad:?}");
    }
    // A link carries it with the model's names, and a bad one is named.
    let (e, notices) = qplay::share::lm::from_query(&format!("model=m.bin%2C+tok.bin&files={f}"));
    assert!(notices.is_empty(), "{notices:?}");
    assert_eq!(e.model_files, f);
    assert!(qplay::share::lm::to_query(&e).contains(&format!("files={f}")));
    let (e, notices) = qplay::share::lm::from_query("model=m.bin&files=abc");
    assert!(e.model_files.is_empty() && notices.iter().any(|n| n.contains("files") && n.contains("fingerprint")), "{notices:?}");
}
