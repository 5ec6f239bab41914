#!/bin/sh
# bench/cpu/run.sh [BUILD_DIR] [compare.py options] — the measurements of bench/RESULTS-cpu.md:
# the CPU backend beside PyTorch eager (fashion MLP and sentiment GPT, default and large
# sizes, 1 and 2 threads) and the fashion step's drift check, in one run. Builds bench_mlp
# and bench_gpt (Release) and runs bench/cpu/compare.py with a python3 that has torch and
# numpy (Debian: python3-torch; $PYTHON to choose another). Run it alone on the machine:
# other load slows both sides, PyTorch's threads (OpenMP + OpenBLAS) most.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build
case ${1:-} in -*|'') ;; *) build=$1; shift ;; esac
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bench_mlp bench_gpt -j"$(nproc)" >/dev/null
py=${PYTHON:-}
if [ -z "$py" ]; then
  for c in python3 /usr/bin/python3; do
    if "$c" -c 'import torch, numpy' 2>/dev/null; then py=$c; break; fi
  done
fi
[ -n "$py" ] || { echo "run.sh: no python3 with torch and numpy (apt install python3-torch)" >&2; exit 1; }
exec "$py" "$root/bench/cpu/compare.py" --build "$build" --python "$py" --out "$root/bench/RESULTS-cpu.md" "$@"
