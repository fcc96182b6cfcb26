#!/usr/bin/python3
"""Writes the small, deliberately damaged HDF5 files the corrupt-input tests read (at test time, into
the directory given; nothing is committed):

  obs_string_flip.h5ad  one flipped byte (XOR 0x11 at offset 9) in the size of the global heap
                        collection that holds the obs string column: HDF5 1.10 (and h5py) SIGSEGV
                        in H5HG_read
  zeroed_heap.h5ad      64 zeroed bytes over the first strings of that heap: HDF5 loops forever
  dense_huge.h5ad       a dense float32 X declared 10^6 x 10^5 (400 GB) in a file of a few MB
  sparse_huge.h5ad      a CSR X whose indptr, data and indices declare 3 * 10^9 stored values
  tenx_huge.h5          a 10x HDF5 matrix whose data and indices declare 3 * 10^9 stored values
  dense_big.h5ad        a legitimate dense X of 20,000 x 4,000 (320 MB as float32, mostly zeros)
  string_claims.h5ad    legacy (< 0.7) compound obs/var whose 64 var strings each claim 256 MB (HDF5
                        allocates and copies what is claimed: 32 GB), behind an uns group whose
                        B-tree signature is broken (which stopped H5Ovisit, so the HDF5 check never
                        reached var)

Usage: craft_corrupt.py OUT_DIR
"""
import os
import re
import struct
import sys

import h5py
import numpy as np

HUGE = 3 * 10**9


def strings(values):
    return np.array(values, dtype=h5py.string_dtype())


def write_frame(f, name, index):
    g = f.create_group(name)
    g.attrs["encoding-type"] = "dataframe"
    g.attrs["encoding-version"] = "0.2.0"
    g.attrs["_index"] = "_index"
    with_name = name == "obs" and len(index) <= 1000  # a string column, kept out of the huge files
    g.attrs["column-order"] = strings(["name"]) if with_name else np.array([], dtype=float)
    g.create_dataset("_index", data=index)
    if with_name:
        g.create_dataset("name", data=strings([f"n{i}" for i in range(len(index))]))


def anndata_file(path, n_cells, n_genes, string_index=True):
    f = h5py.File(path, "w")
    f.attrs["encoding-type"] = "anndata"
    f.attrs["encoding-version"] = "0.1.0"
    cells = strings([f"cell{i}" for i in range(n_cells)]) if string_index else np.arange(n_cells)
    genes = strings([f"g{i}" for i in range(n_genes)]) if string_index else np.arange(n_genes)
    write_frame(f, "obs", cells)
    write_frame(f, "var", genes)
    return f


def damaged_heap(out):
    path = os.path.join(out, "base.h5ad")
    with anndata_file(path, 20, 5) as f:
        x = f.create_group("X")
        x.attrs["encoding-type"] = "csr_matrix"
        x.attrs["encoding-version"] = "0.1.0"
        x.attrs["shape"] = np.array([20, 5])
        x.create_dataset("indptr", data=np.arange(21, dtype=np.int64))
        x.create_dataset("indices", data=np.zeros(20, dtype=np.int32))
        x.create_dataset("data", data=np.ones(20, dtype=np.float32))
    data = open(path, "rb").read()
    os.remove(path)
    heap = data.index(b"GCOL")  # the first global heap collection: the obs/var strings
    flipped = bytearray(data)
    flipped[heap + 9] ^= 0x11
    open(os.path.join(out, "obs_string_flip.h5ad"), "wb").write(flipped)
    zeroed = bytearray(data)
    zeroed[heap + 16:heap + 80] = bytes(64)
    open(os.path.join(out, "zeroed_heap.h5ad"), "wb").write(zeroed)


