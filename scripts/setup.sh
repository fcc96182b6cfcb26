#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (run as root, or with sudo available):
#   scripts/setup.sh demo   install what is missing, build, run `marrow demo`
#   scripts/setup.sh test   install what is missing, build, run the whole test suite (CTest)
#   scripts/setup.sh build  install what is missing and build only
# Installing is idempotent and quiet when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
action="${1:-demo}"
build_dir="${MARROW_BUILD_DIR:-build}"

# Debian packages marrow builds and runs with. libopenblas0-openmp: the OpenMP build of OpenBLAS,
# which shares torch's thread pool instead of oversubscribing the cores (see docs/blas.md).
packages=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libopenblas-dev libopenblas0-openmp libhdf5-dev zlib1g-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev libgloo-dev libhnswlib-dev
  pybind11-dev python3-dev  # the Python package `marrow` (docs/python.md)
  python3-anndata python3-torch python3-h5py python3-scipy python3-pandas
  time  # /usr/bin/time: peak memory in bench/streaming_memory.sh
)
# The test suite also needs pytest (Python package tests, run by CTest) and a headless browser
# (report.html is opened in Chromium and every figure checked).
if [ "$action" = test ]; then
  packages+=(python3-pytest python3-tqdm chromium)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} missing Debian package(s): ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs="$(nproc)"
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build_dir" -j "$jobs"

# `import marrow` for Debian's /usr/bin/python3: a .pth file naming the built package's folder
# (docs/python.md). MARROW_NO_PTH=1 leaves the system alone (then set PYTHONPATH=build/python).
if [ -z "${MARROW_NO_PTH:-}" ] && [ -d "$build_dir/python/marrow" ]; then
  site_dir="$(/usr/bin/python3 -c 'import site; print(site.getsitepackages()[0])')"
  pth_line="$(cd "$build_dir/python" && pwd)"
  if [ "$(cat "$site_dir/marrow.pth" 2>/dev/null)" != "$pth_line" ]; then
    if mkdir -p "$site_dir" 2>/dev/null && echo "$pth_line" > "$site_dir/marrow.pth" 2>/dev/null; then
      echo "setup: /usr/bin/python3 imports marrow from $pth_line ($site_dir/marrow.pth)"
    else
      echo "setup: cannot write $site_dir/marrow.pth; use PYTHONPATH=$pth_line to import marrow"
    fi
  fi
fi

case "$action" in
  build) ;;
  demo) "./$build_dir/marrow" demo --out marrow-demo ;;
  test) ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" ;;
  *) echo "usage: scripts/setup.sh [demo|test|build]" >&2; exit 2 ;;
esac
