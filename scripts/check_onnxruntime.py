#!/usr/bin/env python3
"""Checks qplay's ONNX exports in ONNX Runtime on the whole Fashion-MNIST test set (10,000 images).

For an MLP and a CNN (the pretrained baselines www/models/{mlp-fashion,cnn-fashion}.safetensors when
present, else the built-in lab-mlp / small-cnn with seeded random weights), it exports with
`qplay export` (native CLI, src/cli_io.rs):

    fp32            FP32 ONNX (opset 13)
    w8a8-channel    QDQ ONNX, full W8A8, per-channel symmetric weights, MinMax activations
    w4a8-channel    QDQ ONNX, full, 4-bit per-channel weights (int8 containers), 8-bit activations
    w4-group32      QDQ ONNX, weight-only 4-bit per-group (32) weights (blocked DequantizeLinear)
    w8a4-channel    QDQ ONNX, full, 8-bit weights, 4-bit activations (Clip before QuantizeLinear)
    w12a12-channel  QDQ ONNX, full, 12-bit weights and activations (int16 containers)

runs each in ONNX Runtime (default graph optimizations, CPU) and compares with qplay's own
predictions (FP32, or its fake-quant simulation `QuantModel::forward`), which `qplay export
--predictions` writes. It fails when the accuracies differ by more than 0.5 points or when fewer
than 99 % of the predictions agree (random-weight models sit near 10 % accuracy, so agreement is
the sharper test there). One line per case.

Then the integer engine: `qplay run --model M --out DIR` runs the same static W8A8 (per-channel
symmetric weights, MinMax, 256 calibration images) on qplay's integer kernels (int8 GEMM, im2col
Conv2d, int8 pooling: src/runtime/) and writes its predictions to DIR/predictions.npy; they must
agree with ONNX Runtime's run of the w8a8-channel QDQ export on at least 99.9 % of the 10,000
images, and the report must name the engine "int8".

ONNX Runtime and NumPy come from PyPI into a venv under target/ (made once, then reused):

    python3 scripts/check_onnxruntime.py            # builds qplay (dev profile) with cargo first
    QPLAY_BIN=path/to/qplay python3 scripts/check_onnxruntime.py
    python3 scripts/check_onnxruntime.py --random   # the random-weight built-ins even when the baselines exist
"""
import gzip
import json
import os
import pathlib
import struct
import subprocess
import sys
from pinned_venv import cpu_has_int8_dot, ort_session_options, reexec_in_venv

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV = ROOT / "target" / "qplay-py"
PACKAGES = ["numpy==2.4.6", "onnxruntime==1.32.0"]
MAX_ACCURACY_GAP = 0.5  # percentage points
MIN_AGREEMENT = 99.0  # percent
MIN_INT8_AGREEMENT = 99.9  # percent: the integer engine against ONNX Runtime's QDQ run


def ensure_venv():
    """Re-runs this script inside target/qplay-py with numpy and onnxruntime installed."""
    reexec_in_venv(VENV, PACKAGES, __file__)


def qplay_binary():
    if os.environ.get("QPLAY_BIN"):
        return os.environ["QPLAY_BIN"]
    print("[check] cargo build --bin qplay", flush=True)
    subprocess.run(["cargo", "build", "--quiet", "--bin", "qplay"], cwd=ROOT, check=True)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return str(target / "debug" / "qplay")


def read_qds(path):
    """A .qds dataset (src/data/mod.rs): 20-byte header, labels, then row-major u8 pixels."""
    import numpy as np

    raw = gzip.decompress(path.read_bytes())
    assert raw[:4] == b"QPDS" and raw[4] == 1, f"{path}: not a .qds file"
    rows, cols, _classes = raw[5], raw[6], raw[7]
    (n,) = struct.unpack_from("<I", raw, 8)
    labels = np.frombuffer(raw, dtype=np.uint8, count=n, offset=20)
    pixels = np.frombuffer(raw, dtype=np.uint8, count=n * rows * cols, offset=20 + n)
    # qplay's images_f32: pixel · (1 / 255) in f32.
    images = pixels.astype(np.float32).reshape(n, rows * cols) * np.float32(1.0 / 255.0)
    return images, labels


