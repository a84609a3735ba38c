//! GGUF models: the container (GgufFile::parse, then every tensor dequantized), the Llama reader
//! (read_gguf); a model that loads is exported again as F32 GGUF, which must read back to the
//! same weights, and (at most 1 Mi parameters) runs one short forward pass.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay::lm::import::gguf::GgufFile;
use qplay::lm::import::{read_gguf, write_gguf, GgufWeightType, RawVocab};
use qplay::lm::{KvCache, KvFormat, LmModel, NoProbe};
use qplay_fuzz::on_small_stack;

const MAX_PARAMS: u128 = 1 << 20;

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        if let Ok(f) = GgufFile::parse(data) {
            for t in &f.tensors {
                let _ = f.dequantize(t);
            }
        }
        let Ok(m) = read_gguf(data) else { return };
        let w = &m.weights;
        let raw = m.vocab.clone().map(RawVocab::Tokens);
        if let Ok(bytes) = write_gguf(w, "fuzz", GgufWeightType::F32, raw.as_ref()) {
            let back = read_gguf(&bytes).expect("qplay's own export reads back");
            assert_eq!(&back.weights, w, "the F32 export round-trips");
            // A "llama2.c" vocabulary is written as SentencePiece's ("▁" for ' '); others as they are.
            if !m.vocab.as_ref().is_some_and(|v| v.model.as_deref() == Some("llama2.c")) {
                assert_eq!(back.vocab.map(|v| v.tokens), m.vocab.map(|v| v.tokens));
            }
        }
        if w.config.param_count() > MAX_PARAMS {
            return;
        }
        let Ok(model) = LmModel::from_weights(w) else { return };
        let Ok(mut cache) = KvCache::new(&w.config, KvFormat::F32) else { return };
        let n = w.config.seq_len.min(3);
        let tokens: Vec<u32> = (0..n).map(|i| (i * 5 % w.config.vocab_size) as u32).collect();
        let _ = model.forward(&tokens, &mut cache, false, &mut NoProbe);
    });
});
