"""Gene-incremental learning (`marrow gil plan|run`): the gene model's vocabulary grows stage by
stage; strategies are scored by forgetting, transfer and linear probes (docs/gil.md).

    results = marrow.gil.run([adata], out="gil-out", auto_plan="random", stages=2, epochs=2)
    results["summary"]
"""
import json
import os

from ._command import run as _command
from ._data import registered


def _datasets(data):
    data = data if isinstance(data, (list, tuple)) else [data]
    return {"data_{}".format(i): value for i, value in enumerate(data)}


def _with_data(paths):
    return [paths["data_{}".format(i)] for i in range(len(paths))]


def plan(data, out, *, progress=True, **options):
    """Writes a stage plan (JSON) for one or more datasets (AnnData or paths); returns it as a dict."""
    _run_with_data(["gil", "plan"], data, dict(options, out=os.fspath(out)), progress)
    with open(out) as f:
        return json.load(f)


def run(data, out, *, progress=True, **options):
    """Trains every strategy over the plan's stages (`plan=` a plan file, or `auto_plan=`) on one or
    more datasets; writes OUT/results.json, results.md and the figures; returns results.json as a dict."""
    return _run_with_data(["gil", "run"], data, dict(options, out=os.fspath(out)), progress)


def _run_with_data(path, data, options, progress):
    with registered(_datasets(data)) as paths:
        return _command(path, dict(options, data=_with_data(paths)), progress)
