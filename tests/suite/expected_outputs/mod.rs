//! Models read from the NumPy- and PyTorch-convention fixtures, checked against the outputs
//! NumPy computed for them (tests/fixtures/expected_outputs.npz, made by
//! scripts/make_format_fixtures.py). Shared by the ONNX and .safetensors tests.

use qplay::formats::npz::read_npz;
use qplay::formats::Tensor;
use qplay::model::forward::Fp32Runner;
use qplay::model::Model;

/// An input and NumPy's output for it, from expected_outputs.npz.
pub fn expected(name: &str) -> Tensor {
    let all = read_npz(fixture!("expected_outputs.npz")).expect("the expectations read");
    all.into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no expectation {name}")).1
}

/// Runs `model` on `x` and compares with `want` within a relative tolerance (NumPy sums in
/// another order: a few f32 ulps of the largest term).
pub fn assert_outputs(model: Model, x: &Tensor, want: &Tensor, label: &str) {
    let got = Fp32Runner::new(model).forward(&x.values).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(got.len(), want.values.len(), "{label}: output size");
    for (i, (g, w)) in got.iter().zip(&want.values).enumerate() {
        assert!((g - w).abs() <= 1e-5 + 1e-5 * w.abs(), "{label}: output {i}: qplay {g}, NumPy {w}");
    }
}

pub fn kinds(m: &Model) -> Vec<&'static str> {
    m.layers.iter().map(|l| l.kind.name()).collect()
}
