//! The language model: included by `lm_browser.rs` (natively and in headless Chromium)
//! and `lm_node.rs` (Node), so the same assertions hold wherever it runs.

mod forward;
mod quant;
mod link;
mod gptq;
mod awq;
mod smoothquant;
mod inspect;
mod golden_stick;
