//! The test binary's global allocator: the system allocator, recording the largest single
//! request the current thread made, so that a test can assert that a parser never asks for more
//! than its input justifies (`fuzz`, `lm_import`), and the bytes the thread holds at once (the
//! peak of what it allocated less what it freed: `lm::forward`). Per thread, so tests running in
//! parallel do not see each other's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    /// Bytes allocated less bytes freed by this thread, and the most of it since `peak_held`
    /// started.
    static HELD: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // try_with: the thread-local may be gone while a thread shuts down.
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    hold(size as isize);
}

fn hold(delta: isize) {
    let _ = HELD.try_with(|h| {
        h.set(h.get() + delta);
        let _ = PEAK.try_with(|p| p.set(p.get().max(h.get())));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        hold(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // The new block is allocated before the old one is freed (at worst).
        note(new_size);
        hold(-(layout.size() as isize));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Forgets the largest allocation seen so far on this thread.
pub fn reset() {
    LARGEST.with(|l| l.set(0));
}

/// The largest single allocation this thread made since `reset`.
pub fn largest() -> usize {
    LARGEST.with(|l| l.get())
}

/// Runs f and returns its result and the largest single allocation it made.
pub fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    reset();
    let out = f();
    (out, largest())
}

/// Runs f and returns its result and the most bytes it held at once on this thread (beyond what
/// the thread held before).
#[allow(dead_code)]
pub fn peak_held<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = HELD.with(|h| h.get());
    PEAK.with(|p| p.set(before));
    let out = f();
    (out, (PEAK.with(|p| p.get()) - before).max(0) as usize)
}
