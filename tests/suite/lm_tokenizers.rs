//! qplay's tokenizers of user-supplied language models against the independent references: the
//! PyPI `tokenizers` (Hugging Face) and `sentencepiece` (Google) packages, whose own ids and
//! decodings are in tests/fixtures/lm/tokenizers/ (made by scripts/make_tokenizer_fixtures.sh; the
//! file list and what each holds is in scripts/make_tokenizer_fixtures.py).
//!
//! Native only. `cargo test --test suite lm_tokenizers:: -- --nocapture` prints the 1 MB timings.

use std::time::Instant;

use qplay::lm::tokenizer_bpe::{is_letter, is_number, PreTokenizerStep, SplitPattern};
use qplay::lm::tokenizers::{GgufVocab, Tokenizer};
use qplay::lm::{CharTokenizer, LmError};
use serde_json::Value;

const BPE_JSON: &str = include_str!("../fixtures/lm/tokenizers/bpe.tokenizer.json");
const BPE_CASES: &str = include_str!("../fixtures/lm/tokenizers/bpe_cases.json");
const BPE_GGUF: &str = include_str!("../fixtures/lm/tokenizers/bpe_gguf_vocab.json");
const SPM_BIN: &[u8] = include_bytes!("../fixtures/lm/tokenizers/spm.tokenizer.bin");
const SPM_VOCAB: &str = include_str!("../fixtures/lm/tokenizers/spm_vocab.json");
const SPM_CASES: &str = include_str!("../fixtures/lm/tokenizers/spm_cases.json");
const SPM_LEGACY_JSON: &str = include_str!("../fixtures/lm/tokenizers/spm_legacy.tokenizer.json");
const SPM_METASPACE_JSON: &str = include_str!("../fixtures/lm/tokenizers/spm_metaspace.tokenizer.json");
const SPM_JSON_CASES: &str = include_str!("../fixtures/lm/tokenizers/spm_json_cases.json");

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("fixture JSON")
}

