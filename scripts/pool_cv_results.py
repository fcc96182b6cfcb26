#!/usr/bin/python3
"""Pools the folds of several `marrow cv` results.json files of one config run with different seeds
(e.g. seeds 0-1 in one run, seed 2 in another, on the same folds) and prints the fine-tuning table of
docs/results.md: mean ± sd over the pooled folds and paired differences against `pca` with marrow cv's
Nadeau-Bengio 95% interval (test/train = 1/(folds - 1)). On one file it reproduces that file's own
comparison figures exactly.

    scripts/pool_cv_results.py A/results.json B/results.json [--folds 5]
"""
import argparse
import json

import numpy as np
from scipy import stats

COLUMNS = [("malignancy", "auroc"), ("malignancy", "balanced_accuracy"), ("malignancy/monocytic", "auroc"),
           ("malignancy/lymphoid", "balanced_accuracy")]


def per_fold(folds, model, task, metric):
    return {(f["seed"], f["fold"]): f["metrics"][model][task][metric] for f in folds
            if model in f["metrics"] and f["metrics"][model][task].get(metric) is not None}


def paired(a, b, test_over_train):
    keys = sorted(set(a) & set(b))
    d = np.array([a[k] - b[k] for k in keys])
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) * np.sqrt(1 / len(d) + test_over_train)
    return "{:+.3f} [{:+.3f}, {:+.3f}] {}/{}".format(d.mean(), d.mean() - half, d.mean() + half, int((d > 0).sum()), len(d))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", nargs="+")
    p.add_argument("--folds", type=int, default=5)
    a = p.parse_args()
    folds = {}
    for path in a.results:
        for f in json.load(open(path))["folds"]:
            folds[(f["seed"], f["fold"])] = f
    folds = list(folds.values())
    models = sorted({m for f in folds for m in f["metrics"]})
    ratio = 1.0 / (a.folds - 1)
    print("{} folds".format(len(folds)))
    print("| model | " + " | ".join("{} {}".format(t, m) for t, m in COLUMNS) + " |")
    for model in models:
        cells = []
        for task, metric in COLUMNS:
            v = list(per_fold(folds, model, task, metric).values())
            cells.append("{:.3f} ± {:.3f}".format(np.mean(v), np.std(v, ddof=1)) if len(v) > 1 else "-")
        print("| {} | {} |".format(model, " | ".join(cells)))
    for model in models:
        if model == "pca":
            continue
        for task, metric in COLUMNS:
            print("{} - pca, {} {}: {}".format(model, task, metric,
                                               paired(per_fold(folds, model, task, metric), per_fold(folds, "pca", task, metric), ratio)))


if __name__ == "__main__":
    main()
