//! ONNX models (FP32 and QDQ).
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay::model::DEFAULT_MAX_PARAMS;
use qplay_fuzz::on_small_stack;

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        let _ = qplay::formats::onnx::read_onnx(data, DEFAULT_MAX_PARAMS);
    });
});
