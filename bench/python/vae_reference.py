#!/usr/bin/python3
"""PyTorch reference of marrow's variational autoencoder (`marrow pretrain vae`), in plain PyTorch.

The same model as models/autoencoder.cpp with `variational`: log-normalised genes -> hidden blocks
(LayerNorm, ReLU, dropout) -> mean and log variance of a Gaussian posterior; the decoder reads a
sample (the mean in eval mode) with the batch covariate one-hot, and gives per-gene logits; the
negative-binomial likelihood of the counts with rate = library x softmax(logits) and a per-gene
inverse dispersion; loss per cell = NLL summed over genes + KL weight x KL(q || N(0, I)).

Used two ways:
- `VAE.from_marrow(path)` builds the module from a .marrow file (weights and preprocessing) and
  `inputs(...)` prepares cells as marrow does: the loss test (tests/pytest/test_vae.py) compares the
  two implementations' losses on the same cells;
- as a program, it trains the same architecture on the van Galen file as a Python user would and
  prints its cells/s (bench/vae_throughput.sh).
"""
import argparse
import json
import time

import numpy as np
import scipy.sparse as sp
import torch


class VAE(torch.nn.Module):
    def __init__(self, n_genes, hidden, latent, n_batches=0, dropout=0.1):
        super().__init__()
        self.latent, self.n_batches = latent, n_batches
        first = hidden[0] if hidden else 2 * latent
        bound = 1.0 / np.sqrt(n_genes)
        self.input_weight = torch.nn.Parameter(torch.empty(n_genes, first).uniform_(-bound, bound))
        self.input_bias = torch.nn.Parameter(torch.empty(first).uniform_(-bound, bound))

        def block(width):
            layers = [torch.nn.LayerNorm(width), torch.nn.ReLU()]
            return layers + ([torch.nn.Dropout(dropout)] if dropout > 0 else [])

        encoder = []
        if hidden:
            encoder += block(hidden[0])
            for a, b in zip(hidden, hidden[1:]):
                encoder += [torch.nn.Linear(a, b)] + block(b)
            encoder.append(torch.nn.Linear(hidden[-1], 2 * latent))
        self.encoder = torch.nn.Sequential(*encoder)
        decoder, previous = [], latent + n_batches
        for width in reversed(hidden):
            decoder += [torch.nn.Linear(previous, width)] + block(width)
            previous = width
        decoder.append(torch.nn.Linear(previous, n_genes))
        self.decoder = torch.nn.Sequential(*decoder)
        self.log_theta = torch.nn.Parameter(torch.zeros(n_genes))

    def loss(self, x, counts, library, batch_codes=None, kl_weight=1.0):
        h = self.encoder(x @ self.input_weight + self.input_bias)
        mean, log_var = h[:, :self.latent], h[:, self.latent:].clamp(-10, 10)
        z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean) if self.training else mean
        if self.n_batches:
            z = torch.cat([z, torch.nn.functional.one_hot(batch_codes + 1, self.n_batches + 1)[:, 1:].to(z.dtype)], 1)
        log_rate = torch.log_softmax(self.decoder(z), 1) + torch.log(library.clamp_min(1.0)).unsqueeze(1)
        log_theta = self.log_theta.unsqueeze(0)
        theta = torch.exp(log_theta)
        log_theta_mu = torch.logaddexp(log_theta, log_rate)
        log_likelihood = (torch.lgamma(counts + theta) - torch.lgamma(theta) - torch.lgamma(counts + 1)
                          + theta * (log_theta - log_theta_mu) + counts * (log_rate - log_theta_mu))
        kl = 0.5 * (torch.exp(log_var) + mean * mean - 1 - log_var).sum(1)
        return (-log_likelihood.sum(1) + kl_weight * kl).mean()

    @staticmethod
    def from_marrow(path):
        """The module with a .marrow VAE's weights, and its metadata (dict)."""
        archive = torch.jit.load(path)
        meta = json.loads(archive.meta)
        m = meta["model"]
        model = VAE(m["n_genes"], m["hidden"], m["latent"], len(m.get("batch_categories", [])), m["dropout"])
        weights = {name[len("weights."):]: value for name, value in archive.named_parameters()}
        model.load_state_dict(weights, strict=True)
        return model.eval(), meta


def inputs(meta, X, var_names, rows):
    """Tensors of these rows as marrow prepares them: library size over the model's QC genes,
    log1p(count / library x target_sum) and counts of its input genes."""
    pre = meta["preprocessing"]
    qc = pre["qc_genes"]
    qc_genes = qc["genes"] if isinstance(qc, dict) else qc
    column = {g: i for i, g in enumerate(var_names)}
    X = sp.csr_matrix(X)
    X = sp.csr_matrix((X.data.astype(np.float64), X.indices.astype(np.int64), X.indptr.astype(np.int64)), shape=X.shape)
    counts = X[np.asarray(rows)][:, [column[g] for g in qc_genes]].tocsr()
    library = np.asarray(counts.sum(1)).ravel()
    out = counts[:, pre["output_columns"]].toarray()
    x = np.log1p(out / np.maximum(library, 1e-12)[:, None] * pre["target_sum"])
    return (torch.tensor(x, dtype=torch.float32), torch.tensor(out, dtype=torch.float32),
            torch.tensor(library, dtype=torch.float32))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--genes", type=int, default=3000)
    p.add_argument("--threads", type=int, default=0)
    a = p.parse_args()
    import anndata

    if a.threads:
        torch.set_num_threads(a.threads)
    ad = anndata.read_h5ad(a.data)
    X = sp.csr_matrix(ad.X, dtype=np.float32)
    library = np.asarray(X.sum(1)).ravel()
    # The most variable genes by the variance of log-normalised values (the gene choice is not timed).
    norm = sp.diags(1e4 / np.maximum(library, 1)) @ X
    norm.data = np.log1p(norm.data)
    mean = np.asarray(norm.mean(0)).ravel()
    var = np.asarray(norm.multiply(norm).mean(0)).ravel() - mean ** 2
    genes = np.argsort(-var)[:a.genes]
    counts, x = X[:, genes].tocsr(), norm[:, genes].tocsr().astype(np.float32)
    n = X.shape[0]
    torch.manual_seed(0)
    model = VAE(len(genes), [128], 32)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    lib = torch.tensor(library, dtype=torch.float32)
    times = []
    for _ in range(a.epochs):
        order = rng.permutation(n)
        start = time.perf_counter()
        for b in range(0, n, a.batch_size):
            rows = order[b:b + a.batch_size]
            opt.zero_grad()
            loss = model.loss(torch.from_numpy(x[rows].toarray()), torch.from_numpy(counts[rows].toarray()), lib[rows])
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - start)
    print(json.dumps({"cells_per_s": n / min(times), "epochs": a.epochs, "cells": n, "genes": len(genes),
                      "batch_size": a.batch_size, "threads": torch.get_num_threads(), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
