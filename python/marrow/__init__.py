"""marrow from Python: single-cell foundation models on AnnData objects in memory.

Every function runs marrow's own command (the same code, options, defaults and messages as the
``marrow`` program) on the AnnData you pass, with no temporary file for the data::

    import marrow                      # first: it sets up the BLAS the command line uses
    import anndata
    adata = anndata.read_h5ad("vangalen2019.h5ad")
    model = marrow.pretrain("ae", adata, split="group:patient", epochs=20, seed=0)
    marrow.embed(model, adata)         # adata.obsm["X_marrow"]
    clf = marrow.classify.train(adata, label="condition", split="group:patient", seed=0)
    clf.metrics["auroc"]

Options are the CLI's, as keyword arguments: ``--batch-size 64`` is ``batch_size=64``, a flag is
``True``, ``--no-scale`` is ``scale=False``, a repeated option is a list. ``help(marrow.pretrain)``
lists them. Bad input raises ValueError (FileNotFoundError for a missing file) with the CLI's
one-line message; Ctrl-C raises KeyboardInterrupt with the last checkpoint intact. Progress: a tqdm
bar where tqdm is installed, plain lines otherwise, nothing with ``progress=False``; log lines go to
the ``logging`` logger "marrow" (``logging.basicConfig(level=logging.INFO)`` shows them).
See docs/python.md.
"""
from . import _blas

_blas.prepare()

from . import _marrow  # noqa: E402  (after the BLAS set-up)
from ._api import (Model, cv, embed, genes, impute, load, pretrain, run, zeroshot)  # noqa: E402
from . import classify, gil  # noqa: E402

__version__ = _marrow.__version__
blas_note = _blas.blas_note

__all__ = ["Model", "pretrain", "load", "embed", "genes", "impute", "classify", "zeroshot", "run", "cv", "gil",
           "blas_note", "__version__"]
