"""Writes the small .safetensors, .npz and .onnx fixtures in tests/fixtures/ with the Python
libraries themselves (NumPy, safetensors, onnx), so qplay's readers are tested against files made
by their conventions:

- safetensors: plain tensors of every dtype (f16 and bf16 through ml_dtypes); PyTorch
  nn.Sequential state_dicts with torch-style keys (0.weight, 0.bias, 2.weight, …, BatchNorm's
  running_mean / running_var / num_batches_tracked) written with safetensors.numpy.save_file
  (what `safetensors.torch.save_file(model.state_dict(), …)` writes, without installing PyTorch);
  a model with its architecture in `__metadata__`; a model with a JSON sidecar.
- npz: np.savez (stored) and np.savez_compressed (deflated) archives of several dtypes and orders.
- onnx: models made with onnx.helper: Gemm + Relu + Gemm (attributes, float_data and raw_data
  initializers), MatMul + Add with a Constant-shaped Reshape and a Softmax, Conv + BatchNorm + Relu +
  MaxPool + Flatten + Gemm, and one with an unsupported op (Sigmoid).
- expected_outputs.npz: inputs and the outputs NumPy computes (and ONNX Runtime, for the ONNX
  models, when it is installed) for each model, which the Rust tests compare with qplay's.

    python3 -m venv target/qplay-py && target/qplay-py/bin/pip install numpy ml_dtypes safetensors onnx onnxruntime
    target/qplay-py/bin/python scripts/make_format_fixtures.py

Deterministic: a fixed seed, so running it again gives the same files.
"""
import json
import pathlib

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
out.mkdir(parents=True, exist_ok=True)
rng = np.random.default_rng(20240611)
base = np.array([[0.6004, -1.0151, 1.1885], [0.9948, -0.3187, -1.1111]], dtype=np.float64)
expected = {}


