"""An independent NumPy (float64) reference for qplay's GPTQ (src/ptq/gptq.rs), written from the
paper: Frantar, Ashkboos, Hoefler, Alistarh, "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers" (ICLR 2023), Algorithm 1, with its lazy batches, onto the
grids qplay's round-to-nearest (RTN) uses (src/quant/grouped.rs, src/ptq/lm.rs, src/quant/ggml.rs).
It shares no code with the Rust implementation (which runs the plain column loop row by row).

How to run (numpy 2.4.6, the venv target/ref-venv; any numpy >= 1.25 gives the same file):

    python3 -m venv target/ref-venv && target/ref-venv/bin/pip install numpy==2.4.6
    target/ref-venv/bin/python scripts/gptq_reference.py fixtures --out tests/fixtures/lm/gptq/
    target/ref-venv/bin/python scripts/gptq_reference.py selftest

`fixtures` writes tests/fixtures/lm/gptq/gptq_cases.json (deterministic: default_rng(SEED)), read
by tests/suite/lm/gptq.rs. `selftest` checks the reference against itself in other forms: lazy batches
of 16 against the plain loop (B = K), the Cholesky form against the explicit OBS updates of the
inverse Hessian (the paper's equations 2-3 with H_F^-1 shrunk column by column), GPTQ's output
error against RTN's, and a weight already on its grid coming back unchanged.

The algorithm (W [N, K], y = x W^T, X [M, K]):

    H = 2 X^T X / M (float64)
    dead columns (H_ii = 0): H_ii = 1, W[:, i] = 0
    act_order: columns permuted by decreasing H_ii (stable sort: ties keep the column order)
    H += damp * mean(diag H) * I
    U = cholesky(H^-1)^T            (H^-1 = U^T U; H^-1 via the Cholesky factor L of H: L^-T L^-1)
    for each block of B columns [i1, i2):
        for j in [i1, i2):
            q_j = quant(W[:, j]);  e_j = (W[:, j] - q_j) / U_jj
            W[:, j:i2] -= e_j U[j, j:i2]
        W[:, i2:] -= E U[i1:i2, i2:]

Grids (one per row and group of g consecutive columns in the stored order; every step in float32
exactly as the Rust code does it):

    kernel (8 bits; 4 bits, g a multiple of 32), grouped.rs group_grid:
        symmetric:  M = the first value of largest |x|, d = M / -2^(b-1), levels -2^(b-1) .. 2^(b-1)-1
        narrow:     d = max|x| / (2^(b-1)-1), levels +-(2^(b-1)-1)
        asymmetric: d = f32((f64 max - f64 min) / (2^b - 1)), base = min, levels 0 .. 2^b-1;
                    8 bits: base = f32(f64 min + 128 f64 d), levels -128 .. 127
    simulated (2, 3, 5, 6, 7 bits), lm.rs simulated_grid: as above with d = f32(max - min) / (2^b-1)
        computed in float32 and base = min for every width
    ggml (g = 32): Q8_0 d = f16(max|x| / 127), levels -127..127; Q4_0 d = f16(M / -8), levels -8..7;
        Q4_1 d = f16((max - min) / 15), base = f16(min), levels 0..15
    level i = clip(round_half_even((w - base) / d), lo, hi) in float64 (w the float64 updated
    weight); d = 0: level 0 (symmetric) or lo (asymmetric). q = f32(f32(d) * i) + base in float32.

When a grid is chosen: without act_order, from the group's updated weights (cast to float32) when
the loop reaches its first column (every earlier update applied, including the pending updates of
the current lazy batch to the columns after it); per channel, from the row before any update; act_order with
groups: static groups, every grid from the original row's contiguous groups (dead columns zeroed),
a column using the grid of the group it is stored in.

Fixture (JSON): n, k, m, w [N*K], x [M*K], dead_columns (x_dead = x with those columns zeroed), and
cases: name, rule ("kernel", "simulated", "q8_0", "q4_0", "q4_1"), bits, symmetric, narrow, group
(0 = per channel), damp, act_order, inputs ("x" or "x_dead"), perm, levels [N*K] (stored order),
scale [N*G], base [N*G], err_gptq and err_rtn (||X W^T - X Q^T||^2 of GPTQ and of RTN on the same
grid, float64). Floats are float32 values written with 9 significant digits (exact round trip).
"""

import argparse
import json
from pathlib import Path

import numpy as np

SEED = 20221031
N, K, M = 16, 64, 96
DEAD_COLUMNS = [5, 20, 41]
F32 = np.float32


# ---- grids ----