fn strings(cases: &Value) -> Vec<String> {
    cases["strings"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn id_lists(v: &Value) -> Vec<Vec<u32>> {
    v.as_array().unwrap().iter().map(ids).collect()
}

/// The same edit as apply_patch() in scripts/make_tokenizer_fixtures.py.
pub(crate) fn patched(base: &Value, patch: &Value) -> String {
    let mut j = base.clone();
    for (key, value) in patch.as_object().unwrap() {
        match key.as_str() {
            "model.ignore_merges" => j["model"]["ignore_merges"] = value.clone(),
            "model.merges_as_strings" => {
                let merges: Vec<Value> = j["model"]["merges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| Value::String(format!("{} {}", p[0].as_str().unwrap(), p[1].as_str().unwrap())))
                    .collect();
                j["model"]["merges"] = Value::Array(merges);
            }
            _ => j[key.as_str()] = value.clone(),
        }
    }
    j.to_string()
}

fn message(e: LmError) -> String {
    e.to_string()
}

fn assert_err_mentions(r: Result<Tokenizer, LmError>, words: &[&str]) {
    match r {
        Ok(_) => panic!("expected an error mentioning {words:?}"),
        Err(e) => {
            let m = message(e);
            for w in words {
                assert!(m.contains(w), "error {m:?} does not mention {w:?}");
            }
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Byte-level BPE vs `tokenizers`

/// Every variant (GPT-2, Llama 3, Qwen2, ByteLevel with add_prefix_space, legacy "a b" merges):
/// exact words of the pre-tokenizer alone, ids and decodings of `tokenizers`.
#[test]
fn bpe_matches_tokenizers_on_every_variant() {
    let base = json(BPE_JSON);
    let cases = json(BPE_CASES);
    let strings = strings(&cases);
    for variant in cases["variants"].as_array().unwrap() {
        let name = variant["name"].as_str().unwrap();
        let tok = Tokenizer::from_tokenizer_json(&patched(&base, &variant["patch"]))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = id_lists(&variant["ids"]);
        let decoded = variant["decoded"].as_array().unwrap();
        let Tokenizer::Bpe(bpe) = &tok else { unreachable!() };
        for (k, s) in strings.iter().enumerate() {
            let words: Vec<&str> =
                variant["words"][k].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
            assert_eq!(bpe.pre_tokenize(s), words, "{name}: words of {s:?}");
            let got = tok.encode(s).unwrap();
            assert_eq!(got, expected[k], "{name}: ids of {s:?}");
            assert_eq!(tok.decode(&got), decoded[k].as_str().unwrap(), "{name}: decode of {s:?}");
        }
    }
}

/// The strings where an added token swallows whitespace: "<sep>" (lstrip) the spaces before it,
/// "[X]" (rstrip) those after it — `tokenizers` loses them too. GGUF does not carry these flags.
pub(crate) fn strips_whitespace(s: &str) -> bool {
    s.contains("<sep>") || s.contains("[X]")
}

/// decode(encode(s)) == s for every string but those where an added token strips whitespace.
#[test]
fn bpe_round_trips() {
    let cases = json(BPE_CASES);
    let strings = strings(&cases);
    let tok = Tokenizer::from_tokenizer_json(BPE_JSON).unwrap();
    let reference = cases["variants"][0]["decoded"].as_array().unwrap();
    let mut exceptions = 0;
    for (k, s) in strings.iter().enumerate() {
        let back = tok.decode(&tok.encode(s).unwrap());
        if strips_whitespace(s) {
            exceptions += 1;
            assert_eq!(back, reference[k].as_str().unwrap());
            assert_ne!(&back, s, "the strip exception no longer applies to {s:?}: drop it");
        } else {
            assert_eq!(&back, s);
        }
    }
    assert_eq!(exceptions, 2);
}

#[test]
fn bpe_bos_from_template_and_kind() {
    let base = json(BPE_JSON);
    let cases = json(BPE_CASES);
    let llama3 = &cases["variants"][1];
    assert_eq!(llama3["name"], "llama3");
    let tok = Tokenizer::from_tokenizer_json(&patched(&base, &llama3["patch"])).unwrap();
    // tokenizers' encode("a", add_special_tokens=True) = [bos] + encode("a")
    let with_special = ids(&llama3["encode_a_with_special_tokens"]);
    let mut ours = vec![tok.bos().expect("TemplateProcessing gives BOS")];
    ours.extend(tok.encode("a").unwrap());
    assert_eq!(ours, with_special);
    assert_eq!(tok.eos(), None);
    assert_eq!(tok.kind(), "byte-level BPE");
    assert_eq!(tok.vocab_len(), 502);
    match &tok {
        Tokenizer::Bpe(b) => assert_eq!(
            b.pre_tokenizer(),
            &[
                PreTokenizerStep::Split(SplitPattern::Llama3),
                PreTokenizerStep::ByteLevel { add_prefix_space: false, use_regex: false }
            ]
        ),
        _ => unreachable!(),
    }
    // A table id past u32 is no id: the template's token by name (it used to wrap: 2^32 + 1 → 1).
    let mut wide = llama3["patch"].clone();
    wide["post_processor"]["special_tokens"]["<|endoftext|>"]["ids"] = serde_json::json!([4_294_967_297u64]);
    let tok = Tokenizer::from_tokenizer_json(&patched(&base, &wide)).unwrap();
    assert_eq!(tok.bos(), Some(with_special[0]));
    // GPT-2's file has no template: no BOS; no EOS until config.json's eos_token_id gives it, the
    // first id within the vocabulary as EOS, and all of them ending a text.
    let mut gpt2 = Tokenizer::from_tokenizer_json(BPE_JSON).unwrap();
    assert_eq!((gpt2.bos(), gpt2.eos(), gpt2.end_of_text()), (None, None, Vec::<u32>::new()));
    let n = gpt2.vocab_len() as u32;
    gpt2.set_end_of_text(&[n, 7, 3, n + 1]).unwrap();
    assert_eq!((gpt2.bos(), gpt2.eos(), gpt2.end_of_text()), (None, Some(7), vec![7, 3]));
    gpt2.set_end_of_text(&[]).unwrap();
    assert_eq!(gpt2.end_of_text(), vec![7, 3]);
}

/// The same vocabulary as llama.cpp's convert_hf_to_gguf.py writes it, read as a GGUF "gpt2"
/// vocabulary with each pre-tokenizer name: the ids of the matching tokenizer.json variant. The
/// strings with "<sep>" and "[X]" are skipped: GGUF does not carry lstrip / rstrip / single_word.
#[test]
fn bpe_from_gguf_matches_tokenizers() {
    let g = json(BPE_GGUF);
    let cases = json(BPE_CASES);
    let strings = strings(&cases);
    let tokens: Vec<Vec<u8>> =
        g["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().as_bytes().to_vec()).collect();
    let types: Vec<i32> = g["token_type"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap() as i32).collect();
    let merges: Vec<String> = g["merges"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
    let bos = g["bos"].as_u64().map(|x| x as u32);
    let eos = g["eos"].as_u64().map(|x| x as u32);

    let plain =
        Tokenizer::from_gguf_vocab("gpt2", tokens.clone(), vec![], types.clone(), merges.clone(), bos, eos).unwrap();
    assert_eq!((plain.bos(), plain.eos()), (bos, eos));
    for (pre, variant) in [(None, 0), (Some("gpt-2"), 0), (Some("llama-bpe"), 1), (Some("qwen2"), 2)] {
        let tok = Tokenizer::from_gguf(GgufVocab {
            model: "gpt2".into(),
            pre: pre.map(String::from),
            tokens: tokens.clone(),
            token_types: types.clone(),
            merges: merges.clone(),
            bos,
            eos,
            ..GgufVocab::default()
        })
        .unwrap();
        let expected = id_lists(&cases["variants"][variant]["ids"]);
        for (k, s) in strings.iter().enumerate() {
            if strips_whitespace(s) {
                continue;
            }
            assert_eq!(tok.encode(s).unwrap(), expected[k], "pre {pre:?}: ids of {s:?}");
            assert_eq!(plain.decode(&expected[k]), *s);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// SentencePiece BPE vs `sentencepiece`

fn spm_gguf() -> Tokenizer {
    let v = json(SPM_VOCAB);
    let tokens: Vec<Vec<u8>> =
        v["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().as_bytes().to_vec()).collect();
    let scores: Vec<f32> = v["scores"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap() as f32).collect();
    let types: Vec<i32> = v["token_type"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap() as i32).collect();
    Tokenizer::from_gguf_vocab(
        "llama",
        tokens,
        scores,
        types,
        vec![],
        v["bos"].as_u64().map(|x| x as u32),
        v["eos"].as_u64().map(|x| x as u32),
    )
    .unwrap()
}

/// The GGUF "llama" form (pieces, scores, token types): sentencepiece's ids for every string,
/// its decodings, and decode(encode(s)) == s.
#[test]
fn spm_gguf_matches_sentencepiece() {
    let cases = json(SPM_CASES);
    let tok = spm_gguf();
    let expected = id_lists(&cases["ids"]);
    let decoded = cases["decoded"].as_array().unwrap();
    for (k, s) in strings(&cases).iter().enumerate() {
        let got = tok.encode(s).unwrap();
        assert_eq!(got, expected[k], "ids of {s:?}");
        assert_eq!(tok.decode(&got), decoded[k].as_str().unwrap(), "decode of {s:?}");
        assert_eq!(tok.decode(&got), *s, "round trip of {s:?}");
    }
    for c in cases["decode_cases"].as_array().unwrap() {
        assert_eq!(tok.decode(&ids(&c["ids"])), c["text"].as_str().unwrap(), "decode of {}", c["ids"]);
    }
    assert_eq!((tok.bos(), tok.eos(), tok.vocab_len()), (Some(1), Some(2), 512));
}

/// llama2.c's tokenizer.bin, exported from the same model the way tokenizer.py does: the same ids
/// except on strings with the user-defined piece "<sep>", which a tokenizer.bin cannot mark (run.c
/// does not match it either).
#[test]
fn spm_llama2c_bin_matches_sentencepiece() {
    let cases = json(SPM_CASES);
    let tok = Tokenizer::from_llama2c_bin(SPM_BIN).unwrap();
    assert_eq!((tok.bos(), tok.eos(), tok.vocab_len()), (Some(1), Some(2), 512));
    // A text ends at EOS and, as llama2.c's run.c has it, at BOS (TinyStories models write BOS
    // between stories and no EOS).
    assert_eq!(tok.end_of_text(), [2, 1]);
    let expected = id_lists(&cases["ids"]);
    let mut skipped = 0;
    for (k, s) in strings(&cases).iter().enumerate() {
        let got = tok.encode(s).unwrap();
        assert_eq!(tok.decode(&got), *s, "round trip of {s:?}");
        if s.contains("<sep>") {
            skipped += 1;
            assert_ne!(got, expected[k], "the <sep> exception no longer applies: drop it");
            continue;
        }
        assert_eq!(got, expected[k], "ids of {s:?}");
    }
    assert_eq!(skipped, 1);
    for c in cases["decode_cases"].as_array().unwrap() {
        assert_eq!(tok.decode(&ids(&c["ids"])), c["text"].as_str().unwrap(), "decode of {}", c["ids"]);
    }
}

// ------------------------------------------------------------------------------------------------
// Malformed files

// ------------------------------------------------------------------------------------------------
// SentencePiece-style BPE in tokenizer.json (Llama 2's legacy layout, the newer Metaspace one)

/// The SentencePiece model of spm_cases.json converted to tokenizer.json the two ways
/// transformers' LlamaConverter does: `tokenizers`' ids and decodings, on strings with spaces
/// at the ends, runs of spaces, characters missing from the vocabulary (byte fallback), the
/// special tokens inside words, "▁" typed in the text, and the user-defined "<sep>".
#[test]
fn sentencepiece_tokenizer_json_matches_tokenizers() {
    let cases = json(SPM_JSON_CASES);
    let strings = strings(&cases);
    for variant in cases["variants"].as_array().unwrap() {
        let name = variant["name"].as_str().unwrap();
        let file = if name == "legacy" { SPM_LEGACY_JSON } else { SPM_METASPACE_JSON };
        let tok = Tokenizer::from_tokenizer_json(file).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(tok.kind(), "SentencePiece-style BPE (tokenizer.json)");
        let expected = id_lists(&variant["ids"]);
        let decoded = variant["decoded"].as_array().unwrap();
        for (k, s) in strings.iter().enumerate() {
            let got = tok.encode(s).unwrap();
            assert_eq!(got, expected[k], "{name}: ids of {s:?}");
            assert_eq!(tok.decode(&got), decoded[k].as_str().unwrap(), "{name}: decode of {s:?}");
        }
        assert_eq!(tok.bos(), Some(variant["bos"].as_u64().unwrap() as u32), "{name}: BOS from the \"<s> $A\" template");
        // The same ids as sentencepiece itself on most strings (its merges by score and these by
        // rank differ in rare ties): the conversion is faithful, not just self-consistent.
        let spm = json(SPM_CASES);
        let same = id_lists(&spm["ids"]).iter().zip(&expected).filter(|(a, b)| a == b).count();
        assert!(same + 4 >= expected.len().min(id_lists(&spm["ids"]).len()), "{name}: {same} strings as sentencepiece");
    }
}

#[test]
fn malformed_sentencepiece_tokenizer_json_is_named() {
    let base = json(SPM_LEGACY_JSON);
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut j = base.clone();
        f(&mut j);
        j.to_string()
    };
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| {
            j["normalizer"]["normalizers"][0] = serde_json::json!({"type": "Prepend", "prepend": "_"})
        })),
        &["Prepend"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| {
            j["decoder"]["decoders"][1] = serde_json::json!({"type": "WordPiece", "prefix": "##"})
        })),
        &["WordPiece", "SentencePiece-style"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| {
            j["pre_tokenizer"] = serde_json::json!({"type": "Metaspace", "replacement": "_", "prepend_scheme": "first", "split": false})
        })),
        &["Metaspace", "replacement"],
    );
    // Without byte fallback nor an unknown token, a character outside the vocabulary is named.
    let tok = Tokenizer::from_tokenizer_json(&edit(&|j| {
        j["model"]["byte_fallback"] = Value::Bool(false);
        j["model"]["unk_token"] = Value::Null;
    }))
    .unwrap();
    let e = message(tok.encode("snow ☃").unwrap_err());
    assert!(e.contains("'☃'"), "{e}");
    // With byte fallback off, the unknown token stands for it (fused over a run).
    let tok = Tokenizer::from_tokenizer_json(&edit(&|j| j["model"]["byte_fallback"] = Value::Bool(false))).unwrap();
    let ids = tok.encode("☃☃x").unwrap();
    assert_eq!(ids.iter().filter(|&&i| i == 0).count(), 1, "{ids:?}");
}

#[test]
fn malformed_tokenizer_json_is_named() {
    let base = json(BPE_JSON);
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut j = base.clone();
        f(&mut j);
        j.to_string()
    };
    assert_err_mentions(Tokenizer::from_tokenizer_json(&BPE_JSON[..BPE_JSON.len() / 2]), &["tokenizer.json", "EOF"]);
    assert_err_mentions(Tokenizer::from_tokenizer_json(""), &["tokenizer.json"]);
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| {
            j.as_object_mut().unwrap().remove("model");
        })),
        &["missing field `model`"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| {
            j["model"].as_object_mut().unwrap().remove("vocab");
        })),
        &["vocab"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| {
            j["model"].as_object_mut().unwrap().remove("merges");
        })),
        &["merges"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| j["model"]["vocab"]["Ġthe"] = Value::from(4_000_000_000u64))),
        &["Ġthe", "4000000000"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| j["model"]["merges"][3] = serde_json::json!(["zz", "q"]))),
        &["merge 3", "\"zz\""],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| j["model"]["merges"][0] = Value::from("nospace"))),
        &["nospace"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| j["model"]["type"] = Value::from("Unigram"))),
        &["Unigram"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| {
            j["pre_tokenizer"] = serde_json::json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first"})
        })),
        &["Metaspace"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| {
            j["pre_tokenizer"] = serde_json::json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})
        })),
        &["Split", "\\\\p{N}{1,3}"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| j["pre_tokenizer"] = Value::Null)),
        &["pre-tokenizer"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| j["normalizer"] = serde_json::json!({"type": "NFKC"}))),
        &["NFKC"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| {
            j["decoder"] = serde_json::json!({"type": "WordPiece", "prefix": "##"})
        })),
        &["WordPiece"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| j["model"]["continuing_subword_prefix"] = Value::from("##"))),
        &["continuing_subword_prefix"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| j["added_tokens"][0]["id"] = Value::from(3_000_000u64))),
        &["<|endoftext|>", "3000000"],
    );
    // Bounds that keep tokenizing linear in the text: an added token of more than 512 bytes
    // (each position of a text is matched against at most that many bytes), more than 1 MiB of
    // added tokens, more than 16 pre-tokenizer steps.
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| j["added_tokens"][0]["content"] = Value::from(format!("{}b", "a".repeat(100_000))))),
        &["added token", "100001 bytes", "512"],
    );
    Tokenizer::from_tokenizer_json(&edit(&|j| j["added_tokens"][0]["content"] = Value::from("a".repeat(512)))).expect("512 bytes are fine");
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| {
            let many: Vec<Value> = (0..2100)
                .map(|i| serde_json::json!({"id": 0, "content": format!("{i:0>500}"), "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}))
                .collect();
            j["added_tokens"] = Value::from(many);
        })),
        &["added token", "1048576 bytes together"],
    );
    assert_err_mentions(
        Tokenizer::from_tokenizer_json(&edit(&|j| {
            let pre = j["pre_tokenizer"].clone();
            let mut steps = vec![serde_json::json!({"type": "Digits", "individual_digits": false}); 20];
            steps.push(pre);
            j["pre_tokenizer"] = serde_json::json!({"type": "Sequence", "pretokenizers": steps});
        })),
        &["21 steps", "16"],
    );
}

