"""marrow from Python on AnnData objects in memory: the same results as the CLI, bitwise."""
import json

import marrow
import numpy as np
import pytest
import scipy.sparse as sp
from conftest import cli

AE = dict(split="group:patient", epochs=2, seed=0, hidden=[64, 32], latent=16)


def ae_flags():
    return ["--split", "group:patient", "--epochs", 2, "--seed", 0, "--hidden", "64,32", "--latent", 16]


def test_pretrain_and_embed_match_the_cli_bitwise(adata, simulated, tmp_path):
    import anndata

    cli("pretrain", "ae", "--data", simulated, *ae_flags(), "--out", tmp_path / "cli.marrow")
    cli("embed", "--model", tmp_path / "cli.marrow", "--data", simulated, "--out", tmp_path / "cli.h5ad")
    expected = anndata.read_h5ad(tmp_path / "cli.h5ad").obsm["X_marrow"]

    model = marrow.pretrain("ae", adata, progress=False, **AE)
    assert model.summary["train_cells"] > 0 and model.summary["epochs_run"] == 2
    marrow.embed(model, adata, progress=False)
    assert adata.obsm["X_marrow"].shape == expected.shape
    assert np.array_equal(adata.obsm["X_marrow"], expected)

    # The Python model is the same file format: the CLI embeds with it to the same numbers.
    model.save(tmp_path / "py.marrow")
    cli("embed", "--model", tmp_path / "py.marrow", "--data", simulated, "--out", tmp_path / "py.h5ad")
    assert np.array_equal(anndata.read_h5ad(tmp_path / "py.h5ad").obsm["X_marrow"], expected)
    assert np.array_equal(marrow.embed(marrow.load(tmp_path / "cli.marrow"), adata.copy(), progress=False), expected)


def test_classify_metrics_match_the_cli(adata, simulated, tmp_path):
    args = ["--label", "malignancy", "--embedding", "pca", "--pca-components", 20, "--split", "group:patient",
            "--seed", 1, "--epochs", 5, "--cells", "lineage=progenitor"]
    expected = json.loads(cli("classify", "train", "--data", simulated, *args, "--out", tmp_path / "c.marrow", "--json"))
    clf = marrow.classify.train(adata, "malignancy", embedding="pca", pca_components=20, split="group:patient", seed=1,
                                epochs=5, cells="lineage=progenitor", progress=False)
    for key in ("auroc", "balanced_accuracy", "threshold", "macro_f1", "n"):
        assert clf.metrics[key] == expected[key], key

    evaluated = clf.evaluate(adata, "malignancy", cells="lineage=progenitor", split="group:patient", seed=1, progress=False)
    assert evaluated["auroc"] == expected["auroc"]
    cli_eval = json.loads(cli("classify", "evaluate", "--model", tmp_path / "c.marrow", "--data", simulated, "--label",
                              "malignancy", "--cells", "lineage=monocytic", "--json"))
    assert clf.evaluate(adata, "malignancy", cells="lineage=monocytic", progress=False)["auroc"] == cli_eval["auroc"]

    predicted = clf.predict(adata, progress=False)
    assert len(predicted) == adata.n_obs
    assert set(predicted.cat.categories) == {"malignant", "normal"}
    p = adata.obs["marrow_p_malignant"].to_numpy() + adata.obs["marrow_p_normal"].to_numpy()
    assert np.allclose(p, 1, atol=1e-5)

    shot = marrow.zeroshot(clf, adata, "malignancy", {"monocytic": "lineage=monocytic", "lymphoid": "lineage=lymphoid"},
                           progress=False)
    assert set(shot) == {"monocytic", "lymphoid"}
    assert shot["monocytic"]["auroc"] == cli_eval["auroc"]


def test_sparse_dense_and_csc_give_the_same_embedding(adata, tmp_path):
    model = marrow.pretrain("ae", adata, progress=False, **AE)
    reference = marrow.embed(model, adata, progress=False).copy()
    for convert in (lambda x: x.toarray(), lambda x: sp.csc_matrix(x), lambda x: x.astype(np.float64),
                    lambda x: sp.csr_matrix(x.toarray().astype(np.int64))):
        other = adata.copy()
        other.X = convert(adata.X)
        assert np.array_equal(marrow.embed(model, other, progress=False), reference)
    layered = adata.copy()
    layered.layers["counts"] = layered.X.copy()
    layered.X = None
    assert np.array_equal(marrow.embed(model, layered, layer="counts", progress=False), reference)


def test_string_and_numeric_obs_columns_select_cells(adata):
    adata.obs["lineage_text"] = adata.obs["lineage"].astype(str).astype(object)
    adata.obs["n_counts_int"] = adata.obs["n_counts"].astype(np.int64)
    clf = marrow.classify.train(adata, "lineage_text", embedding="pca", pca_components=10, epochs=2, progress=False,
                                cells="lineage_text=progenitor,lymphoid")
    assert clf.metrics["n"] > 0


