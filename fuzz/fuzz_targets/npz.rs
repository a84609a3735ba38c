//! NumPy .npz archives (stored or deflated members).
#![no_main]
use libfuzzer_sys::fuzz_target;
use qplay_fuzz::on_small_stack;

fuzz_target!(|data: &[u8]| {
    on_small_stack(|| {
        let _ = qplay::formats::npz::read_npz(data);
        // As the Tensor page reads it: members that are not arrays passed over.
        let _ = qplay::formats::files::read_tensor_file("f.npz", data);
    });
});