/// A tokenizer.json is read in memory bounded by its limits, not by its text: 4 MiB of
/// `[0,0,…]` as merges, as one merge, as a decoder or as a vocabulary once became 2 million
/// `serde_json::Value`s (32 MiB natively) before any limit was checked.
#[test]
fn oversized_tokenizer_json_sections_are_refused_without_being_held() {
    use crate::alloc_probe::largest_allocation;
    let base = json(BPE_JSON);
    let zeros = format!("[{}]", vec!["0"; 2 << 20].join(","));
    let with = |path: &[&str], value: &str| {
        let mut j = base.clone();
        let mut at = &mut j;
        for p in path {
            at = &mut at[*p];
        }
        *at = Value::from("PLACEHOLDER");
        j.to_string().replace("\"PLACEHOLDER\"", value)
    };
    let one_merge = format!("[{zeros}]");
    let many_ids = format!("{{{}}}", (0..(1 << 20) + 1).map(|i| format!("\"t{i}\":{i}")).collect::<Vec<_>>().join(","));
    let cases: Vec<(String, Vec<&str>)> = vec![
        // Merges that are numbers: the first one is named, whatever follows.
        (with(&["model", "merges"], &zeros), vec!["a merge: \"a b\" or [a, b]"]),
        // One merge of 2 million elements: skipped while read, then not a pair.
        (with(&["model", "merges"], &one_merge), vec!["entry 0 is not a pair of strings"]),
        // A decoder (real ones: a few hundred bytes) of 4 MiB.
        (with(&["decoder"], &zeros), vec!["decoder is 4194305 bytes long", "1048576"]),
        // A vocabulary whose ids are not integers.
        (with(&["model", "vocab"], "{\"a\": [1, 2]}"), vec!["model.vocab", "\"a\""]),
    ];
    for (text, says) in &cases {
        let (r, largest) = largest_allocation(|| Tokenizer::from_tokenizer_json(text).map(|_| ()));
        let e = message(r.unwrap_err());
        for s in says {
            assert!(e.contains(s), "expected {s:?} in: {e}");
        }
        // The text itself is ~4 MiB and is not copied; what is read of it stays small.
        assert!(largest < (2 << 20), "{says:?}: an allocation of {largest} bytes");
    }
    // One token more than the limit stops the parse there.
    let e = message(Tokenizer::from_tokenizer_json(&with(&["model", "vocab"], &many_ids)).unwrap_err());
    assert!(e.contains("model.vocab has more than 1048576 tokens"), "{e}");
    // A merge of three strings is no pair.
    let three = with(&["model", "merges"], "[[\"a\", \"b\", \"c\"]]");
    assert!(message(Tokenizer::from_tokenizer_json(&three).unwrap_err()).contains("entry 0 is not a pair of strings"));
}