def test_bad_input_raises_python_exceptions_with_the_cli_message(adata, tmp_path):
    with pytest.raises(ValueError, match="--bogus"):
        marrow.pretrain("ae", adata, bogus=3, progress=False)
    with pytest.raises(ValueError, match="no_such_column"):
        marrow.classify.train(adata, "no_such_column", embedding="pca", progress=False)
    with pytest.raises(ValueError, match="X_nothing"):
        marrow.classify.train(adata, "malignancy", embedding="X_nothing", progress=False)
    with pytest.raises(FileNotFoundError):
        marrow.load(tmp_path / "missing.marrow")
    with pytest.raises(FileNotFoundError):
        marrow.embed(str(tmp_path / "missing.marrow"), adata, progress=False)
    with pytest.raises(ValueError, match="unknown model kind"):
        marrow.pretrain("gan", adata)
    with pytest.raises(ValueError, match="layer 'nope'"):
        marrow.pretrain("ae", adata, layer="nope")
    with pytest.raises(ValueError):
        marrow.pretrain("ae", adata, epochs=0, progress=False)
    with pytest.raises(ValueError, match="stream"):
        marrow.pretrain("ae", adata, stream=True, progress=False)
    with pytest.raises(TypeError):
        marrow.embed("x.marrow", object())
    broken = adata.copy()
    broken.X = sp.csr_matrix((broken.X.data, broken.X.indices, broken.X.indptr), shape=broken.X.shape)
    broken.X.indices[0] = 10**6  # a column outside the matrix
    with pytest.raises(ValueError):
        marrow.embed("x.marrow", broken, progress=False)
    nothing_written = list(tmp_path.iterdir())
    assert nothing_written == []


def test_run_config_returns_results(adata, simulated, tmp_path):
    config = {"data": str(simulated), "out": str(tmp_path / "run"), "seed": 0,
              "split": {"by": "group:patient"},
              "pretrain": {"epochs": 2, "hidden": [32], "latent": 8},
              "classify": {"epochs": 2},
              "tasks": [{"name": "malignancy", "label": "malignancy", "cells": "lineage=progenitor",
                         "positive": "malignant", "heads": ["linear"]}]}
    results = marrow.run(config, progress=False)
    assert results["out"] == str(tmp_path / "run")
    assert (tmp_path / "run" / "report.md").exists()
    assert "malignancy" in json.dumps(results)


def test_gene_model_genes_impute_and_gil(adata, tmp_path):
    model = marrow.pretrain("exceiver", adata, split="group:patient", epochs=1, seed=0, dim=16, latents=4, progress=False)
    table = marrow.genes(model)
    assert table.shape[1] == 16 and len(table) > 100
    assert set(table.index) <= set(adata.var_names)
    marrow.embed(model, adata, key="X_exceiver", progress=False)
    assert adata.obsm["X_exceiver"].shape[0] == adata.n_obs
    metrics = marrow.impute(model, adata, max_cells=100, progress=False)
    assert "model" in json.dumps(metrics)
    results = marrow.gil.run(adata, tmp_path / "gil", auto_plan="random", stages=1, epochs=1, dim=16, latents=4,
                             strategies="finetune", eval_cells=50, probe_cells=100, no_save_models=True, progress=False)
    assert "summary" in results and (tmp_path / "gil" / "report.html").exists()


def test_gene_model_cell_objectives_match_the_cli(adata, simulated, tmp_path):
    """The contrastive and cell-decoding objectives from Python give the CLI's model (same embedding)."""
    options = {"split": "group:patient", "epochs": 1, "seed": 0, "dim": 16, "latents": 4, "max_tokens": 64,
               "contrastive": 1, "cell_decoding": 0.5}
    model = marrow.pretrain("exceiver", adata, progress=False, **options)
    flags = [x for key, value in options.items() for x in ("--" + key.replace("_", "-"), value)]
    cli("pretrain", "exceiver", "--data", simulated, *flags, "--out", tmp_path / "cli.marrow")
    cli("embed", "--model", tmp_path / "cli.marrow", "--data", simulated, "--out", tmp_path / "cli.h5ad")
    import anndata

    expected = anndata.read_h5ad(tmp_path / "cli.h5ad").obsm["X_marrow"]
    assert np.array_equal(marrow.embed(model, adata, progress=False), expected)
    with pytest.raises(ValueError):
        marrow.pretrain("exceiver", adata, progress=False, epochs=1, contrastive=-1)


def test_backed_anndata_is_read_from_its_file(simulated):
    import anndata

    backed = anndata.read_h5ad(simulated, backed="r")
    in_memory = anndata.read_h5ad(simulated)
    model = marrow.pretrain("ae", backed, progress=False, **AE)
    assert np.array_equal(marrow.embed(model, backed, progress=False), marrow.embed(model, in_memory, progress=False))
    plan = marrow.gil.plan(backed, str(simulated) + ".plan.json", auto_plan="random", stages=1, progress=False)
    assert len(plan["stages"]) == 2


def test_finetune_of_an_autoencoder_matches_the_cli(adata, simulated, tmp_path):
    cli("pretrain", "ae", "--data", simulated, *ae_flags(), "--out", tmp_path / "ae.marrow")
    args = ["--label", "malignancy", "--cells", "lineage=progenitor", "--split", "group:patient", "--seed", 1, "--epochs", 3,
            "--head", "mlp"]
    expected = json.loads(cli("finetune", "--model", tmp_path / "ae.marrow", "--data", simulated, *args, "--out",
                              tmp_path / "ft.marrow", "--json"))
    tuned = marrow.classify.finetune(marrow.load(tmp_path / "ae.marrow"), adata, "malignancy", head="mlp",
                                     cells="lineage=progenitor", split="group:patient", seed=1, epochs=3, progress=False)
    assert tuned.metrics["auroc"] == expected["auroc"]
    # The fine-tuned classifier reads raw counts: no embedding needed to evaluate new cells.
    monocytic = tuned.evaluate(adata, "malignancy", cells="lineage=monocytic", progress=False)
    assert monocytic["n"] == int((adata.obs["lineage"] == "monocytic").sum())
    with pytest.raises(ValueError, match="cannot be fine-tuned"):
        marrow.classify.finetune(tuned, adata, "malignancy", progress=False)
