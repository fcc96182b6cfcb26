#!/usr/bin/python3
"""Issue 14, item 2: does marrow's autoencoder embed as well as the same recipe in a plain PyTorch script?

    scripts/ae_recipe_compare.py --plan CV_OUT/plan.json --out OUT [--folds seed0_fold0,...] [--steps 500]

For each fold of a `marrow cv` plan (the same patients as that cv run: test patients, validation
patients, training patients), three embeddings of every cell, each fitted on the fold's training
patients only:
  marrow   `marrow pretrain ae` with its defaults (all training cells, 3,000 Seurat v3 HVG scaled,
           1024-512-256, no dropout, AdamW 1e-3 with warm-up and cosine decay, batch 128, early
           stopping on the validation patients)
  pytorch  the issue's plain PyTorch recipe on the same genes and the same scaling (marrow
           preprocess's fitted preprocessor, so only the training loop differs): the same layers
           (Linear, LayerNorm, ReLU), PyTorch's default initialisation, Adam lr 1e-3 constant,
           batch 128, a fixed number of steps (500), no early stopping
  pca      the built-in baseline (3,000 scaled HVG, 256 components)
Each goes through the same head as `marrow cv` (`classify train --head linear`, early stopping and
threshold on the validation patients) on progenitor malignancy and the six progenitor states;
the metrics are those of the fold's test patients. One JSON line per fold x embedding x task on
stdout and in OUT/results.jsonl; a summary with paired differences at the end.

Needs the marrow Python module (build/python on the path) and the marrow binary ($MARROW, default
build/marrow) for `marrow preprocess`.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import anndata
import numpy as np
import scipy.sparse as sp
import torch

import marrow

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pool_cv_results import paired  # noqa: E402  (marrow cv's Nadeau-Bengio interval)

PROGENITORS = "cell_type=HSC,Prog,GMP,HSC-like,Prog-like,GMP-like"
TASKS = {
    "malignancy": dict(label="malignancy", cells=PROGENITORS + ";malignancy=malignant,normal"),
    "progenitor_states": dict(label="cell_type", cells=PROGENITORS),
}


def fold_split(adata, fold, path):
    """Writes the fold's split (cell lists by patient) in `marrow split`'s JSON form."""
    patient = adata.obs["patient"].astype(str).to_numpy()
    names = adata.obs_names.to_numpy()
    test = np.isin(patient, fold["test_groups"])
    validation = np.isin(patient, fold["validation_groups"])
    split = {"column": "patient", "kind": "group", "seed": fold["seed"],
             "test": names[test].tolist(), "validation": names[validation].tolist(),
             "train": names[~test & ~validation].tolist(),
             "test_groups": fold["test_groups"], "validation_groups": fold["validation_groups"]}
    with open(path, "w") as f:
        json.dump(split, f)
    return ~test & ~validation


def scaled_input(data, split_path, work):
    """marrow preprocess with pretrain ae's input defaults; returns (scaled dense matrix of every cell, cell names)."""
    pre, prep = os.path.join(work, "pre.h5ad"), os.path.join(work, "preprocessor.json")
    subprocess.run([os.environ.get("MARROW", "build/marrow"), "-q", "preprocess", "--data", data, "--split-file",
                    split_path, "--min-cells", "3", "--hvg", "seurat_v3", "--n-top-genes", "3000", "--scale",
                    "--save-preprocessor", prep, "--out", pre], check=True)
    scale = json.load(open(prep))["scale"]
    x = anndata.read_h5ad(pre)
    dense = x.X.toarray() if sp.issparse(x.X) else np.asarray(x.X)
    z = (dense - np.asarray(scale["mean"], dtype=np.float32)) / np.asarray(scale["sd"], dtype=np.float32)
    return np.clip(z, -scale["clip"], scale["clip"]).astype(np.float32), x.obs_names


def block(w_in, w_out):
    return [torch.nn.Linear(w_in, w_out), torch.nn.LayerNorm(w_out), torch.nn.ReLU()]


def pytorch_embedding(z, train, steps, seed):
    """The plain recipe: 3,000 -> 1024 -> 512 -> 256 and back, MSE, Adam 1e-3, batch 128, `steps` steps."""
    torch.manual_seed(seed)
    g = z.shape[1]
    encoder = torch.nn.Sequential(*block(g, 1024), *block(1024, 512), torch.nn.Linear(512, 256))
    decoder = torch.nn.Sequential(*block(256, 512), *block(512, 1024), torch.nn.Linear(1024, g))
    opt = torch.optim.Adam(list(encoder.parameters()) + list(decoder.parameters()), lr=1e-3)
    x_train = torch.from_numpy(z[train])
    rng = np.random.default_rng(seed)
    order, at = rng.permutation(len(x_train)), 0
    for _ in range(steps):
        if at + 128 > len(order):
            order, at = rng.permutation(len(x_train)), 0
        x = x_train[order[at:at + 128]]
        at += 128
        opt.zero_grad()
        torch.nn.functional.mse_loss(decoder(encoder(x)), x).backward()
        opt.step()
    encoder.eval()
    with torch.no_grad():
        return encoder(torch.from_numpy(z)).numpy()