fn llama2c_bin(max_len: i32, tokens: &[(f32, i32, &[u8])]) -> Vec<u8> {
    let mut b = max_len.to_le_bytes().to_vec();
    for (score, len, bytes) in tokens {
        b.extend(score.to_le_bytes());
        b.extend(len.to_le_bytes());
        b.extend(*bytes);
    }
    b
}

#[test]
fn malformed_tokenizer_bin_is_named() {
    let llama2c = "llama2.c tokenizer.bin";
    assert_err_mentions(Tokenizer::from_llama2c_bin(&[]), &[llama2c, "truncated", "needs 4"]);
    assert_err_mentions(Tokenizer::from_llama2c_bin(&SPM_BIN[..2]), &["truncated"]);
    assert_err_mentions(Tokenizer::from_llama2c_bin(&SPM_BIN[..4]), &["no tokens"]);
    // cut inside a header, then inside a token's bytes
    assert_err_mentions(Tokenizer::from_llama2c_bin(&SPM_BIN[..4 + 5]), &["truncated", "token 0", "8-byte header"]);
    assert_err_mentions(Tokenizer::from_llama2c_bin(&SPM_BIN[..SPM_BIN.len() - 1]), &["truncated", "token 511"]);
    // absurd counts and lengths, stopped before allocation
    assert_err_mentions(Tokenizer::from_llama2c_bin(&llama2c_bin(i32::MAX, &[])), &["max_token_length 2147483647"]);
    assert_err_mentions(Tokenizer::from_llama2c_bin(&llama2c_bin(-1, &[])), &["max_token_length -1"]);
    assert_err_mentions(
        Tokenizer::from_llama2c_bin(&llama2c_bin(8, &[(0.0, i32::MAX, b"abc")])),
        &["token 0", "length 2147483647"],
    );
    assert_err_mentions(Tokenizer::from_llama2c_bin(&llama2c_bin(8, &[(0.0, -5, b"")])), &["length -5"]);
    assert_err_mentions(
        Tokenizer::from_llama2c_bin(&llama2c_bin(8, &[(0.0, 1, b"a"), (0.0, 6, b"ab")])),
        &["token 1", "length 6", "2 bytes remain"],
    );
    assert_err_mentions(Tokenizer::from_llama2c_bin(&llama2c_bin(8, &[(f32::NAN, 1, b"a")])), &["NaN"]);
    // a well-formed file with no byte tokens and no <unk>: encoding an unknown character says so
    let tiny =
        Tokenizer::from_llama2c_bin(&llama2c_bin(2, &[(0.0, 1, b" "), (0.0, 1, b"a"), (-1.0, 2, b" a")])).unwrap();
    assert_eq!(tiny.encode("a a").unwrap(), vec![2, 2]);
    assert!(message(tiny.encode("b").unwrap_err()).contains("\"b\" is not in the vocabulary"));
}

