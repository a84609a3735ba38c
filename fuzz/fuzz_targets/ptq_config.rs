//! Golden Stick's `PTQConfig(...)` call as qplay reads it: src/ptq/golden_stick.rs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay::ptq::golden_stick::{read_ptq_config, write_ptq_config};
use qplay::ptq::lm::LmQuantConfig;
use qplay_fuzz::{lossy, on_small_stack};

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        let s = lossy(data);
        let base = LmQuantConfig::default();
        if let Ok(read) = read_ptq_config(&s, &base) {
            // What a call reads as, written as a call, reads back the same.
            let said = write_ptq_config(&read.quant);
            if said.unsaid.is_empty() {
                let back = read_ptq_config(&said.text, &base).unwrap_or_else(|e| panic!("{}: {e}", said.text));
                assert_eq!(back.quant, read.quant, "{}", said.text);
            }
        }
    });
});
