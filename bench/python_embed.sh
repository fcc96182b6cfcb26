#!/usr/bin/env bash
# Embedding the 10,393 van Galen cells from Python against the CLI, side by side in one run:
# - cli:    `marrow embed --model M --data FILE --out OUT.h5ad` (read, embed, write a copy of the file)
# - python: `marrow.embed(model, adata)` on an AnnData already in memory (read once, not timed), the
#           embedding returned into adata.obsm; no file written
# - python+read: anndata.read_h5ad + marrow.embed, the whole job a notebook user runs
# Each runs RUNS times (default 5); prints median wall seconds and the ratio to the CLI, and checks
# that Python's embedding is bitwise the CLI's. The model: `pretrain ae` for EPOCHS (default 1) epochs.
# Usage: bench/python_embed.sh   (build/ and the van Galen file from ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-5}"
data="$(realpath "${MARROW_SHARED_DATA:-../shared/data}/vangalen2019/bone_marrow.h5ad")"
[ -f "$data" ] || { echo "bench: $data not found" >&2; exit 1; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
build/marrow -q pretrain ae --data "$data" --epochs "${EPOCHS:-1}" --seed 0 --out "$out/ae.marrow"

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
: > "$out/cli"
for _ in $(seq "$runs"); do
  start="$EPOCHREALTIME"
  build/marrow -q embed --model "$out/ae.marrow" --data "$data" --out "$out/cli.h5ad"
  end="$EPOCHREALTIME"
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f\n", b - a }' >> "$out/cli"
done
cli="$(median < "$out/cli")"

PYTHONPATH="$PWD/build/python" /usr/bin/python3 - "$out" "$data" "$runs" "$cli" <<'PY'
import sys, time, statistics
import marrow
import anndata
import numpy as np

out, data, runs, cli = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
model = marrow.load(out + "/ae.marrow")
adata = anndata.read_h5ad(data)
in_memory, with_read = [], []
for _ in range(runs):
    start = time.perf_counter()
    marrow.embed(model, adata, progress=False)
    in_memory.append(time.perf_counter() - start)
for _ in range(runs):
    start = time.perf_counter()
    fresh = anndata.read_h5ad(data)
    marrow.embed(model, fresh, progress=False)
    with_read.append(time.perf_counter() - start)
expected = anndata.read_h5ad(out + "/cli.h5ad").obsm["X_marrow"]
same = np.array_equal(adata.obsm["X_marrow"], expected)
print("{:<40} {:>10} {:>12}".format("embed 10,393 van Galen cells", "median s", "CLI / this"))
print("{:<40} {:>10.3f} {:>12.2f}".format("cli: marrow embed (file to file)", cli, 1.0))
for name, times in (("python: marrow.embed (AnnData in memory)", in_memory), ("python: read_h5ad + marrow.embed", with_read)):
    m = statistics.median(times)
    print("{:<40} {:>10.3f} {:>12.2f}".format(name, m, cli / m))
print("python embedding bitwise equal to the CLI's:", same, "| blas:", marrow.blas_note() or "as the CLI")
sys.exit(0 if same else 1)
PY
