//! llama2.c files: the whole input as a model.bin (v0, v1, v2) and as a tokenizer.bin, and
//! through import_model under both names.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay::lm::import::{import_model, read_llama2c, read_llama2c_tokenizer};
use qplay_fuzz::on_small_stack;

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        if let Ok(m) = read_llama2c(data) {
            assert!(m.version <= 2);
            assert!(m.weights.validate().is_ok());
        }
        if let Ok(v) = read_llama2c_tokenizer(data) {
            assert_eq!(v.tokens.len(), v.scores.len());
        }
        let _ = import_model(&[("model.bin".to_string(), data), ("tokenizer.bin".to_string(), data)]);
    });
});
