//! MindSpore Lite converter INI files (qplay::experiment::ini::from_ini).
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay::experiment::ini::from_ini;
use qplay::experiment::spec::Experiment;
use qplay_fuzz::{lossy, on_small_stack};

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        let _ = from_ini(&lossy(data), Experiment::default());
    });
});
