//! The Tensor page's share link (`#/tensor?…`), the page router and the view keys.
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay_fuzz::{lossy, on_small_stack};

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        let s = lossy(data);
        let (settings, _notices) = qplay::share::TensorSettings::from_hash(&s);
        let _ = qplay::share::Page::from_hash(&s);
        let query = qplay::share::query_of(&s);
        let _ = qplay::share::view::split_view(query);
        // What a link decodes to is a valid link: it encodes, and decodes to the same settings
        // without a notice.
        let again = settings.to_hash();
        let (back, notices) = qplay::share::TensorSettings::from_hash(&again);
        assert!(notices.is_empty(), "{again}: {notices:?}");
        assert_eq!(back, settings, "{again}");
    });
});
