"""An independent NumPy (float64) reference for qplay's SmoothQuant and AWQ (src/ptq/smoothquant.rs,
src/ptq/awq.rs), written from the papers and the published reference code's constants, not from
the Rust: one RMSNorm -> two Linears group with a couple of outlier input channels.

SmoothQuant (Xiao et al., 2022, eq. 4; clamps as mit-han-lab/smoothquant `smooth_ln_fcs`):
    a_j = max_m |X[m, j]|,  w_j = max(max over both Linears' rows |W[n, j]|, 1e-5)
    s_j = max(a_j^alpha / w_j^(1 - alpha), 1e-5);  RMSNorm weight g_j / s_j,  W[:, j] * s_j

AWQ (Lin et al., 2023, section 3.2; grid, clamp and normalisation as mit-han-lab/llm-awq
`auto_scale` / `auto_clip`):
    xbar_j = mean_m |X[m, j]|
    for alpha = i / 20, i < 20: s = max(xbar^alpha, 1e-4); s = s / sqrt(max(s) * min(s))
        What = Q(W diag(s)) diag(s)^-1 for both Linears; loss = mean over tokens and the 80
        concatenated outputs of (X What^T - X W^T)^2, computed directly as X (What - W)^T
    alpha* = the first alpha of least loss
    clipping (first Linear, scaled weights W diag(s*), scaled inputs X diag(s*)^-1):
        per row n and group G of 32: for r = 1 - i/20, i < 10: Wr = clip(W, -r m, r m), m = max_G |W[n]|
        err = mean_m (sum_{j in G} x[m, j] (Q(Wr)[n, j] - W[n, j]))^2; keep the first r of least err
AWQ on a module's output (llm-awq `auto_scale_block`'s `module2inspect = mlp` for the
post-attention RMSNorm -> gate, up group): a SwiGLU MLP w2 (silu(x w1^T) * x w3^T) on the same X,
w1, w3 [48, 64], w2 [64, 48]; for each alpha only w1 and w3 are quantized (w2 stays FP) and
    loss = mean over tokens and the 64 outputs of (MLP_What(X) - MLP(X))^2
Q: 4-bit, groups of 32 along the input, symmetric full range (src/quant/grouped.rs's header):
    M = the value of largest |x| in the group (the first one), d = M / -8,
    i = clip(round_half_even(x / d), -8, 7), Q(x) = d * i   (d = 0: i = 0)

The search runs in float64. The final integers and scales are those of the model as stored, in
float32: s rounded to float32, W32 * s32 rounded to float32, d = M / -8 in float32, the quotient
x / d in float64 (as the Rust does). SEED is the first seed from 1 up for which no quotient lies
within 1e-4 of a rounding boundary (k + 1/2) and the best alpha beats the runner-up by more than
1e-3 (relative), so that the last-bit differences between NumPy's pow and Rust's cannot flip an
integer or the choice.

Output: tests/fixtures/lm/smoothing/group.json (float32 inputs written as the shortest decimal of
their exact value; float64 results with repr), and two text slices for the tests on the built-in
model: train_slice.txt (characters 200,000-200,255 of www/data/shakespeare.train.txt.gz, the
calibration text) and val_slice.txt (characters 30,000-30,256 of the validation split: one window).

Run (written with numpy 2.4.6 from PyPI; running it again gives the same bytes):
    python3 -m venv target/ref-venv && target/ref-venv/bin/pip install numpy==2.4.6
    target/ref-venv/bin/python scripts/lm_smoothing_reference.py [--out tests/fixtures/lm/smoothing/]
"""
import argparse
import gzip
import json
import pathlib

import numpy as np

M, D, N1, N2 = 96, 64, 32, 48
OUTLIER_CHANNELS = (7, 45)  # x 25
DEAD_CHANNEL = 17  # X[:, 17] = 0: exercises the clamps on s
ZERO_WEIGHT_COLUMN = 30  # W[:, 30] = 0 in both Linears: exercises the clamp on w_j
SQ_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
BITS, GROUP = 4, 32
N_GRID, CLIP_STEPS = 20, 10


def make_inputs(seed):
    rng = np.random.default_rng(seed)
    channel = np.exp(0.5 * rng.standard_normal(D))
    x = rng.standard_normal((M, D)) * channel
    x[:, list(OUTLIER_CHANNELS)] *= 25.0
    x[:, DEAD_CHANNEL] = 0.0
    g = rng.uniform(0.8, 1.2, D)
    w1 = rng.standard_normal((N1, D)) / 8.0
    w2 = rng.standard_normal((N2, D)) / 8.0
    w1[:, ZERO_WEIGHT_COLUMN] = 0.0
    w2[:, ZERO_WEIGHT_COLUMN] = 0.0
    f32 = lambda a: a.astype(np.float32)
    return f32(x), f32(g), [f32(w1), f32(w2)]


# ---- SmoothQuant ----