def head_metrics(adata, embedding, split_path, seed, task):
    options = dict(TASKS[task])
    clf = marrow.classify.train(adata, options.pop("label"), embedding=embedding, head="linear", split_file=split_path,
                                seed=seed, epochs=100, batch_size=64, patience=10, progress=False, **options)
    m = clf.metrics
    return {k: m.get(k) for k in ("auroc", "balanced_accuracy", "macro_f1")}


def summarise(rows, test_over_train):
    print("\nmean ± sd over folds; paired differences with Nadeau-Bengio 95% intervals, folds won:", file=sys.stderr)
    for task in TASKS:
        for metric in ("auroc", "balanced_accuracy"):
            by = {e: {r["fold"]: r[metric] for r in rows if r["task"] == task and r["embedding"] == e and r[metric] is not None}
                  for e in ("marrow", "pytorch", "pca")}
            line = ", ".join("{} {:.3f} ± {:.3f}".format(e, np.mean(list(v.values())), np.std(list(v.values()), ddof=1))
                             for e, v in by.items() if len(v) > 1)
            for x, y in (("marrow", "pytorch"), ("marrow", "pca"), ("pytorch", "pca")):
                if len(set(by[x]) & set(by[y])) > 1:
                    line += "; {} - {} {}".format(x, y, paired(by[x], by[y], test_over_train))
            print("  {} {}: {}".format(task, metric, line), file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--plan", required=True, help="plan.json of a marrow cv run (its folds)")
    p.add_argument("--data", default=None, help="default: the plan's data")
    p.add_argument("--out", required=True)
    p.add_argument("--folds", default=None, help="comma-separated seedS_foldF (default: every fold of the plan)")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--summarise", action="store_true", help="only print the summary of OUT/results.jsonl")
    p.add_argument("--marrow-options", default="{}",
                   help='JSON object of pretrain ae options for the marrow side, e.g. {"patience": 0, "epochs": 13}')
    p.add_argument("--embeddings", default="marrow,pytorch,pca", help="which of marrow, pytorch, pca to fit")
    a = p.parse_args()
    marrow_options = json.loads(a.marrow_options)
    wanted_embeddings = a.embeddings.split(",")
    plan = json.load(open(a.plan))
    data = a.data or plan["config"]["data"]
    folds = plan["folds"]
    if a.folds:
        wanted = set(a.folds.split(","))
        folds = [f for f in folds if "seed{}_fold{}".format(f["seed"], f["fold"]) in wanted]
    if a.summarise:
        rows = [json.loads(line) for line in open(os.path.join(a.out, "results.jsonl"))]
        summarise(rows, 1.0 / (plan["config"]["cv"]["folds"] - 1))
        return
    os.makedirs(a.out, exist_ok=True)
    adata = anndata.read_h5ad(data)
    rows = []
    for fold in folds:
        name = "seed{}_fold{}".format(fold["seed"], fold["fold"])
        work = os.path.join(a.out, name)
        os.makedirs(work, exist_ok=True)
        split_path = os.path.join(work, "split.json")
        train = fold_split(adata, fold, split_path)
        seconds = {"pca": 0}
        if "marrow" in wanted_embeddings:
            start = time.time()
            model = marrow.pretrain("ae", adata, split_file=split_path, seed=fold["seed"], progress=False, **marrow_options)
            marrow.embed(model, adata, key="X_marrow", progress=False)
            seconds["marrow"] = time.time() - start
        if "pytorch" in wanted_embeddings:
            start = time.time()
            z, names = scaled_input(data, split_path, work)
            if not np.array_equal(np.asarray(names), adata.obs_names.to_numpy()):
                raise SystemExit("preprocessed cells are not the data's cells in order")
            adata.obsm["X_pytorch"] = pytorch_embedding(z, train, a.steps, fold["seed"])
            seconds["pytorch"] = time.time() - start
        for label in wanted_embeddings:
            embedding = {"marrow": "X_marrow", "pytorch": "X_pytorch", "pca": "pca"}[label]
            for task in TASKS:
                row = dict(fold=name, embedding=label, task=task, **head_metrics(adata, embedding, split_path, fold["seed"], task),
                           pretrain_s=round(seconds[label]))
                rows.append(row)
                print(json.dumps(row), flush=True)
        with open(os.path.join(a.out, "results.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    summarise(rows, 1.0 / (plan["config"]["cv"]["folds"] - 1))


if __name__ == "__main__":
    main()
