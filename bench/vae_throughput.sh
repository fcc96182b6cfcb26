#!/usr/bin/env bash
# VAE pretraining throughput: `marrow pretrain vae` against the PyTorch reference of the same model
# (bench/python/vae_reference.py: 3,000 genes -> 128 -> 32 latent, negative binomial, AdamW, batch 128)
# on all 10,393 van Galen cells, in one run on the same machine.
# Usage: bench/vae_throughput.sh [EPOCHS]   (needs a build in build/ and ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-3}"
data="${MARROW_SHARED_DATA:-../shared/data}/vangalen2019/bone_marrow.h5ad"
[ -f "$data" ] || { echo "bench: $data not found" >&2; exit 1; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# No validation part, no early stopping: every cell trains every epoch, as in the reference.
build/marrow -q pretrain vae --data "$data" --validation-fraction 0 --epochs "$epochs" --batch-size 128 --patience 0 \
  --metrics "$out/marrow.jsonl" --out "$out/vae.marrow"
/usr/bin/python3 bench/python/vae_reference.py --data "$data" --epochs "$epochs" --batch-size 128 > "$out/pytorch.json"
/usr/bin/python3 bench/python/vae_reference.py --data "$data" --epochs "$epochs" --batch-size 128 --threads "$(nproc)" \
  > "$out/pytorch_all.json"

/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
ref, ref_all = json.load(open(f"{out}/pytorch.json")), json.load(open(f"{out}/pytorch_all.json"))
epochs = [json.loads(line) for line in open(f"{out}/marrow.jsonl")]
ours = max(e["cells_per_second"] for e in epochs)
print(f"van Galen: {ref['cells']} cells x {ref['genes']} genes, batch {ref['batch_size']}, best of {ref['epochs']} epochs, "
      f"torch {ref['torch']}")
best = max(ref["cells_per_s"], ref_all["cells_per_s"])
for name, rate in ((f"PyTorch reference, {ref['threads']} thread(s)", ref["cells_per_s"]),
                   (f"PyTorch reference, {ref_all['threads']} threads", ref_all["cells_per_s"]),
                   ("marrow pretrain vae", ours)):
    print(f"{name:<36} {rate:10.0f} cells/s   {rate / best:5.2f}x the faster reference")
PY
