//! The `qplay` binary: the Yew app when built for wasm32 (trunk), the
//! command-line tool when built natively.

#[cfg(target_arch = "wasm32")]
fn main() {
    qplay::app::start();
}

#[cfg(not(target_arch = "wasm32"))]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod cli_io;
#[cfg(not(target_arch = "wasm32"))]
mod cli_lm;
#[cfg(not(target_arch = "wasm32"))]
mod cli_run;
#[cfg(not(target_arch = "wasm32"))]
mod cli_train;

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    std::process::exit(cli::run_os(std::env::args_os().skip(1).collect()));
}
