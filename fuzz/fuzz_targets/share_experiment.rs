//! The experiment share link (`#/model?…`, `#/lab?…`): src/share/experiment.rs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay_fuzz::{lossy, on_small_stack};

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        let s = lossy(data);
        let query = s.split_once('?').map_or(&*s, |(_, q)| q);
        let (exp, _notices) = qplay::share::experiment::from_query(query);
        let _ = qplay::share::view::split_view(query);
        // What a link decodes to is a valid experiment's link: it encodes, and decodes to the
        // same experiment without a notice.
        let again = qplay::share::experiment::to_query(&exp);
        let (back, notices) = qplay::share::experiment::from_query(&again);
        assert!(notices.is_empty(), "{again}: {notices:?}");
        assert_eq!(back, exp, "{again}");
    });
});
