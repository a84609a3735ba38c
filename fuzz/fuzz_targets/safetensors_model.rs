//! .safetensors files as models: an FP32 model (state_dict + architecture metadata) and a
//! quantized model; a model that loads is also run once on a small batch.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay::model::forward::Fp32Runner;
use qplay::model::DEFAULT_MAX_PARAMS;
use qplay_fuzz::on_small_stack;

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        if let Ok(m) = qplay::formats::safetensors::read_model(data, None, DEFAULT_MAX_PARAMS) {
            if m.input.len() <= 1 << 12 {
                let x: Vec<f32> = (0..2 * m.input.len()).map(|i| (i % 7) as f32 - 3.0).collect();
                let _ = Fp32Runner::new(m).forward(&x);
            }
        }
        if let Ok(q) = qplay::formats::quantized::read_quantized(data, DEFAULT_MAX_PARAMS) {
            if q.fp32.input.len() <= 1 << 12 {
                let x: Vec<f32> = (0..2 * q.fp32.input.len()).map(|i| (i % 5) as f32 * 0.25).collect();
                let _ = q.forward(&x);
            }
        }
    });
});
