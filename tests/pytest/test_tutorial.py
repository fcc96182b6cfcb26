"""docs/python.md's tutorial, every line, on the van Galen file; then the CLI commands the page
gives as its equivalent, whose metrics must be the same."""
import json
import os
import re
import subprocess

import pytest
from conftest import MARROW, SOURCE, vangalen


def blocks(language):
    text = (SOURCE / "docs" / "python.md").read_text()
    return re.findall(r"```" + language + r"\n(.*?)```", text, flags=re.S)


def test_tutorial_runs_and_matches_the_cli(tmp_path, monkeypatch):
    data = vangalen()
    monkeypatch.chdir(tmp_path)
    (python,) = blocks("python")
    (shell,) = blocks("sh")
    namespace = {}
    exec(compile(python.replace("../shared/data/vangalen2019/bone_marrow.h5ad", str(data)), "docs/python.md", "exec"),
         namespace)
    assert (tmp_path / "vangalen_ae.marrow").exists() and (tmp_path / "malignancy.marrow").exists()
    adata = namespace["adata"]
    assert adata.obsm["X_marrow"].shape == (adata.n_obs, 256)
    assert "marrow_prediction" in adata.obs

    script = "set -euo pipefail\nmarrow() { \"$MARROW\" -q \"$@\"; }\n" + shell.replace(
        "../shared/data/vangalen2019/bone_marrow.h5ad", str(data))
    done = subprocess.run(["bash", "-c", script], env=dict(os.environ, MARROW=MARROW), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    cli_train = json.loads((tmp_path / "cli_train.json").read_text())
    cli_shot = json.loads((tmp_path / "cli_zeroshot.json").read_text())
    clf, shot = namespace["clf"], namespace["shot"]
    for key in ("auroc", "balanced_accuracy", "threshold", "n"):
        assert clf.metrics[key] == cli_train[key], key
    for group in ("monocytic", "lymphoid"):
        assert shot[group]["balanced_accuracy"] == cli_shot[group]["balanced_accuracy"], group
        assert shot[group]["predicted_fraction"] == cli_shot[group]["predicted_fraction"], group
