#!/usr/bin/python3
"""PyTorch reference of marrow's masked-expression gene model, for bench/exceiver_throughput.sh.

The same architecture as src/marrow/models/exceiver.cpp (gene embedding x value tokens, learned mask
embedding, latent array cross-attending to the tokens with a boolean key-padding mask, pre-norm
latent self-attention blocks, decoder queries = gene embeddings, LayerNorm + linear output), the
same masking (15% of a cell's expressed genes, capped at the most expressed max_tokens, plus as many
unexpressed genes queried with target 0), MSE loss, AdamW (lr 1e-3, weight decay 1e-4), same batch
size, on the same cells and genes.

--tokens expressed: a cell's tokens are its expressed genes (marrow's design).
--tokens all:       every cell carries every gene as a token, zeros included (the original dense
                    design); masks and queries are drawn the same way.

Prints one JSON line: {"cells_per_s", "epochs", "genes", "cells", "masked_mse", ...}; masked_mse is
the MSE on the masked expressed values of a fixed set of held-back cells after training.
"""
import argparse
import json
import time

import anndata
import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--cell-types", required=True)
p.add_argument("--tokens", choices=["expressed", "all"], default="expressed")
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--max-cells", type=int, default=0, help="train on at most this many cells (the dense design is slow)")
p.add_argument("--batch-size", type=int, default=64)
p.add_argument("--dim", type=int, default=64)
p.add_argument("--latents", type=int, default=64)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--max-tokens", type=int, default=1024)
p.add_argument("--threads", type=int, default=0)
a = p.parse_args()
if a.threads:
    torch.set_num_threads(a.threads)
torch.manual_seed(0)
rng = np.random.default_rng(0)

ad = anndata.read_h5ad(a.data)
ad = ad[ad.obs["cell_type"].isin(a.cell_types.split(","))].copy()
X = sp.csr_matrix(ad.X, dtype=np.float32)
totals = np.asarray(X.sum(1)).ravel()
X = sp.diags(1e4 / np.maximum(totals, 1)) @ X
X.data = np.log1p(X.data)
X = X.astype(np.float32).tocsr()
X.eliminate_zeros()
n_all, g = X.shape
held_back = rng.choice(n_all, size=min(200, n_all // 10), replace=False)
train = np.setdiff1d(np.arange(n_all), held_back)
if a.max_cells:
    train = train[: a.max_cells]


def example(row, r):
    """Tokens, masked flags, query genes and targets of one cell, as marrow's make_example."""
    lo, hi = X.indptr[row], X.indptr[row + 1]
    genes, values = X.indices[lo:hi].astype(np.int64), X.data[lo:hi]
    if a.max_tokens and len(genes) > a.max_tokens:
        keep = np.sort(np.argsort(-values, kind="stable")[: a.max_tokens])
        genes, values = genes[keep], values[keep]
    n = len(genes)
    k = min(max(int(round(0.15 * n)), 1), n - 1) if n >= 2 else 0
    masked = np.zeros(n, dtype=bool)
    masked[r.choice(n, size=k, replace=False)] = True
    expressed = set(X.indices[lo:hi].tolist())
    zeros = []
    while len(zeros) < k:
        cand = int(r.integers(g))
        if cand not in expressed and cand not in zeros:
            zeros.append(cand)
    q_genes = np.concatenate([genes[masked], np.array(zeros, dtype=np.int64)])
    q_targets = np.concatenate([values[masked], np.zeros(len(zeros), dtype=np.float32)])
    if a.tokens == "all":  # every gene is a token; the masked ones hidden, values 0 where unexpressed
        dense = np.zeros(g, dtype=np.float32)
        dense[genes] = values
        all_masked = np.zeros(g, dtype=bool)
        all_masked[genes[masked]] = True
        genes, values, masked = np.arange(g, dtype=np.int64), dense, all_masked
    return genes, values, masked, q_genes, q_targets, k


def batch(rows, r):
    ex = [example(row, r) for row in rows]
    t = max(len(e[0]) for e in ex)
    q = max(len(e[3]) for e in ex)
    b = len(ex)
    G = torch.zeros(b, t, dtype=torch.long); V = torch.zeros(b, t); M = torch.zeros(b, t, dtype=torch.bool)
    P = torch.ones(b, t, dtype=torch.bool); QG = torch.zeros(b, q, dtype=torch.long); QT = torch.zeros(b, q)
    QP = torch.ones(b, q, dtype=torch.bool); QM = torch.zeros(b, q, dtype=torch.bool)
    for i, (genes, values, masked, q_genes, q_targets, k) in enumerate(ex):
        G[i, : len(genes)] = torch.from_numpy(genes); V[i, : len(genes)] = torch.from_numpy(values)
        M[i, : len(genes)] = torch.from_numpy(masked); P[i, : len(genes)] = False
        QG[i, : len(q_genes)] = torch.from_numpy(q_genes); QT[i, : len(q_genes)] = torch.from_numpy(q_targets)
        QP[i, : len(q_genes)] = False; QM[i, :k] = True
    return G, V, M, P, QG, QT, QP, QM


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.qn, self.kn, self.fn = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.att = nn.MultiheadAttention(d, a.heads, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, q, kv, pad=None):
        k = self.kn(kv)
        x = q + self.att(self.qn(q), k, k, key_padding_mask=pad, need_weights=False)[0]
        return x + self.ff(self.fn(x))


class Exceiver(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.emb = nn.Embedding(g, d)
        self.mask = nn.Parameter(torch.randn(d) / d ** 0.5)
        self.latents = nn.Parameter(torch.randn(a.latents, d) * 0.02)
        self.enc, self.dec = Block(d), Block(d)
        self.proc = nn.ModuleList([Block(d) for _ in range(a.layers)])
        self.norm, self.out = nn.LayerNorm(d), nn.Linear(d, 1)

    def forward(self, G, V, M, P, QG):
        tok = self.emb(G) * V.unsqueeze(-1)
        tok = torch.where(M.unsqueeze(-1), self.mask.expand_as(tok), tok)
        z = self.enc(self.latents.expand(G.shape[0], -1, -1), tok, P)
        for blk in self.proc:
            z = blk(z, z)
        return self.out(self.norm(self.dec(self.emb(QG), z))).squeeze(-1)


model = Exceiver(a.dim)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
times = []
for epoch in range(a.epochs):
    order = rng.permutation(train)
    start = time.perf_counter()
    for s in range(0, len(order), a.batch_size):
        G, V, M, P, QG, QT, QP, _ = batch(order[s : s + a.batch_size], rng)
        pred = model(G, V, M, P, QG)
        real = (~QP).float()
        loss = ((pred - QT) ** 2 * real).sum() / real.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    times.append(time.perf_counter() - start)

model.eval()
r = np.random.default_rng(1)
se, count = 0.0, 0
with torch.no_grad():
    for s in range(0, len(held_back), a.batch_size):
        G, V, M, P, QG, QT, QP, QM = batch(held_back[s : s + a.batch_size], r)
        pred = model(G, V, M, P, QG)
        se += float(((pred - QT) ** 2 * QM.float()).sum())
        count += int(QM.sum())
print(json.dumps({"cells_per_s": len(train) / min(times), "epochs": a.epochs, "cells": int(len(train)), "genes": int(g),
                  "tokens": a.tokens, "batch_size": a.batch_size, "threads": torch.get_num_threads(),
                  "torch": torch.__version__, "masked_mse": se / max(count, 1)}))
