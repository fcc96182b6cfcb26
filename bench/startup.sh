#!/usr/bin/env bash
# Start-up: how long `marrow` takes to start and finish the commands that neither train nor embed
# (which must not load torch), and `marrow info` (which must load it once). Each command runs RUNS
# times (default 10) under /usr/bin/time; prints the median wall time and median peak memory.
# Usage: bench/startup.sh [BINARY...]   (default build/marrow; the van Galen file from ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-10}"
data="${MARROW_SHARED_DATA:-../shared/data}/vangalen2019/bone_marrow.h5ad"
[ -f "$data" ] || { echo "bench: $data not found" >&2; exit 1; }
[ "$#" -gt 0 ] || set -- build/marrow
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# median of the numbers on standard input
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

printf '%-28s %-40s %10s %10s\n' binary command "median s" "median MB"
for binary in "$@"; do
  [ -x "$binary" ] || { echo "bench: $binary is not an executable" >&2; exit 1; }
  for args in "--version" "inspect --help" "inspect $data" "info"; do
    : > "$out/times"
    for _ in $(seq "$runs"); do
      # %e has 10 ms steps: the wall time is also taken around the run, in microseconds.
      start="$EPOCHREALTIME"
      /usr/bin/time -f "%M" -o "$out/rss" "$binary" $args > /dev/null 2>&1
      end="$EPOCHREALTIME"
      echo "$end $start $(cat "$out/rss")" >> "$out/times"
    done
    seconds="$(awk '{ printf "%.4f\n", $1 - $2 }' "$out/times" | median)"
    megabytes="$(awk '{ print $3 / 1024 }' "$out/times" | median)"
    printf '%-28s %-40s %10.3f %10.0f\n' "$binary" "${args/$data/van Galen .h5ad}" "$seconds" "$megabytes"
  done
done
