"""The functions of `marrow`: each runs one marrow command (see marrow/__init__.py)."""
import json
import os
import shutil
import tempfile

from . import _marrow
from ._command import options_of, run as _run
from ._data import apply_output

PRETRAIN_KINDS = ("ae", "vae", "exceiver")


class Model:
    """A pretrained model (a .marrow file): what `pretrain` returns and `load` opens.

    `path` is its file (a temporary one until `save`), `summary` what its training reported.
    """

    def __init__(self, path, summary=None, _temporary=None):
        self.path = os.fspath(path)
        self.summary = summary or {}
        self._temporary = _temporary  # keeps a temporary directory alive as long as the model

    def save(self, path):
        """Writes the model file to `path` (the CLI's format; `marrow embed --model PATH` reads it)."""
        path = os.fspath(path)
        partial = path + ".tmp.{}".format(os.getpid())
        shutil.copyfile(self.path, partial)
        os.replace(partial, path)
        if self._temporary is not None:
            self.path, self._temporary = path, None
        return path

    def __repr__(self):
        return "marrow.Model({!r})".format(self.path)

    def __fspath__(self):
        return self.path


def _model_path(model):
    return model.path if isinstance(model, Model) else os.fspath(model)


def _temporary_file(suffix=".marrow"):
    directory = tempfile.TemporaryDirectory(prefix="marrow-")
    return os.path.join(directory.name, "model" + suffix), directory


def load(path):
    """Opens a .marrow model file written by the CLI or by `Model.save`."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError("{}: file not found".format(path))
    return Model(path)


def pretrain(kind, adata, cells=None, *, out=None, layer=None, progress=True, **options):
    """Pretrains a model of `kind` ("ae", "vae", "exceiver") on `adata` (an AnnData or a file path), as
    `marrow pretrain KIND --data ... [--cells CELLS]`; returns a Model. `out`: where to keep the
    model file (default: a temporary file until `Model.save`); `layer`: a layer instead of X."""
    if kind not in PRETRAIN_KINDS:
        raise ValueError("unknown model kind '{}': expected one of {}".format(kind, ", ".join(PRETRAIN_KINDS)))
    temporary = None
    if out is None:
        out, temporary = _temporary_file()
    summary = _run(["pretrain", kind], dict(options, cells=cells, out=os.fspath(out)), progress,
                   {"data": (adata, layer)})
    return Model(out, summary, temporary)


def _output_key(name):
    return "memory:" + name


def embed(model, adata, key="X_marrow", *, layer=None, progress=True, **options):
    """Writes the model's embedding of every cell of `adata` to `adata.obsm[key]` (no file is
    written), as `marrow embed`; returns the embedding."""
    out = _output_key("embedding")
    _run(["embed"], dict(options, model=_model_path(model), key=key, out=out), progress, {"data": (adata, layer)})
    apply_output(adata, _marrow.take_output(out))
    return adata.obsm[key]


def genes(model):
    """The gene model's gene embeddings as a pandas DataFrame (genes x dimensions), as `marrow genes`."""
    import pandas as pd

    out = _output_key("genes.h5ad")
    _run(["genes"], {"model": _model_path(model), "out": out}, False)
    output = _marrow.take_output(out)
    matrix = output["varm"]["X_marrow"]
    return pd.DataFrame(matrix, index=list(output["var_names"]), columns=["dim{}".format(d) for d in range(matrix.shape[1])])


def impute(model, adata, *, layer=None, progress=True, **options):
    """Masks a share of each cell's expressed genes, imputes them with the gene model and with the
    gene-mean and kNN baselines (and `compare=` an autoencoder), as `marrow impute`; returns the
    metrics dict."""
    return _run(["impute"], dict(options, model=_model_path(model)), progress, {"data": (adata, layer)})


def zeroshot(classifier, adata, label, groups, *, layer=None, progress=True, **options):
    """Evaluates one trained classifier, unchanged, on groups of cells ({name: selection}, e.g.
    {"monocytic": "cell_type=ProMono,Mono"}), as `marrow zeroshot`; returns {group: metrics}."""
    if isinstance(groups, dict):
        groups = ["{}:{}".format(name, selection) for name, selection in groups.items()]
    return _run(["zeroshot"], dict(options, model=_model_path(classifier), label=label, group=list(groups)), progress,
                {"data": (adata, layer)})


def _config_file(config, directory):
    if isinstance(config, (str, os.PathLike)):
        return os.fspath(config)
    path = os.path.join(directory, "config.json")
    with open(path, "w") as f:
        json.dump(config, f)
    return path


def run(config, out=None, *, progress=True):
    """The whole pipeline of `marrow run` from a config (a dict, or a JSON file's path); returns
    its results.json as a dict (with "out" and "report" added)."""
    with tempfile.TemporaryDirectory(prefix="marrow-") as directory:
        result = _run(["run"], {"out": out}, progress, positional=[_config_file(config, directory)])
    with open(os.path.join(result["out"], "results.json")) as f:
        results = json.load(f)
    results.update(out=result["out"], report=result["report"])
    return results


def cv(config, out=None, *, progress=True):
    """Cross-validation over patients, as `marrow cv` (a config dict or file); returns results.json
    as a dict."""
    with tempfile.TemporaryDirectory(prefix="marrow-") as directory:
        return _run(["cv"], {"out": out}, progress, positional=[_config_file(config, directory)])


def _options_doc(path):
    lines = ["", "Options (those of `marrow {}`; keyword = option without -- and with _ for -):".format(" ".join(path))]
    for name, (flag, help_text, default, required) in sorted(options_of(path).items()):
        if name in ("help", "data", "out", "model", "json") or name.startswith("no-"):
            continue
        value = " (flag)" if flag else (" [default {}]".format(default) if default else "")
        lines.append("    {}{}: {}".format(name.replace("-", "_"), value, help_text))
    return "\n".join(lines)


def _document():
    for function, path in ((pretrain, ["pretrain", "ae"]), (embed, ["embed"]), (impute, ["impute"]),
                           (zeroshot, ["zeroshot"])):
        function.__doc__ += "\n" + _options_doc(path)
    pretrain.__doc__ += "\n\nkind='vae':" + _options_doc(["pretrain", "vae"])
    pretrain.__doc__ += "\n\nkind='exceiver':" + _options_doc(["pretrain", "exceiver"])


_document()
