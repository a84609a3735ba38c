//! `qplay-worker`: the app's Web Worker (built by trunk with `data-type="worker"`), which runs
//! experiments off the page's thread. See `qplay::app::worker`.

#[cfg(target_arch = "wasm32")]
fn main() {
    qplay::app::panic::install_console_only();
    qplay::app::worker::runner::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("qplay-worker is the web app's worker: it runs in the browser (trunk build), not natively.");
    std::process::exit(2);
}
