//! Hugging Face checkpoints: the input is u16 n (little-endian) · n bytes of config.json · the
//! bytes of model.safetensors; read with read_hf and through import_model (with a tokenizer.json
//! made of the same config bytes), whose vocabulary then goes to tokenizer_for.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay::lm::import::{import_model, read_hf, tokenizer_for};
use qplay_fuzz::{on_small_stack, split_u16_prefixed};

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        let Some((config, model)) = split_u16_prefixed(data) else {
            return;
        };
        if let Ok(m) = read_hf(config, &[("model.safetensors", model)]) {
            assert!(m.weights.validate().is_ok());
        }
        let imported = import_model(&[
            ("config.json".to_string(), config),
            ("model.safetensors".to_string(), model),
            ("tokenizer.json".to_string(), config),
        ]);
        if let Ok(m) = imported {
            if let Ok(t) = tokenizer_for(&m.weights, m.vocab.as_ref()) {
                assert!(t.vocab_len() <= m.weights.config.vocab_size);
            }
        }
    });
});
