"""AnnData objects in memory as marrow datasets ("memory:NAME", io/memory.hpp).

What is copied: X goes into marrow's CSR (float32 values, int32 column indices, int64 row offsets)
in one copy, converting dtypes on the way; a CSC matrix is converted to CSR by scipy first (one
more copy), a dense array is compressed in the copy. Like a file it reads, a command then takes its
own copy of the cells it selects. obs columns: categoricals pass their codes and categories, numbers
and booleans their values, anything else its text. Numeric 2-d obsm entries are passed as float32
(an embedding a classifier reads). A backed AnnData (read with backed="r") is read from its file.
"""
import contextlib
import os

from . import _marrow


def _is_anndata(value):
    return hasattr(value, "obs") and hasattr(value, "var") and hasattr(value, "X") and hasattr(value, "obs_names")


def _x_parts(matrix):
    import numpy as np
    import scipy.sparse as sp

    if sp.issparse(matrix):
        csr = matrix.tocsr() if matrix.format != "csr" else matrix
        return (np.asarray(csr.indptr, dtype=np.int64), np.asarray(csr.indices, dtype=np.int32),
                np.asarray(csr.data, dtype=np.float32))
    return np.asarray(matrix, dtype=np.float32)


def _obs_column(name, series):
    import numpy as np
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return (str(name), "categorical", np.asarray(series.cat.codes, dtype=np.int32),
                [str(c) for c in series.cat.categories], bool(series.cat.ordered))
    if pd.api.types.is_bool_dtype(dtype) and not series.isna().any():
        return (str(name), "bool", np.asarray(series, dtype=np.uint8), None, False)
    if pd.api.types.is_integer_dtype(dtype) and not series.isna().any():
        return (str(name), "int", np.asarray(series, dtype=np.int64), None, False)
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return (str(name), "float", np.asarray(series, dtype=np.float64), None, False)
    text = ["" if pd.isna(v) else str(v) for v in series]
    return (str(name), "string", text, None, False)


def _obsm(adata):
    import numpy as np

    out = {}
    for key, value in adata.obsm.items():
        if isinstance(value, np.ndarray) and value.ndim == 2 and np.issubdtype(value.dtype, np.number):
            out[str(key)] = np.asarray(value, dtype=np.float32)
    return out


def register(name, adata, layer=None):
    """Registers `adata` (or its layer) as memory:NAME; returns that path."""
    if layer is not None and layer not in adata.layers:
        raise ValueError("layer '{}' is not in adata.layers ({})".format(layer, ", ".join(adata.layers.keys()) or "none"))
    matrix = adata.layers[layer] if layer is not None else adata.X
    if matrix is None:
        raise ValueError("adata.X is empty; pass layer= to use one of adata.layers")
    columns = [_obs_column(c, adata.obs[c]) for c in adata.obs.columns]
    return _marrow.register_dataset(name, _x_parts(matrix), adata.n_obs, adata.n_vars, [str(n) for n in adata.obs_names],
                                    columns, [str(n) for n in adata.var_names], _obsm(adata))


def data_path(value, name, layer=None):
    """The --data value for an AnnData (registered as memory:NAME; backed: its file) or a path."""
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value), False
    if not _is_anndata(value):
        raise TypeError("expected an AnnData or a path, not {}".format(type(value).__name__))
    if getattr(value, "isbacked", False) and layer is None:
        return os.fspath(value.filename), False
    return register(name, value, layer), True


@contextlib.contextmanager
def registered(datasets):
    """{option: AnnData, path, or (AnnData, layer)} as {option: path} for the time of a command."""
    paths, owned = {}, []
    try:
        for option, value in datasets.items():
            layer = None
            if isinstance(value, tuple):
                value, layer = value
            if value is None:
                continue
            path, mine = data_path(value, option.replace("_", "-") if option != "data" else "adata", layer)
            paths[option] = path
            if mine:
                owned.append(path)
        yield paths
    finally:
        for path in owned:
            _marrow.release(path)


def apply_output(adata, output):
    """Adds what a command wrote to memory:... (obsm, obs columns, uns) to `adata`, row for row."""
    import json

    import numpy as np
    import pandas as pd

    if list(output["obs_names"]) != [str(n) for n in adata.obs_names]:
        raise RuntimeError("internal: the output's cells are not the AnnData's cells")
    for key, matrix in output["obsm"].items():
        adata.obsm[key] = matrix
    for name, kind, values, categories, ordered in output["obs"]:
        if kind == "categorical":
            codes = np.asarray(values)
            adata.obs[name] = pd.Categorical.from_codes(codes, categories=categories, ordered=ordered)
        else:
            adata.obs[name] = np.asarray(values) if kind != "string" else list(values)
    for key, value in json.loads(output["uns"]).items():
        adata.uns[key] = value
