//! Shared by the fuzz targets in `fuzz_targets/`: every input runs on a thread with a 1 MiB
//! stack (the size of a browser's Web Worker stack on the small side), so unbounded recursion on
//! input shows up as a stack overflow here rather than only in the app.
//!
//! A panic anywhere is a bug: libfuzzer-sys's panic hook aborts the process (on every thread),
//! which libFuzzer reports as a crash and saves the input under `fuzz/artifacts/<target>/`.

/// The stack every input runs on.
pub const STACK: usize = 1 << 20;

/// Runs `f` on a fresh thread with a [`STACK`]-byte stack and waits for it.
pub fn on_small_stack<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("fuzz-case".into())
            .stack_size(STACK)
            .spawn_scoped(s, f)
            .expect("a thread for the case")
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// Text as the app sees it: lossy UTF-8.
pub fn lossy(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Two files from one input: u16 n (little-endian) · n bytes of the first · the rest (n is cut
/// to what there is); `None` under 2 bytes.
pub fn split_u16_prefixed(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    Some(rest.split_at((u16::from_le_bytes(*len) as usize).min(rest.len())))
}