def smooth_scales(x, ws, alpha):
    a = np.abs(x.astype(np.float64)).max(axis=0)
    w = np.max([np.abs(m.astype(np.float64)).max(axis=0) for m in ws], axis=0)
    w = np.maximum(w, 1e-5)
    with np.errstate(divide="ignore"):
        s = np.power(a, alpha) / np.power(w, 1.0 - alpha)  # 0^0 = 1
    return a, w, np.maximum(s, 1e-5)


# ---- the 4-bit group grid ----

def quantize_groups(w, bits=BITS, group=GROUP, dtype=np.float64):
    """Symmetric full-range RTN per group: returns (integers, scales d, dequantized, quotients)."""
    n, k = w.shape
    wg = w.reshape(n, k // group, group)
    first_max = np.abs(wg).argmax(axis=2)  # argmax returns the first maximum
    mx = np.take_along_axis(wg, first_max[..., None], axis=2)[..., 0]
    d = (mx / dtype(-(2 ** (bits - 1)))).astype(dtype)
    safe = np.where(d == 0, 1.0, d.astype(np.float64))
    quot = wg.astype(np.float64) / safe[..., None]
    q = np.clip(np.rint(quot), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    q = np.where(d[..., None] == 0, 0.0, q)
    deq = q * d.astype(np.float64)[..., None]
    return q.reshape(n, k).astype(np.int64), d, deq.reshape(n, k), np.where(d[..., None] == 0, 0.0, quot).reshape(n, k)


# ---- AWQ ----

def awq_scales(xbar, alpha):
    with np.errstate(divide="ignore"):
        s = np.maximum(np.power(xbar, alpha), 1e-4)
    return s / np.sqrt(s.max() * s.min())


def awq_search(x, ws):
    x64 = x.astype(np.float64)
    xbar = np.abs(x64).mean(axis=0)
    losses = []
    for i in range(N_GRID):
        s = awq_scales(xbar, i / N_GRID)
        errs = []
        for w in ws:
            w64 = w.astype(np.float64)
            _, _, deq, _ = quantize_groups(w64 * s)
            errs.append(x64 @ (deq / s - w64).T)  # [M, N]
        losses.append(float(np.mean(np.concatenate(errs, axis=1) ** 2)))
    best = int(np.argmin(losses))  # the first minimum
    return xbar, losses, best


MLP_F = 48


def make_mlp(seed):
    """w1, w3 [F, D] and w2 [D, F] from their own stream (the Linear fixture's draws are unchanged)."""
    rng = np.random.default_rng(10_000 + seed)
    w1 = rng.standard_normal((MLP_F, D)) / 8.0
    w3 = rng.standard_normal((MLP_F, D)) / 8.0
    w2 = rng.standard_normal((D, MLP_F)) / 8.0
    return [w.astype(np.float32) for w in (w1, w3, w2)]


def mlp(x64, w1, w3, w2):
    h1, h3 = x64 @ w1.T, x64 @ w3.T
    return (h1 / (1.0 + np.exp(-h1)) * h3) @ w2.T


def awq_search_mlp(x, w1, w3, w2):
    x64 = x.astype(np.float64)
    xbar = np.abs(x64).mean(axis=0)
    w1, w3, w2 = (w.astype(np.float64) for w in (w1, w3, w2))
    ref = mlp(x64, w1, w3, w2)
    losses = []
    for i in range(N_GRID):
        s = awq_scales(xbar, i / N_GRID)
        q1, q3 = (quantize_groups(w * s)[2] / s for w in (w1, w3))
        losses.append(float(np.mean((mlp(x64, q1, q3, w2) - ref) ** 2)))
    best = int(np.argmin(losses))
    return losses, best


def clip_search(x_scaled, w_scaled):
    """Per (row, group): error of each shrink ratio over every token; returns errors [N, G, 10]."""
    n, k = w_scaled.shape
    x64, w64 = x_scaled.astype(np.float64), w_scaled.astype(np.float64)
    org_max = np.abs(w64.reshape(n, k // GROUP, GROUP)).max(axis=2)
    errors = np.zeros((n, k // GROUP, CLIP_STEPS))
    for i in range(CLIP_STEPS):
        mv = org_max * (1.0 - i / 20.0)
        cw = np.clip(w64.reshape(n, k // GROUP, GROUP), -mv[..., None], mv[..., None]).reshape(n, k)
        _, _, deq, _ = quantize_groups(cw)
        delta = (deq - w64).reshape(n, k // GROUP, GROUP)
        xg = x64.reshape(M, k // GROUP, GROUP)
        out = np.einsum("mgj,ngj->mng", xg, delta)  # per token, row, group: the group's partial sum
        errors[:, :, i] = np.mean(out ** 2, axis=0)
    return errors


def rel_margin(values, best):
    others = [v for j, v in enumerate(values) if j != best]
    return (min(others) - values[best]) / max(values[best], 1e-300)


def build(seed):
    x, g, ws = make_inputs(seed)
    xbar, losses, best = awq_search(x, ws)
    s64 = awq_scales(xbar, best / N_GRID)
    s32 = s64.astype(np.float32)
    scaled = [(w * s32).astype(np.float32) for w in ws]  # float32 product, as stored
    quant = [quantize_groups(w, dtype=np.float32) for w in scaled]
    # Robustness: every quotient at least 1e-4 from k + 1/2, and a clear best alpha.
    frac = np.concatenate([np.abs(np.abs(q[3]).ravel() % 1.0 - 0.5) for q in quant])
    ok = frac.min() > 1e-4 and rel_margin(losses, best) > 1e-3
    return ok, x, g, ws, xbar, losses, best, s64, s32, scaled, quant


def f32_list(a):
    return [float(v) for v in np.asarray(a, dtype=np.float32).ravel()]


def f64_list(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def selftest(x, ws, alpha_sq=0.5):
    # SmoothQuant keeps X W^T and at alpha = 1/2 equalises max|X_j / s_j| and max|W_j s_j|.
    a, w, s = smooth_scales(x, ws, alpha_sq)
    x64 = x.astype(np.float64)
    for m in ws:
        assert np.allclose((x64 / s) @ (m * s).T, x64 @ m.T.astype(np.float64))
    live = (a > 0) & (w > 1e-5)
    assert np.allclose((a / s)[live], (w * s)[live])
    # The grid: the largest magnitude maps to -8 exactly.
    q, d, _, _ = quantize_groups(np.array([[0.5, -2.0] + [0.0] * 30]))
    assert q[0, 1] == -8 and d[0, 0] == 0.25 and q[0, 0] == 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/fixtures/lm/smoothing/")
    args = ap.parse_args()
    seed = 1
    while True:
        ok, x, g, ws, xbar, losses, best, s64, s32, scaled, quant = build(seed)
        if ok:
            break
        seed += 1
    selftest(x, ws)
    mlp_ws = make_mlp(seed)
    mlp_losses, mlp_best = awq_search_mlp(x, *mlp_ws)
    assert rel_margin(mlp_losses, mlp_best) > 1e-3, "the MLP fixture's best alpha is not clear"
    smooth = []
    for alpha in SQ_ALPHAS:
        a, w, s = smooth_scales(x, ws, alpha)
        smooth.append({"alpha": alpha, "x_absmax": f64_list(a), "w_absmax": f64_list(w), "s": f64_list(s),
                       "g_smoothed": f64_list(g.astype(np.float64) / s)})
    # Clipping of the first Linear after scaling, on the scaled inputs.
    errors = clip_search((x.astype(np.float64) / s32.astype(np.float64)), scaled[0])
    best_clip = errors.argmin(axis=2)
    clear = [bool(rel_margin(list(e), int(b)) > 1e-3) for e, b in zip(errors.reshape(-1, CLIP_STEPS), best_clip.ravel())]
    out = {
        "seed": seed, "m": M, "d": D, "n": [N1, N2],
        "outlier_channels": list(OUTLIER_CHANNELS), "dead_channel": DEAD_CHANNEL, "zero_weight_column": ZERO_WEIGHT_COLUMN,
        "x": f32_list(x), "g": f32_list(g), "w": [f32_list(w) for w in ws],
        "smoothquant": smooth,
        "awq": {
            "bits": BITS, "group": GROUP, "symmetric": True,
            "x_mean": f64_list(xbar), "losses": losses, "alpha_index": best, "alpha": best / N_GRID,
            "s": f64_list(s64),
            "q": [[int(v) for v in q[0].ravel()] for q in quant],
            "scales": [f32_list(q[1]) for q in quant],
            "clip": {"linear": 0, "steps": CLIP_STEPS, "index": [int(v) for v in best_clip.ravel()],
                     "errors": [f64_list(e) for e in errors.reshape(-1, CLIP_STEPS)], "clear": clear},
            "mlp": {"f": MLP_F, "w1": f32_list(mlp_ws[0]), "w3": f32_list(mlp_ws[1]), "w2": f32_list(mlp_ws[2]),
                    "losses": mlp_losses, "alpha_index": mlp_best},
        },
    }
    path = pathlib.Path(args.out)
    path.mkdir(parents=True, exist_ok=True)
    (path / "group.json").write_text(json.dumps(out, separators=(",", ":")) + "\n")
    data = pathlib.Path(__file__).resolve().parent.parent / "www" / "data"
    for name, split, start, length in (("train_slice.txt", "train", 200_000, 256), ("val_slice.txt", "val", 30_000, 257)):
        with gzip.open(data / f"shakespeare.{split}.txt.gz", "rt", encoding="utf-8") as f:
            text = f.read()
        (path / name).write_text(text[start:start + length], encoding="utf-8")
    print(f"seed {seed}: AWQ alpha {best / N_GRID} (loss {losses[best]:.6g}, RTN {losses[0]:.6g}), "
          f"MLP-output AWQ alpha {mlp_best / N_GRID} (loss {mlp_losses[mlp_best]:.6g}, RTN {mlp_losses[0]:.6g}), "
          f"clip: {int(sum(clear))}/{len(clear)} clear choices, {int((best_clip > 0).sum())} clipped -> {path / 'group.json'}")


if __name__ == "__main__":
    main()