def run_ort(path, images):
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), ort_session_options(ort), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [-1] + [int(d) for d in inp.shape[1:]]
    preds = []
    for start in range(0, len(images), 1000):
        x = images[start:start + 1000].reshape(shape)
        preds.append(np.argmax(sess.run(None, {inp.name: x})[0], axis=1))
    return np.concatenate(preds)


def main():
    ensure_venv()
    import numpy as np

    qplay = qplay_binary()
    out = ROOT / "target" / "onnxruntime-check"
    out.mkdir(parents=True, exist_ok=True)
    images, labels = read_qds(ROOT / "www" / "data" / "fashion-test.qds.gz")
    models = []
    for pretrained, builtin in [("mlp-fashion", "lab-mlp"), ("cnn-fashion", "small-cnn")]:
        have = (ROOT / "www" / "models" / f"{pretrained}.safetensors").exists()
        models.append(pretrained if have and "--random" not in sys.argv else builtin)
    cases = [
        ("fp32", ["--format", "onnx"]),
        ("w8a8-channel", ["--format", "qdq-onnx"]),
        ("w4a8-channel", ["--format", "qdq-onnx", "--weight-bits", "4"]),
        ("w4-group32", ["--format", "qdq-onnx", "--mode", "weight-only", "--weight-bits", "4", "--granularity", "per-group", "--group-size", "32"]),
        ("w8a4-channel", ["--format", "qdq-onnx", "--act-bits", "4"]),
        ("w12a12-channel", ["--format", "qdq-onnx", "--weight-bits", "12", "--act-bits", "12"]),
    ]
    if not cpu_has_int8_dot():
        print("[check] this x86-64 CPU has no VNNI: ONNX Runtime's fused U8S8 kernels saturate here, so it runs the QDQ graphs as written (graph optimisations off)", flush=True)
    failures = []
    for model in models:
        for case, flags in cases:
            onnx_path, pred_path = out / f"{model}-{case}.onnx", out / f"{model}-{case}.npy"
            cmd = [qplay, "export", "--model", model, *flags, "--out", str(onnx_path), "--predictions", str(pred_path), "--assets", str(ROOT / "www")]
            summary = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            mine = np.load(pred_path).astype(np.int64)
            ort_pred = run_ort(onnx_path, images)
            acc_q = 100.0 * float(np.mean(mine == labels))
            acc_o = 100.0 * float(np.mean(ort_pred == labels))
            agree = 100.0 * float(np.mean(mine == ort_pred))
            ok = abs(acc_q - acc_o) <= MAX_ACCURACY_GAP and agree >= MIN_AGREEMENT
            print(f"{'ok  ' if ok else 'FAIL'} {model:12s} {case:14s} qplay {acc_q:6.2f} %  onnxruntime {acc_o:6.2f} %  "
                  f"gap {abs(acc_q - acc_o):4.2f} pt  agreement {agree:6.2f} %  ({summary['bytes']} bytes)", flush=True)
            if not ok:
                failures.append(f"{model} {case}")
    for model in models:
        run_dir = out / f"{model}-run"
        report = json.loads(subprocess.run([qplay, "run", "--model", model, "--out", str(run_dir), "--assets", str(ROOT / "www")],
                                           check=True, capture_output=True, text=True).stdout)
        mine = np.load(run_dir / "predictions.npy").astype(np.int64)
        ort_pred = run_ort(out / f"{model}-w8a8-channel.onnx", images)
        agree = 100.0 * float(np.mean(mine == ort_pred)) if len(mine) == len(ort_pred) else 0.0
        engine = report.get("report", {}).get("engine")
        ok = engine == "int8" and agree >= MIN_INT8_AGREEMENT
        print(f"{'ok  ' if ok else 'FAIL'} {model:12s} {'int8 engine':14s} qplay {100.0 * float(np.mean(mine == labels)):6.2f} %  "
              f"onnxruntime {100.0 * float(np.mean(ort_pred == labels)):6.2f} %  agreement {agree:6.2f} %  (engine {engine})", flush=True)
        if not ok:
            failures.append(f"{model} int8 engine")
    if failures:
        print(f"{len(failures)} failed: {', '.join(failures)}")
        sys.exit(1)
    print(f"{len(models) * (len(cases) + 1)} passed, 0 failed")


if __name__ == "__main__":
    main()
