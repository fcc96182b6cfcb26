#!/usr/bin/env bash
# Pretraining speed of the masked-expression gene model on the van Galen progenitors, in one run on
# one machine: marrow against (a) a PyTorch reference of the same architecture, masking and batch
# size, and (b) the original dense design in which every cell carries all genes as tokens (in the
# same PyTorch reference; on a subset of cells, since it is slow). Each also reports the masked MSE on
# cells it did not train on, so that speed is compared at equal quality.
# Both sides use dim 64, 64 latents, 2 latent layers (the reference's defaults, marrow's until the size
# comparison in docs/results.md made 32/32/1 its default).
# Usage: bench/exceiver_throughput.sh [EPOCHS] [BATCH] [DENSE_CELLS]   (from the project root, after a build)
set -euo pipefail
epochs="${1:-3}"
batch="${2:-64}"
dense_cells="${3:-256}"
data="${MARROW_DATA:-../shared/data}/vangalen2019/bone_marrow.h5ad"
types="HSC,Prog,GMP,HSC-like,Prog-like,GMP-like"
[ -f "$data" ] || { echo "bench: $data not found" >&2; exit 1; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# marrow: 10% of the cells held out (random split) for the masked MSE, no validation part.
build/marrow -q split --data "$data" --cells "cell_type=$types" --by random --test-fraction 0.1 --seed 0 --out "$out/split.json"
build/marrow -q pretrain exceiver --data "$data" --cells "cell_type=$types" --split-file "$out/split.json" \
  --validation-fraction 0 --epochs "$epochs" --batch-size "$batch" --patience 0 --dim 64 --latents 64 --layers 2 \
  --metrics "$out/marrow.jsonl" --out "$out/ex.marrow"
build/marrow -q impute --model "$out/ex.marrow" --data "$data" --cells "cell_type=$types" --split-file "$out/split.json" \
  --json > "$out/marrow_impute.json"
/usr/bin/python3 bench/python/exceiver_reference.py --data "$data" --cell-types "$types" --epochs "$epochs" \
  --batch-size "$batch" > "$out/reference.json"
/usr/bin/python3 bench/python/exceiver_reference.py --data "$data" --cell-types "$types" --epochs "$epochs" \
  --batch-size "$batch" --threads "$(nproc)" > "$out/reference_all.json"
/usr/bin/python3 bench/python/exceiver_reference.py --data "$data" --cell-types "$types" --epochs 1 \
  --batch-size 16 --max-cells "$dense_cells" --tokens all --threads "$(nproc)" > "$out/dense.json"

/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
ref, ref_all, dense = (json.load(open(f"{out}/{n}.json")) for n in ("reference", "reference_all", "dense"))
epochs = [json.loads(l) for l in open(f"{out}/marrow.jsonl")]
marrow_rate = max(e["cells_per_second"] for e in epochs)
marrow_mse = json.load(open(f"{out}/marrow_impute.json"))["mse"]
best_ref = max(ref["cells_per_s"], ref_all["cells_per_s"])
print(f"van Galen progenitors, {ref['genes']} genes, batch {ref['batch_size']}, best of {ref['epochs']} epochs, torch {ref['torch']}")
rows = [(f"PyTorch reference, {ref['threads']} thread(s)", ref["cells_per_s"], ref["masked_mse"]),
        (f"PyTorch reference, {ref_all['threads']} threads", ref_all["cells_per_s"], ref_all["masked_mse"]),
        (f"dense design, all genes as tokens ({dense['cells']} cells, 1 epoch)", dense["cells_per_s"], dense["masked_mse"]),
        ("marrow", marrow_rate, marrow_mse)]
for name, rate, mse in rows:
    print(f"  {name:<58} {rate:9.2f} cells/s  masked MSE {mse:.4f}")
print(f"marrow / faster reference: {marrow_rate / best_ref:.2f}x;  marrow / dense design: {marrow_rate / dense['cells_per_s']:.1f}x")
PY