def uniform(shape, fan_in):
    """PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    b = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-b, b, size=shape).astype(np.float32)


# ---- NumPy reference layers (NCHW, PyTorch semantics) ----
def linear(x, w, b):
    return x @ w.T + b


def conv2d(x, w, b, pad):
    n, c, h, wd = x.shape
    oc, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - k + 1, wd + 2 * pad - k + 1
    y = np.zeros((n, oc, oh, ow), dtype=np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i:i + k, j:j + k].reshape(n, -1)
            y[:, :, i, j] = patch @ w.reshape(oc, -1).T
    return (y + b.reshape(1, -1, 1, 1)).astype(np.float32)


def batchnorm(x, g, beta, mean, var, eps=1e-5):
    s = (1, -1, 1, 1)
    return ((x - mean.reshape(s)) / np.sqrt(var.reshape(s) + eps) * g.reshape(s) + beta.reshape(s)).astype(np.float32)


def pool(x, k, kind):
    n, c, h, w = x.shape
    v = x[:, :, : h // k * k, : w // k * k].reshape(n, c, h // k, k, w // k, k)
    return v.max(axis=(3, 5)) if kind == "max" else v.mean(axis=(3, 5))


def relu(x):
    return np.maximum(x, 0)


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---- safetensors: plain tensors of every dtype ----
save_file(
    {
        "f32": base.astype(np.float32),
        "f64": base,
        "f16": base.astype(np.float16),
        "bf16": base.astype(ml_dtypes.bfloat16),
        "i8": np.array([-128, -1, 0, 127], dtype=np.int8),
        "u8": np.array([0, 1, 128, 255], dtype=np.uint8),
        "i16": np.array([-32768, 0, 32767], dtype=np.int16),
        "i32": np.array([-(2**31), 0, 2**31 - 1], dtype=np.int32),
        "i64": np.array([-(2**40), 0, 7], dtype=np.int64),
        "bool": np.array([True, False, True]),
        "scalar": np.array(3.5, dtype=np.float32),
    },
    str(out / "st_tensors.safetensors"),
    metadata={"source": "scripts/make_format_fixtures.py"},
)

# ---- safetensors: nn.Sequential(Linear(784, 4), ReLU(), Linear(4, 10)) state_dict ----
mlp = {
    "0.weight": uniform((4, 784), 784),
    "0.bias": uniform((4,), 784),
    "2.weight": uniform((10, 4), 4),
    "2.bias": uniform((10,), 4),
}
save_file(mlp, str(out / "st_mlp_state_dict.safetensors"), metadata={"format": "pt"})
x_img = rng.uniform(0, 1, size=(2, 1, 28, 28)).astype(np.float32)
h = relu(linear(x_img.reshape(2, -1), mlp["0.weight"], mlp["0.bias"]))
expected["img_x"] = x_img  # the input of the 28×28 models below
expected["mlp_y"] = linear(h, mlp["2.weight"], mlp["2.bias"]).astype(np.float32)

# ---- safetensors: a small CNN with a BatchNorm ----
# nn.Sequential(Conv2d(1, 4, 3, padding=1), BatchNorm2d(4), ReLU(), MaxPool2d(2),
#               Conv2d(4, 4, 3, padding=1), ReLU(), MaxPool2d(2), Flatten(), Linear(196, 10))
cnn = {
    "0.weight": uniform((4, 1, 3, 3), 9),
    "0.bias": uniform((4,), 9),
    "1.weight": rng.uniform(0.5, 1.5, size=4).astype(np.float32),
    "1.bias": rng.uniform(-0.2, 0.2, size=4).astype(np.float32),
    "1.running_mean": rng.uniform(-0.1, 0.1, size=4).astype(np.float32),
    "1.running_var": rng.uniform(0.5, 2.0, size=4).astype(np.float32),
    "1.num_batches_tracked": np.array(100, dtype=np.int64),
    "4.weight": uniform((4, 4, 3, 3), 36),
    "4.bias": uniform((4,), 36),
    "8.weight": uniform((10, 196), 196),
    "8.bias": uniform((10,), 196),
}
save_file(cnn, str(out / "st_cnn_bn_state_dict.safetensors"), metadata={"format": "pt"})
y = conv2d(x_img, cnn["0.weight"], cnn["0.bias"], 1)
y = pool(relu(batchnorm(y, cnn["1.weight"], cnn["1.bias"], cnn["1.running_mean"], cnn["1.running_var"])), 2, "max")
y = pool(relu(conv2d(y, cnn["4.weight"], cnn["4.bias"], 1)), 2, "max")
expected["cnn_y"] = linear(y.reshape(2, -1), cnn["8.weight"], cnn["8.bias"]).astype(np.float32)

# ---- safetensors: architecture in __metadata__ (AvgPool, Softmax: nothing to infer them from) ----
meta_model = {"conv.weight": uniform((2, 1, 3, 3), 9), "conv.bias": uniform((2,), 9), "fc.weight": uniform((3, 32), 32), "fc.bias": uniform((3,), 32)}
arch = {
    "input": [1, 8, 8],
    "layers": [
        {"kind": "conv2d", "name": "conv", "stride": 1, "padding": 1},
        {"kind": "relu"},
        {"kind": "avg_pool2d", "kernel": 2},
        {"kind": "flatten"},
        {"kind": "linear", "name": "fc"},
        {"kind": "softmax"},
    ],
}
save_file(meta_model, str(out / "st_arch_metadata.safetensors"), metadata={"qplay.architecture": json.dumps(arch)})
x8 = rng.uniform(-1, 1, size=(2, 1, 8, 8)).astype(np.float32)
y = pool(relu(conv2d(x8, meta_model["conv.weight"], meta_model["conv.bias"], 1)), 2, "avg")
expected["meta_x"] = x8
expected["meta_y"] = softmax(linear(y.reshape(2, -1), meta_model["fc.weight"], meta_model["fc.bias"])).astype(np.float32)

# ---- safetensors + a JSON sidecar (names that say nothing about the order) ----
side = {"head.weight": uniform((4, 8), 8), "head.bias": uniform((4,), 8), "encoder.weight": uniform((8, 12), 12), "encoder.bias": uniform((8,), 12)}
save_file(side, str(out / "st_sidecar_model.safetensors"))
sidecar = {"input": [12], "layers": [{"kind": "linear", "name": "encoder"}, {"kind": "relu"}, {"kind": "linear", "name": "head"}, {"kind": "softmax"}]}
(out / "st_sidecar_model.json").write_text(json.dumps(sidecar, indent=2) + "\n")
x12 = rng.uniform(-1, 1, size=(2, 12)).astype(np.float32)
expected["sidecar_x"] = x12
expected["sidecar_y"] = softmax(linear(relu(linear(x12, side["encoder.weight"], side["encoder.bias"])), side["head.weight"], side["head.bias"])).astype(np.float32)

# ---- npz: np.savez and np.savez_compressed ----
arrays = {
    "f4": base.astype(np.float32),
    "f8_fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
    "f2": base.astype(np.float16),
    "i1": np.array([-128, -1, 0, 127], dtype=np.int8),
    "u2": np.array([0, 65535], dtype=np.uint16),
    "b1": np.array([True, False]),
}
np.savez(out / "arrays_savez.npz", **arrays)
np.savez_compressed(out / "arrays_savez_compressed.npz", **arrays)
# Members qplay does not read (strings, complex, objects) beside one it does: np.load reads each
# member on its own, and so does qplay.
np.savez_compressed(
    out / "arrays_some_unreadable.npz",
    labels=np.array(["cat", "dog", "emu"]),
    w=base.astype(np.float32),
    z=np.array([1 + 2j, 3 - 1j], dtype=np.complex64),
    o=np.array([{"a": 1}, None], dtype=object),
)


# ---- ONNX models (onnx.helper) ----
def save_onnx(model, name):
    onnx.checker.check_model(model)
    onnx.save_model(model, str(out / name))


def float_input(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N"] + dims)


# Flatten → Gemm(transB=1) → Relu → Gemm(transB=0, alpha, beta); one initializer in float_data.
g1w = uniform((4, 784), 784)
g1b = uniform((4,), 784)
g2w = uniform((4, 10), 4)  # [in, out]: transB = 0
g2b = uniform((10,), 4)
nodes = [
    helper.make_node("Flatten", ["x"], ["f"], name="flatten", axis=1),
    helper.make_node("Gemm", ["f", "fc1.weight", "fc1.bias"], ["h"], name="fc1", transB=1),
    helper.make_node("Relu", ["h"], ["r"], name="relu1"),
    helper.make_node("Gemm", ["r", "fc2.weight", "fc2.bias"], ["y"], name="fc2", alpha=0.5, beta=2.0),
]
inits = [
    numpy_helper.from_array(g1w, "fc1.weight"),
    helper.make_tensor("fc1.bias", TensorProto.FLOAT, [4], g1b.tolist()),  # float_data
    numpy_helper.from_array(g2w, "fc2.weight"),
    numpy_helper.from_array(g2b, "fc2.bias"),
]
graph = helper.make_graph(nodes, "mlp_gemm", [float_input("x", [1, 28, 28])], [float_input("y", [10])], inits)
save_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), "onnx_mlp_gemm.onnx")
h = relu(linear(x_img.reshape(2, -1), g1w, g1b))
expected["onnx_gemm_y"] = (0.5 * (h @ g2w) + 2.0 * g2b).astype(np.float32)

# Reshape(shape from a Constant node) → MatMul + Add → Relu → MatMul + Add → Softmax.
m1 = uniform((16, 8), 16)
a1 = uniform((8,), 16)
m2 = uniform((8, 5), 8)
a2 = uniform((5,), 8)
nodes = [
    helper.make_node("Constant", [], ["shape"], name="shape", value=numpy_helper.from_array(np.array([0, -1], dtype=np.int64))),
    helper.make_node("Reshape", ["x", "shape"], ["f"], name="reshape"),
    helper.make_node("MatMul", ["f", "m1"], ["p1"], name="mm1"),
    helper.make_node("Add", ["p1", "a1"], ["s1"], name="add1"),
    helper.make_node("Relu", ["s1"], ["r1"], name="relu1"),
    helper.make_node("MatMul", ["r1", "m2"], ["p2"], name="mm2"),
    helper.make_node("Add", ["a2", "p2"], ["s2"], name="add2"),
    helper.make_node("Softmax", ["s2"], ["y"], name="softmax", axis=-1),
]
inits = [numpy_helper.from_array(v, n) for v, n in [(m1, "m1"), (a1, "a1"), (m2, "m2"), (a2, "a2")]]
graph = helper.make_graph(nodes, "mlp_matmul", [float_input("x", [1, 4, 4])], [float_input("y", [5])], inits)
save_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), "onnx_mlp_matmul.onnx")
x44 = rng.uniform(-1, 1, size=(2, 1, 4, 4)).astype(np.float32)
expected["onnx_matmul_x"] = x44
expected["onnx_matmul_y"] = softmax(relu(x44.reshape(2, -1) @ m1 + a1) @ m2 + a2).astype(np.float32)

# Conv(pads 1) → BatchNormalization → Relu → MaxPool(2) → Flatten → Gemm, on 12×12 images.
cw = uniform((4, 1, 3, 3), 9)
cb = uniform((4,), 9)
bn = [rng.uniform(0.5, 1.5, 4), rng.uniform(-0.2, 0.2, 4), rng.uniform(-0.1, 0.1, 4), rng.uniform(0.5, 2.0, 4)]
bn = [v.astype(np.float32) for v in bn]
fw = uniform((10, 144), 144)
fb = uniform((10,), 144)
nodes = [
    helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
    helper.make_node("BatchNormalization", ["c", "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["b"], name="bn", epsilon=1e-5),
    helper.make_node("Relu", ["b"], ["r"], name="relu"),
    helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Flatten", ["p"], ["f"], name="flatten", axis=1),
    helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1),
]
inits = [numpy_helper.from_array(v, n) for v, n in [(cw, "conv.weight"), (cb, "conv.bias"), (bn[0], "bn.scale"), (bn[1], "bn.bias"), (bn[2], "bn.mean"), (bn[3], "bn.var"), (fw, "fc.weight"), (fb, "fc.bias")]]
graph = helper.make_graph(nodes, "cnn_bn", [float_input("x", [1, 12, 12])], [float_input("y", [10])], inits)
save_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), "onnx_cnn_bn.onnx")
x12i = rng.uniform(0, 1, size=(2, 1, 12, 12)).astype(np.float32)
y = pool(relu(batchnorm(conv2d(x12i, cw, cb, 1), *bn)), 2, "max")
expected["onnx_cnn_x"] = x12i
expected["onnx_cnn_y"] = linear(y.reshape(2, -1), fw, fb).astype(np.float32)

# An op qplay does not run.
nodes = [
    helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", transB=1),
    helper.make_node("Sigmoid", ["h"], ["y"], name="gate"),
]
inits = [numpy_helper.from_array(uniform((3, 4), 4), "w"), numpy_helper.from_array(uniform((3,), 4), "b")]
graph = helper.make_graph(nodes, "unsupported", [float_input("x", [4])], [float_input("y", [3])], inits)
save_onnx(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), "onnx_unsupported_sigmoid.onnx")

# Cross-check the ONNX expectations with ONNX Runtime when it is installed.
try:
    import onnxruntime as ort

    for file, key in [("onnx_mlp_gemm.onnx", "onnx_gemm"), ("onnx_mlp_matmul.onnx", "onnx_matmul"), ("onnx_cnn_bn.onnx", "onnx_cnn")]:
        sess = ort.InferenceSession(str(out / file), providers=["CPUExecutionProvider"])
        got = sess.run(None, {"x": expected.get(key + "_x", x_img)})[0]
        assert np.allclose(got, expected[key + "_y"], rtol=1e-5, atol=1e-6), (file, got, expected[key + "_y"])
    print("ONNX Runtime agrees with the NumPy expectations")
except ImportError:
    print("onnxruntime not installed: ONNX expectations from NumPy only")

np.savez_compressed(out / "expected_outputs.npz", **expected)
print("wrote", sorted(p.name for p in out.iterdir() if p.suffix in {".safetensors", ".npz", ".onnx", ".json"}))
