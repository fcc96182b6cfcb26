#!/usr/bin/env bash
# Autoencoder pretraining throughput: marrow against the PyTorch reference of the same model
# (bench/python/ae_reference.py), on the van Galen progenitors, in one run on the same machine.
# Usage: bench/ae_throughput.sh [EPOCHS] [BATCH]   (needs a build in build/ and ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-3}"
batch="${2:-256}"
data="${MARROW_SHARED_DATA:-../shared/data}/vangalen2019/bone_marrow.h5ad"
types="HSC,Prog,GMP,HSC-like,Prog-like,GMP-like"
[ -f "$data" ] || { echo "bench: $data not found" >&2; exit 1; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Same cells, genes (seen in >= 3 cells), model, loss, optimizer and batch size; no validation part.
# Unscaled log-normalised input, as the reference has it (scaled input always takes the dense layer).
for layer in sparse dense; do
  build/marrow -q pretrain ae --data "$data" --cells "cell_type=$types" --validation-fraction 0 \
    --epochs "$epochs" --batch-size "$batch" --patience 0 --input-layer "$layer" --no-scale --hvg none --dropout 0.1 \
    --metrics "$out/$layer.jsonl" --out "$out/$layer.marrow"
done
# The reference as a Python user runs it (torch's default threads: half the cores) and with all cores.
/usr/bin/python3 bench/python/ae_reference.py --data "$data" --cell-types "$types" --epochs "$epochs" \
  --batch-size "$batch" > "$out/pytorch.json"
/usr/bin/python3 bench/python/ae_reference.py --data "$data" --cell-types "$types" --epochs "$epochs" \
  --batch-size "$batch" --threads "$(nproc)" > "$out/pytorch_all.json"

/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
ref = json.load(open(f"{out}/pytorch.json"))
ref_all = json.load(open(f"{out}/pytorch_all.json"))
rows = [(f"PyTorch reference, {ref['threads']} thread(s)", ref["cells_per_s"]),
        (f"PyTorch reference, {ref_all['threads']} threads", ref_all["cells_per_s"])]
for layer in ("sparse", "dense"):
    epochs = [json.loads(l) for l in open(f"{out}/{layer}.jsonl")]
    rows.append((f"marrow, {layer} first layer", max(e["cells_per_second"] for e in epochs)))
print(f"van Galen progenitors: {ref['cells']} cells x {ref['genes']} genes, batch {ref['batch_size']}, "
      f"best of {ref['epochs']} epochs, torch {ref['torch']}; ratios against the all-cores reference")
for name, rate in rows:
    print(f"  {name:<36} {rate:8.1f} cells/s   {rate / ref_all['cells_per_s']:.2f}x")
PY
