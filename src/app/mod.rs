//! The Yew web app (wasm32 only).
//!
//! - [`state`]: the one place that owns the page state (a reducer).
//! - [`url`]: the one place that reads and writes the browser's URL hash
//!   (the format itself is [`crate::share`]).
//! - [`panic`]: the banner that replaces a blank page if the app ever panics.
//! - [`charts`]: every chart, drawn with plotters-canvas from plain data (no Yew), in a
//!   colour-blind-safe palette; [`components::plot_canvas`] shows any of them.
//! - [`components`]: one component per file.

pub mod charts;
pub mod components;
pub mod download;
pub mod panic;
pub mod state;
pub mod url;
pub mod worker;

/// Entry point: installs the panic banner, then mounts the app on `#app`.
pub fn start() {
    panic::install();
    url::keep_hash_rooted();
    let root = gloo::utils::document().get_element_by_id("app").expect("index.html has a #app element");
    yew::Renderer::<components::app::App>::with_root(root).render();
}
