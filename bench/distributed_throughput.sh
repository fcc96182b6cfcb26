#!/usr/bin/env bash
# Data-parallel pretraining throughput on this machine: one process against two processes of one
# thread each (c10d Gloo over 127.0.0.1), same global batch, same data; and the bytes all-reduced per
# step. On one machine this measures the cost of the all-reduce, not a speed-up: the cores are shared.
# Usage: bench/distributed_throughput.sh [EPOCHS] [BATCH] [MODEL]   MODEL: ae (default) or exceiver
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-3}"
batch="${2:-256}"
model="${3:-ae}"
data="${MARROW_SHARED_DATA:-../shared/data}/vangalen2019/bone_marrow.h5ad"
types="HSC,Prog,GMP,HSC-like,Prog-like,GMP-like"
[ -f "$data" ] || { echo "bench: $data not found" >&2; exit 1; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
args=(pretrain "$model" --data "$data" --cells "cell_type=$types" --validation-fraction 0 --epochs "$epochs"
      --batch-size "$batch" --patience 0)
[ "$model" = ae ] && args+=(--no-scale)
port=$((29500 + RANDOM % 1000))

build/marrow --threads "$(nproc)" "${args[@]}" --metrics "$out/one.jsonl" --out "$out/one.marrow" 2> "$out/one.log"
RANK=1 WORLD_SIZE=2 MASTER_PORT=$port build/marrow --threads 1 "${args[@]}" --out "$out/two.marrow" 2> "$out/rank1.log" &
RANK=0 WORLD_SIZE=2 MASTER_PORT=$port build/marrow --threads 1 "${args[@]}" --metrics "$out/two.jsonl" --out "$out/two.marrow" 2> "$out/rank0.log"
wait

/usr/bin/python3 - "$out" "$model" "$(nproc)" <<'PY'
import json, re, sys
out, model, cores = sys.argv[1], sys.argv[2], sys.argv[3]
def best(name):
    return max(json.loads(l)["cells_per_second"] for l in open(f"{out}/{name}.jsonl"))
log = open(f"{out}/rank0.log").read()
mb = re.search(r"([0-9.]+) MB all-reduced per step", log).group(1)
one, two = best("one"), best("two")
print(f"{model} on van Galen progenitors, best epoch, {cores} cores")
print(f"  1 process x {cores} threads  : {one:9.1f} cells/s")
print(f"  2 processes x 1 thread     : {two:9.1f} cells/s  ({two / one:.2f}x)")
print(f"  all-reduced per step       : {mb} MB")
PY
