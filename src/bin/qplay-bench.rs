//! `qplay-bench`: the kernel benchmarks, natively (`cargo run --release --bin qplay-bench`)
//! or as wasm under Node 20 (`bash scripts/bench.sh`). One parseable line per case.

/// Elements per quantize call: 1 Mi values (4 MiB of f32), larger than L2.
const N: usize = 1 << 20;

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    let start = std::time::Instant::now();
    let clock = move || start.elapsed().as_secs_f64();
    println!("platform native {}", std::env::consts::ARCH);
    run(&clock, &|l| println!("{l}"));
}

#[cfg(target_arch = "wasm32")]
fn main() {
    let performance = js_sys::Reflect::get(&js_sys::global(), &"performance".into()).expect("performance exists");
    let now: js_sys::Function = js_sys::Reflect::get(&performance, &"now".into()).expect("now exists").into();
    let clock = move || now.call0(&performance).ok().and_then(|v| v.as_f64()).unwrap_or(0.0) / 1e3;
    let log = |l: &str| web_sys::console::log_1(&l.into());
    log("platform wasm32 simd128");
    run(&clock, &log);
}

fn run(clock: &dyn Fn() -> f64, print: &dyn Fn(&str)) {
    let mut lines = qplay::bench::quant_kernels(clock, N);
    lines.extend(qplay::bench::gemm_i8(clock));
    lines.extend(qplay::bench::gemm_f32(clock));
    lines.extend(qplay::bench::mlp_end_to_end(clock, 10_000));
    lines.extend(qplay::bench::qat_epoch(clock, 10_000));
    for l in &lines {
        print(&l.to_line());
    }
    for r in qplay::bench::ratios(&lines).into_iter().chain(qplay::bench::int8_vs_f32(&lines)) {
        print(&r);
    }
}
