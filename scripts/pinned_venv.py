"""The one way the check scripts get their PyPI packages: a venv of their own under target/,
with pinned versions, created and filled on first use; the calling script then runs again
inside it (so `python3 scripts/check_….py` works on a machine with only a system Python)."""

import os
import pathlib
import subprocess
import sys
import venv


def reexec_in_venv(venv_dir: pathlib.Path, packages: list, script: str) -> None:
    """Returns at once inside `venv_dir`; otherwise makes sure it holds exactly `packages`
    ("name==version", the name also the module's) and replaces this process with `script` run
    there, with the same arguments."""
    py = venv_dir / "bin" / "python"
    if pathlib.Path(sys.prefix).resolve() == venv_dir.resolve():
        return
    if not py.exists():
        print(f"[check] creating {venv_dir}", flush=True)
        venv.create(venv_dir, with_pip=True)
    pins = [p.split("==") for p in packages]
    names = ", ".join(name for name, _ in pins)
    have = "(" + ", ".join(f"{name}.__version__" for name, _ in pins) + ",)"
    want = tuple(version for _, version in pins)
    probe = subprocess.run([str(py), "-c", f"import sys, {names}; sys.exit(0 if {have} == {want!r} else 1)"], capture_output=True)
    if probe.returncode != 0:
        print(f"[check] pip install {' '.join(packages)}", flush=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *packages], check=True)
    os.execv(str(py), [str(py), script, *sys.argv[1:]])


def cpu_has_int8_dot() -> bool:
    """True unless this is an x86-64 CPU without VNNI (AVX512-VNNI / AVX-VNNI / AMX). Without
    it ONNX Runtime's fused U8S8 int8 kernels multiply with VPMADDUBSW, whose 16-bit pair sums
    saturate, so their results are not the exact integer products (the known saturation issue of
    AVX2 / AVX-512 CPUs before VNNI). The checks then let ONNX Runtime run the QDQ graph as
    written (graph optimisations off: DequantizeLinear, then the float operator), which is exact."""
    try:
        flags = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return True
    if "avx2" not in flags:
        return True  # not an x86-64 CPU that takes the VPMADDUBSW path
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


def ort_session_options(ort):
    """ONNX Runtime session options for the checks: the default (fused integer kernels) where
    they are exact, the QDQ graph as written where they are not (see `cpu_has_int8_dot`)."""
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if not cpu_has_int8_dot():
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return so
