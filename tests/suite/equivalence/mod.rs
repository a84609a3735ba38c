//! Every SIMD kernel against its scalar reference. Included by
//! `equivalence_browser.rs` (headless Chromium) and `equivalence_node.rs`
//! (Node), and run natively by the former, so the same assertions hold
//! wherever the kernels run.

mod gemm_f32;
mod gemm_i8;
mod qconv;
mod quant_kernels;
mod requant;