#[test]
fn malformed_gguf_vocab_is_named() {
    let t = |s: &str| s.as_bytes().to_vec();
    assert_err_mentions(
        Tokenizer::from_gguf_vocab("bert", vec![t("a")], vec![], vec![], vec![], None, None),
        &["\"bert\""],
    );
    assert_err_mentions(Tokenizer::from_gguf_vocab("llama", vec![], vec![], vec![], vec![], None, None), &["empty"]);
    assert_err_mentions(
        Tokenizer::from_gguf_vocab("llama", vec![t("a"), t("b")], vec![0.0], vec![], vec![], None, None),
        &["scores has 1 entries for 2 tokens"],
    );
    assert_err_mentions(
        Tokenizer::from_gguf_vocab("llama", vec![t("a")], vec![0.0], vec![9], vec![], None, None),
        &["token type 9"],
    );
    assert_err_mentions(
        Tokenizer::from_gguf_vocab("llama", vec![t("a")], vec![0.0], vec![1], vec![], Some(7), None),
        &["bos id 7"],
    );
    assert_err_mentions(
        Tokenizer::from_gguf_vocab("llama", vec![t("<0xZZ>")], vec![0.0], vec![6], vec![], None, None),
        &["<0xZZ>"],
    );
    assert_err_mentions(
        Tokenizer::from_gguf_vocab("gpt2", vec![t("a"), t("b")], vec![], vec![1, 1], vec!["a c".into()], None, None),
        &["merge 0", "\"c\""],
    );
    assert_err_mentions(
        Tokenizer::from_gguf_vocab("gpt2", vec![vec![0xFF]], vec![], vec![], vec![], None, None),
        &["token 0", "UTF-8"],
    );
    assert_err_mentions(
        Tokenizer::from_gguf(GgufVocab {
            model: "gpt2".into(),
            pre: Some("deepseek-llm".into()),
            tokens: vec![t("a")],
            ..GgufVocab::default()
        }),
        &["\"deepseek-llm\""],
    );
}