def huge(out):
    with anndata_file(os.path.join(out, "dense_huge.h5ad"), 10**6, 10**5, string_index=False) as f:
        f.create_dataset("X", shape=(10**6, 10**5), dtype=np.float32, chunks=(100, 1000), compression="gzip")
    rows = 1000
    with anndata_file(os.path.join(out, "sparse_huge.h5ad"), rows, 100, string_index=False) as f:
        x = f.create_group("X")
        x.attrs["encoding-type"] = "csr_matrix"
        x.attrs["encoding-version"] = "0.1.0"
        x.attrs["shape"] = np.array([rows, 100])
        x.create_dataset("indptr", data=np.linspace(0, HUGE, rows + 1).astype(np.int64))
        x.create_dataset("indices", shape=(HUGE,), dtype=np.int32, chunks=(1 << 20,), compression="gzip")
        x.create_dataset("data", shape=(HUGE,), dtype=np.float32, chunks=(1 << 20,), compression="gzip")
    with h5py.File(os.path.join(out, "tenx_huge.h5"), "w") as f:
        m = f.create_group("matrix")
        m.create_dataset("barcodes", data=np.array([b"AAAC-1", b"AAAG-1"]))
        m.create_dataset("shape", data=np.array([3, 2], dtype=np.int32))
        m.create_dataset("indptr", data=np.array([0, HUGE // 2, HUGE], dtype=np.int64))
        m.create_dataset("indices", shape=(HUGE,), dtype=np.int64, chunks=(1 << 20,), compression="gzip")
        m.create_dataset("data", shape=(HUGE,), dtype=np.int32, chunks=(1 << 20,), compression="gzip")
        feat = m.create_group("features")
        feat.create_dataset("id", data=np.array([b"G1", b"G2", b"G3"]))
        feat.create_dataset("name", data=np.array([b"A", b"B", b"C"]))
        feat.create_dataset("feature_type", data=np.array([b"Gene Expression"] * 3))


def string_claims(out):
    path, n, claim = os.path.join(out, "string_claims.h5ad"), 64, 256 << 20
    vlen = h5py.string_dtype()
    with h5py.File(path, "w") as f:
        x = f.create_group("X")
        x.attrs["h5sparse_format"] = "csr"
        x.attrs["h5sparse_shape"] = np.array([n, 3])
        x.create_dataset("data", data=np.ones(n, dtype=np.float32))
        x.create_dataset("indices", data=np.zeros(n, dtype=np.int32))
        x.create_dataset("indptr", data=np.arange(n + 1, dtype=np.int64))
        f.create_dataset("obs", data=np.array([(f"cell{i:03d}", i / 2) for i in range(n)],
                                              dtype=np.dtype([("index", vlen), ("score", np.float64)])))
        f.create_dataset("var", data=np.array([(f"gene{i:03d}", f"ENSG{i:03d}") for i in range(n)],
                                              dtype=np.dtype([("index", vlen), ("gene_ids", vlen)])))
        f.create_group("uns").create_dataset("note", data=np.arange(3))  # created last: the last B-tree
        offset, stride = f["var"].id.get_offset(), f["var"].id.get_storage_size() // n
    data = bytearray(open(path, "rb").read())
    # On disk a variable-length string is (length: uint32, heap address, heap index); "gene000" is 7 long.
    assert struct.unpack_from("<I", data, offset)[0] == 7
    for i in range(n):
        struct.pack_into("<I", data, offset + i * stride, claim)
    tree = data.rindex(b"TREE")
    data[tree:tree + 4] = b"EERT"
    open(path, "wb").write(data)


def dense_big(out):
    rows, cols = 20000, 4000
    rng = np.random.default_rng(15)
    with anndata_file(os.path.join(out, "dense_big.h5ad"), rows, cols, string_index=False) as f:
        x = f.create_dataset("X", shape=(rows, cols), dtype=np.float32, chunks=(100, cols), compression="gzip",
                             compression_opts=1)
        for start in range(0, rows, 2000):
            block = np.zeros((2000, cols), dtype=np.float32)
            block[:, ::97] = rng.integers(0, 5, size=(2000, len(range(0, cols, 97))))
            x[start:start + 2000] = block


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    damaged_heap(out)
    huge(out)
    string_claims(out)
    if "--with-big" in sys.argv:
        dense_big(out)


if __name__ == "__main__":
    main()
