#!/usr/bin/python3
"""PyTorch reference of marrow's autoencoder pretraining, for bench/ae_throughput.sh.

The same model (genes -> 1024 -> 512 -> 256 -> 512 -> 1024 -> genes, LayerNorm, ReLU, dropout 0.1),
the same loss (MSE on log-normalised values), optimizer (AdamW, lr 1e-3, weight decay 1e-4) and
batch size, on the same cells and genes, fed as a Python user does: log-normalised scipy CSR rows
made dense per batch. Prints one JSON line: {"cells_per_s", "epochs", "genes", "cells", ...}.
"""
import argparse
import json
import time

import anndata
import numpy as np
import scipy.sparse as sp
import torch

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--cell-types", required=True, help="comma-separated cell_type values")
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--batch-size", type=int, default=256)
p.add_argument("--min-cells", type=int, default=3)
p.add_argument("--threads", type=int, default=0)
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)

ad = anndata.read_h5ad(a.data)
ad = ad[ad.obs["cell_type"].isin(a.cell_types.split(","))].copy()
X = sp.csr_matrix(ad.X, dtype=np.float32)
keep = np.asarray((X > 0).sum(0)).ravel() >= a.min_cells
X = X[:, keep]
totals = np.asarray(X.sum(1)).ravel()
X = sp.diags(1e4 / np.maximum(totals, 1)) @ X
X.data = np.log1p(X.data)
X = X.astype(np.float32).tocsr()
n, g = X.shape


def block(w_in, w_out):
    return [torch.nn.Linear(w_in, w_out), torch.nn.LayerNorm(w_out), torch.nn.ReLU(), torch.nn.Dropout(0.1)]


model = torch.nn.Sequential(*block(g, 1024), *block(1024, 512), torch.nn.Linear(512, 256),
                            *block(256, 512), *block(512, 1024), torch.nn.Linear(1024, g))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
torch.manual_seed(0)
rng = np.random.default_rng(0)
times = []
for epoch in range(a.epochs):
    order = rng.permutation(n)
    start = time.perf_counter()
    for b in range(0, n, a.batch_size):
        x = torch.from_numpy(X[order[b:b + a.batch_size]].toarray())
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), x)
        loss.backward()
        opt.step()
    times.append(time.perf_counter() - start)
best = min(times)
print(json.dumps({"impl": "pytorch", "cells": n, "genes": g, "epochs": a.epochs, "batch_size": a.batch_size,
                  "threads": torch.get_num_threads(), "best_epoch_seconds": best, "cells_per_s": n / best,
                  "torch": torch.__version__}))