def first_largest(x):
    """The first value of largest |x| (0.0 when every value is 0)."""
    a = np.abs(x)
    i = int(np.argmax(a))
    return x[i] if a[i] > 0 else F32(0.0)


def grid_kernel(x, bits, symmetric, narrow):
    half = 1 << (bits - 1)
    if symmetric:
        if narrow:
            return F32(np.max(np.abs(x)) / F32(half - 1)), F32(0.0), -(half - 1), half - 1
        return F32(first_largest(x) / F32(-half)), F32(0.0), -half, half - 1
    lo_x, hi_x = np.float64(np.min(x)), np.float64(np.max(x))
    levels = (1 << bits) - 1
    d = F32((hi_x - lo_x) / levels)
    if bits == 8:
        return d, F32(lo_x + 128.0 * np.float64(d)), -128, 127
    return d, F32(lo_x), 0, levels


def grid_simulated(x, bits, symmetric, narrow):
    half = 1 << (bits - 1)
    if symmetric:
        m = first_largest(x)
        if narrow:
            return F32(abs(m) / F32(half - 1)), F32(0.0), -(half - 1), half - 1
        return F32(m / F32(-half)), F32(0.0), -half, half - 1
    lo_x, hi_x = np.min(x), np.max(x)
    levels = (1 << bits) - 1
    return F32(F32(hi_x - lo_x) / F32(levels)), F32(lo_x), 0, levels


def grid_ggml(x, ty):
    assert len(x) == 32
    h = lambda v: F32(np.float16(F32(v)))  # f32 -> f16 (round to nearest even) -> f32
    if ty == "q8_0":
        return h(np.max(np.abs(x)) / F32(127)), F32(0.0), -127, 127
    if ty == "q4_0":
        return h(first_largest(x) / F32(-8)), F32(0.0), -8, 7
    lo_x, hi_x = np.min(x), np.max(x)
    return h(F32(hi_x - lo_x) / F32(15)), h(lo_x), 0, 15


class Rule:
    def __init__(self, kind, bits, symmetric=True, narrow=False):
        self.kind, self.bits, self.symmetric, self.narrow = kind, bits, symmetric, narrow

    @property
    def asymmetric(self):
        return self.kind == "q4_1" or (self.kind in ("kernel", "simulated") and not self.symmetric)

    def grid(self, x):
        x = np.asarray(x, dtype=F32)
        if self.kind == "kernel":
            return grid_kernel(x, self.bits, self.symmetric, self.narrow)
        if self.kind == "simulated":
            return grid_simulated(x, self.bits, self.symmetric, self.narrow)
        return grid_ggml(x, self.kind)

    def level(self, grid, w):
        """Levels of the float64 weights w on one grid."""
        d, base, lo, hi = grid
        if d == 0:
            return np.full(np.shape(w), lo if self.asymmetric else 0, dtype=np.int64)
        return np.clip(np.round((np.float64(w) - np.float64(base)) / np.float64(d)), lo, hi).astype(np.int64)

    def value(self, grid, i):
        d, base, _, _ = grid
        return (F32(d) * np.asarray(i, dtype=F32)).astype(F32) + F32(base)


# ---- GPTQ, Algorithm 1 ----

def hessian(x):
    x = x.astype(np.float64)
    return 2.0 / x.shape[0] * (x.T @ x)


def prepare(w, x, damp, act_order):
    """W (float64, dead columns zeroed), the permutation, U and lambda."""
    w = w.astype(np.float64).copy()
    h = hessian(x)
    k = h.shape[0]
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    perm = np.argsort(-np.diag(h), kind="stable") if act_order else np.arange(k)
    h = h[perm][:, perm]
    lam = damp * np.mean(np.diag(h))
    h = h + lam * np.eye(k)
    l_ = np.linalg.cholesky(h)
    linv = np.linalg.inv(l_)
    hinv = linv.T @ linv
    u = np.linalg.cholesky(hinv).T
    return w, perm, u, lam


def row_grids(rule, w_row, group):
    return [rule.grid(w_row[g:g + group]) for g in range(0, len(w_row), group)]