// ------------------------------------------------------------------------------------------------
// Long inputs, the character tokenizer, the character classes

/// 1 MB inputs that defeat quadratic merging: one 1 MB word of a single letter ('a' has no merge,
/// 'l' merges pairwise with "ll"), 1 MB of spaces (merged by "ĠĠ" / "▁▁" …),
/// and 1 MB of the fixture strings repeated. Asserts the round trip; prints the time.
#[test]
fn one_megabyte_inputs_encode_fast() {
    const MB: usize = 1 << 20;
    let mixed: String = strings(&json(SPM_CASES))
        .iter()
        .filter(|s| !strips_whitespace(s))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
        .repeat(MB / 1000);
    let inputs = [
        ("'a' × 1 MiB", "a".repeat(MB)),
        ("'l' × 1 MiB", "l".repeat(MB)),
        ("spaces × 1 MiB", " ".repeat(MB)),
        ("mixed 1 MiB", mixed[..mixed.floor_char_boundary(MB)].to_string()),
    ];
    let tokenizers = [
        ("BPE gpt2", Tokenizer::from_tokenizer_json(BPE_JSON).unwrap()),
        ("BPE llama3", {
            let cases = json(BPE_CASES);
            Tokenizer::from_tokenizer_json(&patched(&json(BPE_JSON), &cases["variants"][1]["patch"])).unwrap()
        }),
        ("SPM llama2.c", Tokenizer::from_llama2c_bin(SPM_BIN).unwrap()),
        ("SPM gguf", spm_gguf()),
        ("SPM legacy json", Tokenizer::from_tokenizer_json(SPM_LEGACY_JSON).unwrap()),
    ];
    for (tname, tok) in &tokenizers {
        for (iname, text) in &inputs {
            let t0 = Instant::now();
            let ids = tok.encode(text).unwrap();
            let dt = t0.elapsed();
            eprintln!("{tname:>12}  {iname:<15} {:>8} ids  encode {:>7.1} ms", ids.len(), dt.as_secs_f64() * 1e3);
            assert!(tok.decode(&ids) == *text, "{tname}: round trip of {iname}");
        }
    }
    // 100 KB of 'a': tokenizers gives 300 × 'a' as 300 times one id (the vocabulary has no "aa").
    let tok = Tokenizer::from_tokenizer_json(BPE_JSON).unwrap();
    let cases = json(BPE_CASES);
    let k = strings(&cases).iter().position(|s| *s == "a".repeat(300)).unwrap();
    let a300 = &id_lists(&cases["variants"][0]["ids"])[k];
    assert!(a300.len() == 300 && a300.iter().all(|&id| id == a300[0]));
    assert_eq!(tok.encode(&"a".repeat(100 << 10)).unwrap(), vec![a300[0]; 100 << 10]);
}

