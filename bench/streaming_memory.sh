#!/usr/bin/env bash
# Out-of-core autoencoder pretraining: peak resident memory and throughput of `pretrain ae --stream`
# on simulated files of 50k and 400k cells (same 2,000 genes), against the in-memory path on the
# 50k file. One epoch each, no validation part, default chunk (4,096) and shuffle buffer (32,768).
# Peak memory is the kernel's (/usr/bin/time %M); cells/s is the trainer's epoch figure.
# Usage: bench/streaming_memory.sh [THREADS] [DIR]
#   THREADS: torch threads (default: all cores); DIR keeps the simulated files between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-$(nproc)}"
dir="${2:-${TMPDIR:-/tmp}/marrow-streaming-bench}"
mkdir -p "$dir"
for n in 50000 400000; do
  [ -f "$dir/sim$n.h5ad" ] || build/marrow simulate --cells "$n" --genes 2000 --seed 1 --out "$dir/sim$n.h5ad" 2> /dev/null
done

run() {  # NAME FILE [ARGS...]
  local name="$1" file="$2"
  shift 2
  /usr/bin/time -f "%M" -o "$dir/$name.rss" build/marrow --threads "$threads" pretrain ae --data "$file" --epochs 1 \
    --patience 0 --validation-fraction 0 --hvg none --dropout 0.1 --batch-size 256 --metrics "$dir/$name.jsonl" --out "$dir/$name.marrow" "$@" 2> "$dir/$name.log"
}
run memory_50k "$dir/sim50000.h5ad"
run stream_50k "$dir/sim50000.h5ad" --stream
run stream_400k "$dir/sim400000.h5ad" --stream

/usr/bin/python3 - "$dir" "$threads" <<'PY'
import json, sys
d, threads = sys.argv[1], sys.argv[2]
def rss(name): return int(open(f"{d}/{name}.rss").read().split()[-1]) / 1024
def cps(name): return json.loads(open(f"{d}/{name}.jsonl").readline())["cells_per_second"]
print(f"autoencoder 2000 -> 1024 -> 512 -> 256, one epoch, batch 256, {threads} torch threads")
print(f"{'run':<22}{'peak RSS MB':>12}{'cells/s':>10}")
for name in ["memory_50k", "stream_50k", "stream_400k"]:
    print(f"{name:<22}{rss(name):>12.0f}{cps(name):>10.0f}")
print(f"peak RSS, stream 400k / 50k : {rss('stream_400k') / rss('stream_50k'):.3f}  (target < 1.15)")
print(f"cells/s, stream / in-memory : {cps('stream_50k') / cps('memory_50k'):.3f} (50k), "
      f"{cps('stream_400k') / cps('memory_50k'):.3f} (400k)  (target > 0.80)")
PY
