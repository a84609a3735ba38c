//! JSON: arrays (read_str), an architecture, a quantization spec, and an architecture sidecar
//! built against a real state_dict.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay::model::DEFAULT_MAX_PARAMS;
use qplay_fuzz::{lossy, on_small_stack};

const STATE_DICT: &[u8] = include_bytes!("../../tests/fixtures/st_sidecar_model.safetensors");

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        let s = lossy(data);
        let _ = qplay::formats::text::read_str(&s);
        let _ = serde_json::from_str::<qplay::formats::safetensors::Architecture>(&s);
        let _ = serde_json::from_str::<qplay::formats::quantized::QuantSpec>(&s);
        let _ = qplay::formats::safetensors::read_model(STATE_DICT, Some(&s), DEFAULT_MAX_PARAMS);
    });
});
