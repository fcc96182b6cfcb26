#!/usr/bin/python3
"""Expected numbers for tests/unit/preprocess_test.cpp, computed with numpy straight from scanpy's
definitions (normalize_total, log1p, scale, highly_variable_genes flavours 'seurat' and 'seurat_v3'
with a direct LOESS). Printed as C++ initialisers; rerun after changing the test matrix."""
import numpy as np

N_CELLS, N_GENES = 40, 60
X = np.array([[((i + 1) * (j + 2) * 7 + i * i) % (j + 3) * (1 + (i % 3 == 0) * (j % 5)) for j in range(N_GENES)]
              for i in range(N_CELLS)], dtype=np.float64)


def loess_direct(x, y, span=0.3):
    n = len(x)
    q = max(int(np.floor(span * n)), 3)
    out = np.empty(n)
    for i in range(n):
        d = np.abs(x - x[i])
        h = np.sort(d)[q - 1]
        order = np.argsort(d, kind="stable")[:q]
        u = d[order] / h
        w = np.where(u < 1, (1 - u ** 3) ** 3, 0.0)
        A = np.vstack([np.ones(q), x[order] - x[i], (x[order] - x[i]) ** 2]).T
        W = np.diag(w)
        beta = np.linalg.solve(A.T @ W @ A, A.T @ W @ y[order])
        out[i] = beta[0]
    return out


def fmt(values):
    return "{" + ", ".join(f"{v:.10g}" for v in values) + "}"


# normalize_total(target_sum=1e4) + log1p, first two cells
totals = X.sum(1, keepdims=True)
norm = np.where(totals > 0, X / np.where(totals > 0, totals, 1) * 1e4, 0)
logn = np.log1p(norm)
print("log_normalised row0:", fmt(logn[0]))
print("log_normalised row1:", fmt(logn[1]))

# scale: ddof=1 sd, zero sd -> 1, clip to +-2 (small clip so clipping is exercised)
mean = logn.mean(0)
sd = logn.std(0, ddof=1)
sd[sd == 0] = 1
z = np.clip((logn - mean) / sd, -2, 2)
print("scaled row0:", fmt(z[0]))

# seurat flavour on log data
e = np.expm1(logn)
m = e.mean(0)
v = e.var(0, ddof=1)
m[m == 0] = 1e-12
disp = v / m
disp[disp == 0] = np.nan
disp = np.log(disp)
lm = np.log1p(m)
import pandas as pd
bins = pd.cut(lm, bins=20)
df = pd.DataFrame({"d": disp, "b": bins})
g = df.groupby("b")["d"]
bm, bs = g.mean(), g.std(ddof=1)
one = bs.isnull()
bs[one] = bm[one]
bm[one] = 0
nd = (df["d"].values - bm[df["b"]].values) / bs[df["b"]].values
print("seurat dispersion_norm:", fmt(nd))

# seurat_v3 on counts
mean = X.mean(0)
var = X.var(0, ddof=1)
nc = var > 0
fitted = loess_direct(np.log10(mean[nc]), np.log10(var[nc]))
reg_std = np.zeros(N_GENES)
reg_std[nc] = np.sqrt(10 ** fitted)
clip = reg_std * np.sqrt(N_CELLS) + mean
c = np.minimum(X, clip[None, :])
with np.errstate(divide="ignore", invalid="ignore"):
    score = 1 / ((N_CELLS - 1) * reg_std ** 2) * (N_CELLS * mean ** 2 + (c ** 2).sum(0) - 2 * c.sum(0) * mean)
print("seurat_v3 variances_norm:", fmt(score))
