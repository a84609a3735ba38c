//! The lab handout's golden examples (shared REFERENCE.md): the integers
//! exactly, the dequantized values within 1e-4. Runs natively (`cargo test`)
//! and in headless Chromium (`cargo test --target wasm32-unknown-unknown`).

use qplay::examples::*;
use qplay::quant::{quantize_tensor, Method, Scheme};

const DEQ_TOL: f32 = 1e-4;

fn check(x: &[f32], method: Method, q: &[i32], deq: &[f32]) {
    let r = quantize_tensor(x, &Scheme::lab(method, 8)).expect("a finite, non-constant tensor");
    assert_eq!(r.q, q, "{method:?}: integers");
    for (i, (&got, &want)) in r.dequant.iter().zip(deq).enumerate() {
        assert!((got - want).abs() <= DEQ_TOL, "{method:?}: r'[{i}] = {got}, handout {want}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn lab_normal_example() {
    check(&LAB_NORMAL, Method::Normal, &LAB_NORMAL_Q, &LAB_NORMAL_DEQ);
    let r = quantize_tensor(&LAB_NORMAL, &Scheme::lab(Method::Normal, 8)).unwrap();
    // s = (1.1885 − (−1.1217)) / 255,  Z = round(−128 − (−1.1217) / s) = −4
    assert!((r.params.scale - 2.3102 / 255.0).abs() < 1e-7);
    assert_eq!(r.params.zero_point, -4);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn lab_clip_example() {
    check(&LAB_CLIP, Method::Clip, &LAB_CLIP_Q, &LAB_CLIP_DEQ);
    let r = quantize_tensor(&LAB_CLIP, &Scheme::lab(Method::Clip, 8)).unwrap();
    // s = (1.4243 − (−1.2151)) / 511,  Z = round(−256 − (−1.2151) / s) = −21
    assert!((r.params.scale - 2.6394 / 511.0).abs() < 1e-7);
    assert_eq!(r.params.zero_point, -21);
    assert_eq!((r.params.grid_min, r.params.grid_max), (-256, 255));
    assert_eq!((r.params.qmin, r.params.qmax), (-128, 127));
}
