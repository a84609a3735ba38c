"""Fixtures for the llama.cpp block formats qplay reads but does not write (src/quant/ggml_read.rs):
Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, dequantized by the independent reference, the PyPI `gguf`
package 0.19.0 (`gguf.quants.dequantize`, llama.cpp's own numpy implementation).

Run it through scripts/make_gguf_fixtures.sh (the venv under target/gguf-venv). The blocks are random
bytes from a fixed seed (every bit pattern of the quants, scales and masks), with each f16 field
(d, dmin, m) replaced by a random finite half — normals of both signs, subnormals and zeros — so
that the dequantized values are finite. Running it again leaves the files unchanged.

One file per type: tests/fixtures/gguf/read.<type>.bin, little-endian:

    u32   n_blocks
    u8    blocks[n_blocks * S]      (S = the type's block bytes)
    f32   y[n_blocks * B]           gguf.quants.dequantize(blocks, type)   (B = 32 or 256 values)

tests/suite/ggml_read.rs asserts that qplay's dequantization gives y bit for bit.
"""

import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

# type: (block bytes, values per block, byte offsets of the f16 fields, blocks)
TYPES = {
    "q5_0": (T.Q5_0, 22, 32, [0], 64),
    "q5_1": (T.Q5_1, 24, 32, [0, 2], 64),
    "q2_k": (T.Q2_K, 84, 256, [80, 82], 12),
    "q3_k": (T.Q3_K, 110, 256, [108], 12),
    "q4_k": (T.Q4_K, 144, 256, [0, 2], 12),
    "q5_k": (T.Q5_K, 176, 256, [0, 2], 12),
    "q6_k": (T.Q6_K, 210, 256, [208], 12),
}


def finite_half(rng):
    """A random finite f16 bit pattern: exponent field below 31 (no Inf / NaN)."""
    kind = rng.integers(0, 8)
    if kind == 0:
        return 0x0000 if rng.integers(0, 2) == 0 else 0x8000  # ±0
    if kind == 1:
        return int(rng.integers(1, 0x400)) | (0x8000 if rng.integers(0, 2) else 0)  # subnormal
    # a normal value around the sizes real scales take (2^-14 .. 2^0)
    return int(np.float16(rng.uniform(-1.0, 1.0) * 2.0 ** -rng.integers(0, 14)).view(np.uint16))


def main(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261202)
    for name, (ty, size, values, halves, n) in TYPES.items():
        blocks = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
        for b in range(n):
            for at in halves:
                blocks[b, at:at + 2] = np.frombuffer(struct.pack("<H", finite_half(rng)), dtype=np.uint8)
        y = dequantize(blocks.reshape(-1), ty).astype(np.float32).reshape(-1)
        assert y.size == n * values and np.isfinite(y).all(), name
        path = out / f"read.{name}.bin"
        path.write_bytes(struct.pack("<I", n) + blocks.tobytes() + y.astype("<f4").tobytes())
        print(f"{path}: {n} blocks, {y.size} values")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/gguf")
