//! TOML experiment descriptions (Experiment::from_toml); one that validates also writes back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay::experiment::spec::Experiment;
use qplay_fuzz::{lossy, on_small_stack};

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        if let Ok(e) = Experiment::from_toml(&lossy(data)) {
            let _ = Experiment::from_toml(&e.to_toml());
        }
    });
});
