"""Fixtures for llama.cpp's Q8_0 / Q4_0 / Q4_1 blocks, made by the independent reference:
the PyPI `gguf` package (gguf-py, llama.cpp's own numpy implementation of the GGML
block formats), version 0.19.0.

Run it through scripts/make_gguf_fixtures.sh (a venv under target/gguf-venv with
gguf==0.19.0 and numpy). The output is checked in under tests/fixtures/gguf/ and
read by tests/suite/lm_kernels.rs, which asserts that qplay's `quant::ggml` gives the same
block bytes and the same dequantized f32 bit for bit. The inputs come from a fixed
seed, so running the script again leaves the files unchanged.

One file per (case, type): tests/fixtures/gguf/<case>.<type>.bin, little-endian:

    u32   n                  number of values (a multiple of 32)
    f32   x[n]               the input
    u8    blocks[n/32 * S]   gguf.quants.quantize(x, type)   (S = 34 for Q8_0, 18 for Q4_0, 20 for Q4_1)
    f32   y[n]               gguf.quants.dequantize(blocks, type)

Cases: random normal weights; normal weights with outliers; all zeros (+0.0 only:
for a block of −0.0 gguf-py's Q4_0 takes the sign of the first value where ggml's C
keeps its initial +0.0, so the two disagree on the sign of d, and qplay follows
ggml's C); constant blocks; tiny values (1e-30, d underflows to 0 in f16); huge
values (1e20, d overflows to ±Inf in f16, so dequantization has Inf and NaN);
values exactly at rounding ties (x·(1/d) = k + 0.5 with d = 1, and scaled ones);
and blocks whose largest |x| appears with both signs (the first one wins).
"""

import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType
from gguf.quants import dequantize, quantize

TYPES = {
    "q8_0": GGMLQuantizationType.Q8_0,
    "q4_0": GGMLQuantizationType.Q4_0,
    "q4_1": GGMLQuantizationType.Q4_1,
}


def cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240611)
    f = np.float32
    out: dict[str, np.ndarray] = {}
    out["normal"] = (rng.standard_normal(256) * 0.05).astype(f)
    x = (rng.standard_normal(256) * 0.02).astype(f)
    x[rng.choice(256, size=8, replace=False)] *= 40.0
    out["outliers"] = x
    out["zeros"] = np.zeros(64, dtype=f)
    out["constant"] = np.concatenate([np.full(32, 0.75), np.full(32, -3.0), np.full(32, 1e-3)]).astype(f)
    out["tiny"] = (rng.standard_normal(64) * 1e-30).astype(f)
    out["huge"] = (rng.standard_normal(64) * 1e20).astype(f)

    halves = np.arange(-8, 8, dtype=f) + f(0.5)  # −7.5 … 7.5
    ties = []
    # Q8_0 with d = 1: 127 sets the scale; k + 0.5 round away from zero.
    b = np.zeros(32, dtype=f)
    b[0], b[1] = 127, -126.5
    b[2:18] = halves
    b[18:32] = np.array([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 63.5, -63.5, 100.5, -100.5, 126.5, 3.5, -3.5, 0], dtype=f)
    ties.append(b)
    # Q4_0 with d = 1 (largest |x| = −8): x + 8.5 truncates, i.e. ties round up.
    b = np.zeros(32, dtype=f)
    b[0] = -8
    b[1:17] = halves
    b[17:32] = np.arange(-7, 8, dtype=f)
    ties.append(b)
    # Q4_1 with min 0, max 15, d = 1: (x − min) + 0.5 truncates.
    b = np.zeros(32, dtype=f)
    b[0], b[1] = 0, 15
    b[2:17] = np.arange(15, dtype=f) + f(0.5)
    b[17:32] = np.arange(15, dtype=f)
    ties.append(b)
    # Scaled ties: d = 0.1 and 0.37 are not exact, so x·(1/d) lands near, not at, k + 0.5.
    for d in (0.1, 0.37):
        k = rng.integers(-8, 8, size=32).astype(f)
        b = ((k + f(0.5)) * f(d)).astype(f)
        b[0] = f(-8 * d)
        ties.append(b)
    # The largest |x| with both signs: the first one sets d's sign.
    b = (rng.standard_normal(32) * 0.1).astype(f)
    b[3], b[9] = 0.5, -0.5
    ties.append(b)
    b = (rng.standard_normal(32) * 0.1).astype(f)
    b[3], b[9] = -0.5, 0.5
    ties.append(b)
    out["ties"] = np.concatenate(ties).astype(f)
    return out


def main() -> None:
    dest = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/gguf")
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    with np.errstate(over="ignore", invalid="ignore"):
        for name, x in cases().items():
            assert x.dtype == np.float32 and x.size % 32 == 0 and np.all(np.isfinite(x)), name
            for tname, qtype in TYPES.items():
                blocks = quantize(x, qtype)
                y = dequantize(blocks, qtype)
                assert blocks.dtype == np.uint8 and y.dtype == np.float32 and y.shape == x.shape
                data = struct.pack("<I", x.size) + x.astype("<f4").tobytes() + blocks.tobytes() + y.astype("<f4").tobytes()
                (dest / f"{name}.{tname}.bin").write_bytes(data)
                total += len(data)
    print(f"wrote {len(TYPES) * len(cases())} files, {total} bytes, to {dest}")


if __name__ == "__main__":
    main()