#[test]
fn an_lstrip_token_after_a_run_of_whitespace_costs_linear_time() {
    // An added "\n" that absorbs the whitespace on its left: each match used to scan back over
    // every newline before it, so n newlines cost n² (40,000 took 1.5 s in release). Now each
    // looks back only to the previous match.
    let mut j = json(BPE_JSON);
    let nl = serde_json::json!({"id": 0, "content": "\n", "single_word": false, "lstrip": true, "rstrip": false, "normalized": false, "special": true});
    j["added_tokens"].as_array_mut().unwrap().push(nl);
    let tok = Tokenizer::from_tokenizer_json(&j.to_string()).unwrap();
    // Each newline is one match of the token, which takes only the spaces before it.
    assert_eq!(tok.encode("a  \n\n").unwrap().iter().filter(|&&id| id == 0).count(), 2);
    let median_ms = |n: usize| {
        let text = "\n".repeat(n);
        let mut t: Vec<f64> = (0..3)
            .map(|_| {
                let t0 = Instant::now();
                let ids = tok.encode(&text).unwrap();
                assert_eq!(ids.len(), n, "one token per newline");
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[1]
    };
    median_ms(1 << 12); // warm-up
    let (small, large) = (median_ms(1 << 13), median_ms(1 << 16));
    eprintln!("lstrip \"\\n\": 8 Ki newlines {small:.2} ms, 64 Ki {large:.2} ms (ratio {:.1})", large / small);
    // Linear: about 8, quadratic 64, but at a fraction of a millisecond the ratio is noise (a busy
    // machine measured 0.19 → 6.15 ms). So the bound is absolute, 10 times under the quadratic
    // code's 6,175 ms for 64 Ki newlines and about 150 times over the linear code's 3.6 ms.
    assert!(large < 600.0, "{small:.2} ms → {large:.2} ms");
}

#[test]
fn char_tokenizer_through_the_enum_is_unchanged() {
    let chars = CharTokenizer::from_text("To be, or not to be");
    let tok = Tokenizer::from(chars.clone());
    assert_eq!(tok.kind(), "characters");
    assert_eq!(tok.vocab_len(), chars.vocab_len());
    assert_eq!(tok.encode("not to be").unwrap(), chars.encode("not to be").unwrap());
    assert_eq!(tok.decode(&[0, 1, 2, 99]), chars.decode(&[0, 1, 2, 99]));
    assert_eq!((tok.bos(), tok.eos()), (None, None));
    assert_eq!(tok.encode("x").unwrap_err(), chars.encode("x").unwrap_err());
    let mut tok = tok;
    assert!(tok.end_of_text().is_empty());
    assert!(tok.set_end_of_text(&[0]).is_err());
    tok.set_end_of_text(&[]).unwrap();
}

/// \p{L} ⊂ Alphabetic and \p{N} = Numeric (Rust's tables, a newer Unicode), on every code point;
/// and the classes on a few characters whose category is known.
#[test]
fn character_classes_agree_with_std() {
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        if is_letter(c) {
            assert!(c.is_alphabetic(), "{c:?} U+{:04X}", c as u32);
        }
        if is_number(c) {
            assert!(c.is_numeric(), "{c:?} U+{:04X}", c as u32);
        }
    }
    for c in ['a', 'Z', 'é', 'ß', 'ſ', 'ª', 'न', 'あ', '日', 'ʰ'] {
        assert!(is_letter(c), "{c:?}");
    }
    // marks and symbols that are Alphabetic but not L
    for c in ['\u{94D}', '\u{947}', 'Ⓐ', '\u{345}', '½', 'Ⅻ', '1', ' '] {
        assert!(!is_letter(c), "{c:?}");
    }
    for c in ['0', '٣', '½', '²', 'Ⅻ', '𝟘'] {
        assert!(is_number(c), "{c:?}");
    }
}

/// Truncated and bit-flipped fixtures (a fixed-seed LCG): every constructor returns Ok or Err,
/// never panics, and what loads encodes and decodes the fixture strings without panicking.
#[test]
fn mutated_files_never_panic() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move |n: usize| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n.max(1)
    };
    let probes = ["", "Hello, world! 123", "naïve café 日本語 🙂", "<|endoftext|>x", "  \n\t <sep>", "<s> ▁x </s>"];
    let exercise = |t: Tokenizer| {
        for p in probes {
            if let Ok(ids) = t.encode(p) {
                let _ = t.decode(&ids);
            }
        }
        let _ = t.decode(&[0, 1, u32::MAX]);
    };
    let (mut ok_bin, mut ok_json) = (0, 0);
    for _ in 0..300 {
        // tokenizer.bin: cut somewhere, then flip a few bytes
        let mut bin = SPM_BIN[..next(SPM_BIN.len() + 1)].to_vec();
        for _ in 0..next(4) {
            if !bin.is_empty() {
                let k = next(bin.len());
                bin[k] ^= 1 << next(8);
            }
        }
        if let Ok(t) = Tokenizer::from_llama2c_bin(&bin) {
            ok_bin += 1;
            exercise(t);
        }
        // tokenizer.json (byte-level, and the two SentencePiece-style layouts): flip one byte
        // (kept ASCII so the text stays UTF-8)
        for base in [BPE_JSON, SPM_LEGACY_JSON, SPM_METASPACE_JSON] {
            let mut j = base.as_bytes().to_vec();
            let k = next(j.len());
            if j[k].is_ascii() {
                j[k] = b" \"{}[],:0123456789abcxyz\\"[next(25)];
            }
            if let Ok(text) = std::str::from_utf8(&j) {
                if let Ok(t) = Tokenizer::from_tokenizer_json(text) {
                    ok_json += 1;
                    exercise(t);
                }
            }
        }
    }
    eprintln!("mutations that still loaded: {ok_bin} tokenizer.bin of 300, {ok_json} tokenizer.json of 900");
}

