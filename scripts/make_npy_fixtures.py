"""Writes the small .npy fixtures in tests/fixtures/ with NumPy itself, so the
reader is tested against files made by NumPy's own conventions.

    pip install numpy && python3 scripts/make_npy_fixtures.py
"""
import pathlib

import numpy as np

out = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
out.mkdir(parents=True, exist_ok=True)
base = np.array([[0.6004, -1.0151, 1.1885], [0.9948, -0.3187, -1.1111]], dtype=np.float64)
np.save(out / "f8_2x3.npy", base)
np.save(out / "f4_2x3.npy", base.astype(np.float32))
np.save(out / "f2_2x3.npy", base.astype(np.float16))
np.save(out / "f4_2x3_fortran.npy", np.asfortranarray(base.astype(np.float32)))
np.save(out / "f4_be_2x3.npy", base.astype(">f4"))
np.save(out / "i1_4.npy", np.array([-128, -1, 0, 127], dtype=np.int8))
np.save(out / "u1_4.npy", np.array([0, 1, 128, 255], dtype=np.uint8))
np.save(out / "i8_3.npy", np.array([-(2**40), 0, 7], dtype=np.int64))
np.save(out / "bool_3.npy", np.array([True, False, True]))
np.save(out / "f4_2x3x2_fortran.npy", np.asfortranarray(np.arange(12, dtype=np.float32).reshape(2, 3, 2)))
np.save(out / "str_unsupported.npy", np.array(["ab", "cd"]))
print("wrote", sorted(p.name for p in out.glob("*.npy")))
