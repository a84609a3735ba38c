//! Tokenizers: the input is u16 n (little-endian) · n bytes of a tokenizer file · a text. The
//! file is read as a Hugging Face tokenizer.json (lossy UTF-8) and as a llama2.c tokenizer.bin;
//! a tokenizer that loads encodes the text and a few fixed probes, every id it gives is in its
//! vocabulary, and decoding any ids (out-of-range ones included) never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay::lm::tokenizers::Tokenizer;
use qplay_fuzz::{lossy, on_small_stack, split_u16_prefixed};

const PROBES: [&str; 4] = ["Hello, world! 123", "naïve café 日本語 🙂", "<|endoftext|>x  \n\t", "<s> ▁x </s>"];

fn exercise(t: &Tokenizer, text: &str) {
    for p in std::iter::once(text).chain(PROBES) {
        if let Ok(ids) = t.encode(p) {
            assert!(ids.iter().all(|&i| (i as usize) < t.vocab_len()), "an id beyond the vocabulary of {}", t.vocab_len());
            let _ = t.decode(&ids);
        }
    }
    let _ = t.decode(&[0, 1, u32::MAX]);
}

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        let Some((file, text)) = split_u16_prefixed(data) else {
            return;
        };
        let text = lossy(text);
        if let Ok(t) = Tokenizer::from_tokenizer_json(&lossy(file)) {
            exercise(&t, &text);
        }
        if let Ok(t) = Tokenizer::from_llama2c_bin(file) {
            exercise(&t, &text);
        }
    });
});