// ------------------------------------------------------------------------------------------------
// Text written token by token (generation)

/// Every tokenizer kind, on every case string, cut after every token as a prompt: the prompt's
/// text followed by what [`TextStream`] writes token by token is the whole decoding. Decoding
/// each token alone is not (SentencePiece drops a piece's "▁" at the start of what it decodes;
/// a character split over byte tokens decodes as U+FFFD per part), so this can fail.
#[test]
fn text_written_token_by_token_is_the_whole_decoding() {
    use qplay::lm::tokenizers::TextStream;
    let spm_json = |file: &str| Tokenizer::from_tokenizer_json(file).unwrap();
    let kinds = [
        ("GGUF llama", spm_gguf(), json(SPM_CASES)),
        ("llama2.c", Tokenizer::from_llama2c_bin(SPM_BIN).unwrap(), json(SPM_CASES)),
        ("byte-level BPE", Tokenizer::from_tokenizer_json(BPE_JSON).unwrap(), json(BPE_CASES)),
        ("legacy tokenizer.json", spm_json(SPM_LEGACY_JSON), json(SPM_JSON_CASES)),
        ("Metaspace tokenizer.json", spm_json(SPM_METASPACE_JSON), json(SPM_JSON_CASES)),
    ];
    for (name, tok, cases) in kinds {
        let mut one_by_one_differs = false;
        for s in strings(&cases).iter().filter(|s| !s.is_empty()) {
            let ids = tok.encode(s).unwrap();
            let whole = tok.decode(&ids);
            for cut in 0..ids.len() {
                // A prompt is text: its tokens never end inside a character.
                let mut text = tok.decode(&ids[..cut]);
                if !whole.starts_with(text.as_str()) {
                    continue;
                }
                let mut stream = TextStream::after(&tok, &ids[..cut]);
                for k in cut..ids.len() {
                    text += &stream.next(&tok, &ids[..=k]);
                }
                text += &stream.rest(&tok, &ids);
                assert_eq!(text, whole, "{name}: {s:?} with a prompt of {cut} tokens");
            }
            one_by_one_differs |= ids.iter().map(|&i| tok.decode(&[i])).collect::<String>() != whole;
        }
        assert!(one_by_one_differs, "{name}: no case where decoding token by token differs");
    }
}
