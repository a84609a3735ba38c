//! Text and pasted numbers: qplay::formats::text::read_text and qplay::parse::parse_numbers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay_fuzz::{lossy, on_small_stack};

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        let _ = qplay::formats::text::read_text(data);
        let _ = qplay::parse::parse_numbers(&lossy(data));
    });
});
