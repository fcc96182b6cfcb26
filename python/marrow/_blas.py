"""The BLAS marrow's command line runs with, for a Python process (docs/blas.md).

The ``marrow`` program sets OPENBLAS_CORETYPE and puts the OpenMP build of OpenBLAS first before
it starts the torch program, because OpenBLAS reads its settings only when it is loaded. Inside
Python the process has already started, so this does the same before ``_marrow`` (and with it torch
and BLAS) is loaded: it sets OPENBLAS_CORETYPE as runtime/blas_env.cpp chooses it and loads the
OpenMP build by its full path, so that torch binds to it. Where a BLAS is already loaded (numpy
imported first), nothing can change it any more; ``blas_note()`` then says so.
"""
import ctypes
import os

_OPENMP_DIRS = ("/usr/lib/x86_64-linux-gnu/openblas-openmp", "/usr/lib/aarch64-linux-gnu/openblas-openmp")
_note = ""


def _loaded_blas():
    try:
        with open("/proc/self/maps") as maps:
            return [line.split()[-1] for line in maps if "blas" in line and "/" in line]
    except OSError:
        return []


def _coretype():
    """As runtime::preferred_openblas_coretype: SkylakeX with avx512f, Haswell with avx2."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return ""
    if "avx512f" in flags:
        return "SkylakeX"
    if "avx2" in flags:
        return "Haswell"
    return ""


def prepare():
    """Sets the BLAS environment before torch loads; call once, before importing _marrow."""
    global _note
    loaded = _loaded_blas()
    if loaded:
        if not any("openblas-openmp" in path for path in loaded):
            _note = ("a BLAS was loaded before marrow ({}): import marrow before numpy for the kernel "
                     "and thread pool marrow's command line uses".format(loaded[0]))
        return
    if "OPENBLAS_CORETYPE" not in os.environ and _coretype():
        os.environ["OPENBLAS_CORETYPE"] = _coretype()
    for directory in _OPENMP_DIRS:
        if os.path.exists(os.path.join(directory, "libblas.so.3")):
            # Both sonames numpy and torch ask for, so that neither brings the pthread build in later.
            for name in ("libblas.so.3", "liblapack.so.3"):
                if os.path.exists(os.path.join(directory, name)):
                    ctypes.CDLL(os.path.join(directory, name), mode=ctypes.RTLD_GLOBAL)
            return


def blas_note():
    """Why this process's BLAS may differ from the command line's ("" when it does not)."""
    return _note
