#!/bin/sh
# bench/cuda/run.sh [BUILD_DIR] — the measurements of bench/RESULTS-cuda.md, on a GPU machine.
# Builds bench_mlp and the CUDA plugin (Release), prints the GPU, then:
#   1. bench_mlp on cuda (default + large), on cpu (default; large with few steps)
#   2. torch_mlp.py on cuda (roundtrip + device modes), when PyTorch is installed
#   3. discover eval cross_entropy.c end to end (sandbox included), --device cuda vs cpu
#   4. bench_gpt (the sentiment GPT) on cuda and cpu, torch_gpt.py on cuda
#   5. the GPT parity test (tests/inner_loop/test_cuda_gpt_parity.c)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target discover discover-sandbox bench_mlp bench_gpt test_cuda_gpt_parity -j"$(nproc)"
[ -f "$build/bin/libdiscover_cuda.so" ] || { echo "no CUDA plugin was built (is nvcc on PATH?)" >&2; exit 1; }
echo "## machine"
date -u +%Y-%m-%dT%H:%MZ
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
lscpu | grep -E '^Model name|^CPU\(s\)' || true
echo "## 1. bench_mlp"
"$build/bin/bench_mlp" --device cuda
"$build/bin/bench_mlp" --device cpu --config default
"$build/bin/bench_mlp" --device cpu --config large --steps 3 --warmup 1 --runs 3
echo "## 2. PyTorch eager"
if python3 -c 'import torch, numpy' 2>/dev/null; then
  python3 "$root/bench/cuda/torch_mlp.py" --device cuda
else
  echo "PyTorch/numpy not importable: skipped"
fi
echo "## 3. discover eval (default configuration, seed 1)"
tmp=$(mktemp)
for dev in cuda cpu; do
  "$build/bin/discover" eval "$root/examples/objectives/fashion/cross_entropy.c" --device "$dev" \
    --json >"$tmp" 2>/dev/null || { echo "discover eval --device $dev failed" >&2; continue; }
  python3 - "$tmp" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
s = j["per_seed"][0]
share = j["metrics"].get("sandbox_share", 0)
print(f"| {s.get('backend')} | {j['seconds']:.2f} s | val {j['fitness']:.4f} | "
      f"test {j['test_metric']:.4f} | sandbox share {share:.1%} |")
PY
done
rm -f "$tmp"
echo "## 4. sentiment GPT steps/s (bench_gpt, torch_gpt.py)"
"$build/bin/bench_gpt" --device cuda
"$build/bin/bench_gpt" --device cpu --config default --steps 20 --warmup 2 --runs 3
"$build/bin/bench_gpt" --device cpu --config large --steps 3 --warmup 1 --runs 3
if python3 -c 'import torch, numpy' 2>/dev/null; then
  python3 "$root/bench/cuda/torch_gpt.py" --device cuda
else
  echo "PyTorch/numpy not importable: skipped"
fi
echo "## 5. GPT parity"
"$build/tests/inner_loop/test_cuda_gpt_parity" || echo "test_cuda_gpt_parity exited $?"
