//! Hugging Face checkpoints: the input is u16 n (little-endian) · n bytes of config.json · the
//! bytes of model.safetensors; read with read_hf and through import_model (with a tokenizer.json
//! made of the same config bytes).
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay::lm::import::{import_model, read_hf};
use qplay_fuzz::on_small_stack;

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        if data.len() < 2 {
            return;
        }
        let n = (u16::from_le_bytes([data[0], data[1]]) as usize).min(data.len() - 2);
        let (config, model) = data[2..].split_at(n);
        if let Ok(m) = read_hf(config, &[("model.safetensors", model)]) {
            assert!(m.weights.validate().is_ok());
        }
        let _ = import_model(&[
            ("config.json".to_string(), config),
            ("model.safetensors".to_string(), model),
            ("tokenizer.json".to_string(), config),
        ]);
    });
});
