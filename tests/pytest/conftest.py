"""Fixtures of the Python package tests (run by CTest with the built package on PYTHONPATH and
MARROW_BINARY naming the built `marrow` program, so the CLI and Python can be compared)."""
import os
import pathlib
import subprocess

import marrow  # noqa: F401  (first: the BLAS set-up, as docs/python.md asks)
import pytest

MARROW = os.environ.get("MARROW_BINARY", "marrow")
SOURCE = pathlib.Path(__file__).resolve().parents[2]
SHARED = SOURCE.parent / "shared" / "data"


def cli(*args):
    """Runs the marrow program; returns its standard output."""
    done = subprocess.run([MARROW, "-q", *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="session")
def simulated(tmp_path_factory):
    """A simulated bone marrow: 600 cells x 300 genes, patients, lineages, a disease program."""
    path = tmp_path_factory.mktemp("sim") / "sim.h5ad"
    cli("simulate", "--cells", 600, "--genes", 300, "--seed", 3, "--out", path)
    return path


@pytest.fixture
def adata(simulated):
    import anndata

    return anndata.read_h5ad(simulated)


def vangalen():
    path = SHARED / "vangalen2019" / "bone_marrow.h5ad"
    if not path.exists():
        pytest.skip("../shared/data is absent: the van Galen file is not here")
    return path