def gptq(w32, x, rule, group, damp, act_order, block=16):
    n, k = w32.shape
    group = group or k
    w, perm, u, lam = prepare(w32, x, damp, act_order)
    static = act_order or group == k
    grids = [row_grids(rule, w[r], group) if static else [None] * (k // group) for r in range(n)]
    wp = w[:, perm].copy()
    levels = np.zeros((n, k), dtype=np.int64)
    for i1 in range(0, k, block):
        i2 = min(i1 + block, k)
        w1 = wp[:, i1:i2].copy()
        e = np.zeros((n, i2 - i1))
        for jj in range(i2 - i1):
            j = i1 + jj
            c = perm[j]
            g = c // group
            if not static and j % group == 0:
                # The group's weights with every earlier update: this batch's columns from w1, the
                # later ones from wp with this batch's pending updates applied.
                later = wp[:, i2:] - e[:, :jj] @ u[i1:j, i2:]
                cur = np.concatenate([w1[:, jj:], later], axis=1)[:, :group]
                for r in range(n):
                    grids[r][g] = rule.grid(cur[r])
            col = w1[:, jj]
            lv = np.array([rule.level(grids[r][g], col[r]) for r in range(n)])
            q = np.array([rule.value(grids[r][g], lv[r]) for r in range(n)], dtype=np.float64)
            levels[:, c] = lv
            err = (col - q) / u[j, j]
            w1[:, jj:] -= np.outer(err, u[j, j:i2])
            e[:, jj] = err
        wp[:, i1:i2] = w1
        wp[:, i2:] -= e @ u[i1:i2, i2:]
    scale = np.array([[gr[0] for gr in grids[r]] for r in range(n)], dtype=F32)
    base = np.array([[gr[1] for gr in grids[r]] for r in range(n)], dtype=F32)
    return dict(levels=levels, scale=scale, base=base, perm=perm, lam=lam)


def dequant(levels, scale, base, group):
    n, k = levels.shape
    s = np.repeat(scale, group, axis=1)
    b = np.repeat(base, group, axis=1)
    return (s * levels.astype(F32)).astype(F32) + b


def rtn(w32, rule, group):
    n, k = w32.shape
    group = group or k
    grids = [row_grids(rule, w32[r], group) for r in range(n)]
    levels = np.array([[rule.level(grids[r][c // group], np.float64(w32[r, c])) for c in range(k)] for r in range(n)])
    scale = np.array([[gr[0] for gr in grids[r]] for r in range(n)], dtype=F32)
    base = np.array([[gr[1] for gr in grids[r]] for r in range(n)], dtype=F32)
    return dequant(levels, scale, base, group)


def output_error(x, w, q):
    x = x.astype(np.float64)
    return float(np.sum((x @ w.astype(np.float64).T - x @ q.astype(np.float64).T) ** 2))


def obs_reference(w32, x, rule, damp):
    """Per channel, no act_order: the explicit OBS form (paper eq. 2-3). H_F^-1 over the free
    columns; rounding column j moves the free columns by -(w_j - q_j) / [H_F^-1]_jj [H_F^-1]_{j,:},
    then column j leaves F: H^-1 <- H^-1 - H^-1_{:,j} H^-1_{j,:} / [H^-1]_jj."""
    w, perm, _, lam = prepare(w32, x, damp, False)
    h = hessian(x)
    h[np.diag(h) == 0, np.diag(h) == 0] = 1.0
    hinv = np.linalg.inv(h + lam * np.eye(h.shape[0]))
    n, k = w.shape
    grids = [rule.grid(w[r]) for r in range(n)]
    levels = np.zeros((n, k), dtype=np.int64)
    for j in range(k):
        lv = np.array([rule.level(grids[r], w[r, j]) for r in range(n)])
        q = np.array([rule.value(grids[r], lv[r]) for r in range(n)], dtype=np.float64)
        levels[:, j] = lv
        w -= np.outer((w[:, j] - q) / hinv[j, j], hinv[j, :])
        hinv -= np.outer(hinv[:, j], hinv[j, :]) / hinv[j, j]
    return levels


# ---- data and cases ----

def data():
    rng = np.random.default_rng(SEED)
    w = (rng.standard_normal((N, K)) * 0.05).astype(F32)
    w[rng.integers(0, N, 6), rng.integers(0, K, 6)] *= 6.0  # a few outliers
    z = rng.standard_normal((M, K))
    mix = np.eye(K) + 0.6 * rng.standard_normal((K, K)) / np.sqrt(K)
    col_scale = np.exp(rng.normal(0.0, 0.8, K))  # uneven channels: act_order matters
    x = (z @ mix * col_scale).astype(F32)
    x_dead = x.copy()
    x_dead[:, DEAD_COLUMNS] = 0.0
    return w, x, x_dead


CASES = [
    # name, rule kind, bits, symmetric, narrow, group, damp, act_order, inputs
    ("w4_g32_sym", "kernel", 4, True, False, 32, 0.01, False, "x"),
    ("w4_pc_asym", "kernel", 4, False, False, 0, 0.01, False, "x"),
    ("w3_g32_sym", "simulated", 3, True, False, 32, 0.01, False, "x"),
    ("w4_g32_act_order", "kernel", 4, True, False, 32, 0.01, True, "x"),
    ("w8_pc_sym", "kernel", 8, True, False, 0, 0.01, False, "x"),
    ("w4_g32_dead_damp0", "kernel", 4, True, False, 32, 0.0, False, "x_dead"),
    ("w4_g32_dead_act_order_damp0", "kernel", 4, True, False, 32, 0.0, True, "x_dead"),
    ("w8_g32_asym", "kernel", 8, False, False, 32, 0.01, False, "x"),
    ("w4_g32_narrow", "kernel", 4, True, True, 32, 0.01, False, "x"),
    ("w4_pc_act_order", "kernel", 4, True, False, 0, 0.01, True, "x"),
    ("w3_g32_asym_act_order", "simulated", 3, False, False, 32, 0.01, True, "x"),
    ("w2_pc_sym", "simulated", 2, True, False, 0, 0.1, False, "x"),
    ("w6_g64_asym", "simulated", 6, False, False, 64, 0.01, False, "x"),
    ("q8_0", "q8_0", 8, True, False, 32, 0.01, False, "x"),
    ("q4_0", "q4_0", 4, True, False, 32, 0.01, False, "x"),
    ("q4_1", "q4_1", 4, False, False, 32, 0.01, False, "x"),
    ("q4_0_act_order", "q4_0", 4, True, False, 32, 0.01, True, "x"),
]


def g9(a):
    return [float(f"{float(v):.9g}") for v in np.asarray(a, dtype=F32).ravel()]


def fixtures(out):
    w, x, x_dead = data()
    inputs = {"x": x, "x_dead": x_dead}
    cases = []
    for name, kind, bits, sym, narrow, group, damp, act_order, inp in CASES:
        rule = Rule(kind, bits, sym, narrow)
        xi = inputs[inp]
        r = gptq(w, xi, rule, group, damp, act_order)
        g = group or K
        q = dequant(r["levels"], r["scale"], r["base"], g)
        err_g, err_r = output_error(xi, w, q), output_error(xi, w, rtn(w, rule, group))
        print(f"{name:30s} GPTQ {err_g:.6g}  RTN {err_r:.6g}  ratio {err_g / err_r:.3f}")
        cases.append({
            "name": name, "rule": kind, "bits": bits, "symmetric": sym, "narrow": narrow, "group": group,
            "damp": damp, "act_order": act_order, "inputs": inp,
            "perm": [int(p) for p in r["perm"]],
            "levels": [int(v) for v in r["levels"].ravel()],
            "scale": g9(r["scale"]), "base": g9(r["base"]),
            "err_gptq": err_g, "err_rtn": err_r,
        })
    doc = {"n": N, "k": K, "m": M, "dead_columns": DEAD_COLUMNS, "w": g9(w), "x": g9(x), "cases": cases}
    out.mkdir(parents=True, exist_ok=True)
    (out / "gptq_cases.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {out / 'gptq_cases.json'}")


def selftest():
    w, x, x_dead = data()
    for name, kind, bits, sym, narrow, group, damp, act_order, inp in CASES:
        rule = Rule(kind, bits, sym, narrow)
        xi = x if inp == "x" else x_dead
        a = gptq(w, xi, rule, group, damp, act_order, block=16)
        b = gptq(w, xi, rule, group, damp, act_order, block=K)
        assert np.array_equal(a["levels"], b["levels"]), f"{name}: lazy batches differ from the plain loop"
        g = group or K
        q = dequant(a["levels"], a["scale"], a["base"], g)
        assert output_error(xi, w, q) <= output_error(xi, w, rtn(w, rule, group)), f"{name}: GPTQ worse than RTN"
    for kind, bits, sym in [("kernel", 4, True), ("kernel", 8, False), ("simulated", 3, True)]:
        rule = Rule(kind, bits, sym)
        a = gptq(w, x, rule, 0, 0.01, False)
        assert np.array_equal(a["levels"], obs_reference(w, x, rule, 0.01)), f"{kind} {bits}: Cholesky form differs from OBS"
    # A weight already on its per-channel grid (whose extremes stay the grid's) comes back unchanged.
    rule = Rule("kernel", 4, True)
    on_grid = rtn(w, rule, 0)
    r = gptq(on_grid, x, rule, 0, 0.01, False)
    assert np.array_equal(dequant(r["levels"], r["scale"], r["base"], K), on_grid), "a grid weight moved"
    print("selftest ok")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    f = sub.add_parser("fixtures")
    f.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "tests/fixtures/lm/gptq")
    sub.add_parser("selftest")
    a = p.parse_args()
    if a.mode == "fixtures":
        fixtures(a.out)
    else:
        selftest()


if __name__ == "__main__":
    main()
