//! The SIMD kernels, the language model and the experiments' identity checks in wasm under Node
//! (wasm-bindgen-test runs a binary in Node when it is not configured for the browser), the
//! runtime of `scripts/bench.sh`. The modules are tests/suite's own.
#![cfg(target_arch = "wasm32")]

#[macro_use]
#[path = "../suite/common/mod.rs"]
mod common;
#[path = "../suite/equivalence/mod.rs"]
mod equivalence;
#[path = "../suite/identity/mod.rs"]
mod identity;
#[path = "../suite/lm/mod.rs"]
mod lm;
#[path = "../suite/lm_kernels.rs"]
mod lm_kernels;
