"""`marrow pretrain vae` against the plain-PyTorch reference of the same model (bench/python/vae_reference.py):
the same loss on the same cells with the same weights, the embedding is the posterior mean, the loss falls."""
import json
import sys

import marrow
import numpy as np
import pytest
import torch
from conftest import SOURCE, cli

sys.path.insert(0, str(SOURCE / "bench" / "python"))
from vae_reference import VAE, inputs  # noqa: E402


@pytest.mark.parametrize("batch_key", [None, "patient"])
def test_vae_loss_matches_the_pytorch_reference(adata, simulated, tmp_path, batch_key):
    metrics = tmp_path / "metrics.jsonl"
    # A saved split with its validation cells named, so that the reference scores the same cells.
    cli("split", "--data", simulated, "--by", "group:patient", "--validation-fraction", 0.2, "--out", tmp_path / "split.json")
    model = marrow.pretrain("vae", adata, split_file=str(tmp_path / "split.json"), epochs=6, seed=0, batch_key=batch_key, patience=0,
                            n_top_genes=200, kl_warmup=2, metrics=str(metrics), progress=False)
    history = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert history[-1]["train_loss"] < history[0]["train_loss"]  # the loss falls
    assert history[-1]["validation_loss"] < history[0]["validation_loss"]

    reference, meta = VAE.from_marrow(model.path)
    assert meta["model"]["variational"] and len(meta["preprocessing"]["output_columns"]) == 200
    names = list(adata.obs_names)
    rows = [names.index(c) for c in meta["run"]["split"]["validation"]]
    assert len(rows) > 50
    x, counts, library = inputs(meta, adata.X, list(adata.var_names), rows)
    codes = None
    if batch_key:
        categories = meta["model"]["batch_categories"]
        codes = torch.tensor([categories.index(v) if v in categories else -1 for v in adata.obs[batch_key].astype(str).iloc[rows]])
    with torch.no_grad():
        expected = reference.loss(x, counts, library, codes).item()
    # marrow's validation loss of the weights it kept (the best epoch's): same model, same cells.
    assert model.summary["best_validation"] == pytest.approx(expected, rel=1e-4)

    # The embedding is the posterior mean.
    embedding = marrow.embed(model, adata, progress=False)
    x_all, _, _ = inputs(meta, adata.X, list(adata.var_names), list(range(adata.n_obs)))
    with torch.no_grad():
        mean = reference.encoder(x_all @ reference.input_weight + reference.input_bias)[:, :reference.latent].numpy()
    assert np.allclose(embedding, mean, atol=1e-4)


def test_vae_embedding_needs_no_batch_column(adata):
    model = marrow.pretrain("vae", adata, split="group:patient", epochs=2, seed=0, batch_key="patient", n_top_genes=100,
                            progress=False)
    other = adata.copy()
    del other.obs["patient"]  # new cells without the batch column (or with categories never seen) embed the same
    assert np.array_equal(marrow.embed(model, other, progress=False), marrow.embed(model, adata.copy(), progress=False))
    with pytest.raises(ValueError, match="no_such_column"):
        marrow.pretrain("vae", adata, batch_key="no_such_column", epochs=1, progress=False)
    with pytest.raises(ValueError, match="stream"):
        marrow.pretrain("vae", str(adata.filename) if adata.isbacked else adata, batch_key="patient", stream=True, progress=False)
