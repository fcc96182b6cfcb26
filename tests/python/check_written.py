#!/usr/bin/python3
"""Checks, with Python anndata, a file marrow wrote in h5ad_writer_test (WritesFilesPythonReads).
Exit 0 when every value is what marrow meant to write; 77 when anndata is not installed."""
import sys

try:
    import anndata
    import numpy as np
except ImportError:
    sys.exit(77)

path, mode = sys.argv[1], sys.argv[2]
a = anndata.read_h5ad(path)
expected = np.array([[0, 1, 0, 3, 0], [2, 0, 0, 0, 1], [0, 0, 5, 0, 0],
                     [1, 1, 1, 1, 1], [0, 7, 0, 0, 2], [4, 0, 0, 6, 0]], dtype=np.float32)
X = a.X.toarray() if hasattr(a.X, "toarray") else np.asarray(a.X)
assert a.shape == (6, 5), a.shape
assert np.array_equal(X, expected), X
assert list(a.obs_names) == [f"c{i}" for i in range(6)], list(a.obs_names)
assert list(a.var_names) == ["GeneA", "GeneB", "GeneC", "GeneD", "GeneE"]
assert list(a.obs["cell_type"]) == ["T", "B", "T", "NK", "B", "T"]
assert str(a.obs["cell_type"].dtype) == "category"
emb = a.obsm["X_marrow"]
assert emb.shape == (6, 3) and emb.dtype == np.float32, (emb.shape, emb.dtype)
assert np.allclose(emb, np.arange(18, dtype=np.float32).reshape(6, 3) / 4), emb
assert list(a.obs["predicted"]) == ["B", "B", "T", "T", "NK", "T"], list(a.obs["predicted"])
assert np.allclose(a.obs["p_T"].values, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
genes = a.varm["gene_embedding"]
assert genes.shape == (5, 2) and np.allclose(genes[:, 1], [1, 3, 5, 7, 9]), genes
m = a.uns["marrow"]
assert m["model"] == "test" and m["epochs"] == 3 and abs(m["lr"] - 0.001) < 1e-12, m
assert bool(m["resumed"]) is True
assert list(m["classes"]) == ["B", "NK", "T"] and list(m["sizes"]) == [1024, 512, 256]
assert m["nested"]["seed"] == 7
if mode == "copy":
    # The input's own elements survive: layers, raw, the original obs columns.
    assert "counts" in a.layers and a.raw is not None
    assert list(a.obs["name"]) == list("abcdef")
print("python anndata read marrow's file:", a)
