//! The benchmark binaries' clock and output: `Instant` and stdout natively, `performance.now()`
//! and `console.log` under Node (wasm32).

/// A benchmark's body: `run(clock_in_seconds, print)`.
pub type Bench = fn(&dyn Fn() -> f64, &dyn Fn(&str));

/// Calls `run(clock_in_seconds, print)` on this platform, after a `platform …` line.
pub fn with_platform(run: Bench) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let start = std::time::Instant::now();
        let clock = move || start.elapsed().as_secs_f64();
        println!("platform native {}", std::env::consts::ARCH);
        run(&clock, &|l| println!("{l}"));
    }
    #[cfg(target_arch = "wasm32")]
    {
        let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).expect("performance exists");
        let now: js_sys::Function = js_sys::Reflect::get(&performance, &"now".into()).expect("now exists").into();
        let clock = move || now.call0(&performance).ok().and_then(|v| v.as_f64()).unwrap_or(0.0) / 1e3;
        let log = |l: &str| web_sys::console::log_1(&l.into());
        log("platform wasm32 simd128");
        run(&clock, &log);
    }
}
