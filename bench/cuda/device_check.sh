#!/usr/bin/env bash
# bench/cuda/device_check.sh — every GPU check of the project in one command, for the device
# machine (one H100/H200, CUDA 13, PyTorch, no network, none of the project's libraries):
# unpacks .device/bundle.tar.xz (made here by bench/cuda/device_bundle.sh), then
#   1. the parity tests: test_cuda_parity (fashion MLP) and test_cuda_gpt_parity (sentiment GPT)
#   2. bench_mlp and bench_gpt on cuda (default + large) and cpu, beside torch_mlp.py and
#      torch_gpt.py on the same GPU
#   3. discover eval cross_entropy.c end to end, --device cuda vs cpu
# Everything goes to $OUT/device_check.log (and stdout). About 5 minutes on an H200.
#   device run: bash bench/cuda/device_check.sh      (carry: .device)
# Without a GPU it still runs: the parity tests report "skipped" and the cuda rows fail with
# the reason, which is how it is checked on a machine without one. The bundled programs were
# built on Debian 12: the device needs glibc 2.36 or newer (if they fail to start with
# "GLIBC_2.xx not found", build there instead with bench/cuda/run.sh).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/.device/out}
mkdir -p "$out"
log="$out/device_check.log"
exec > >(tee "$log") 2>&1

bundle="$root/.device/bundle.tar.xz"
[ -f "$bundle" ] || { echo "device_check: $bundle is missing: run bench/cuda/device_bundle.sh first"; exit 1; }
dc=$(mktemp -d)
tar -C "$dc" -xJf "$bundle"
# the bundle's libraries, then the device's own CUDA toolkit (cuBLAS 13 is not carried)
export LD_LIBRARY_PATH="$dc/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export DISCOVER_HOME="$root" DISCOVER_WORKER="$dc/bin/discover-sandbox"
export DISCOVER_CUDA_PLUGIN="$dc/bin/libdiscover_cuda.so" DISCOVER_FASHION_DIR="$dc/data/fashion"
export DISCOVER_CACHE="$dc/cache"
bin="$dc/bin"
step() { echo; echo "## $*"; }

step "machine"
date -u +%Y-%m-%dT%H:%MZ
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || echo "no nvidia-smi"
lscpu | grep -E '^Model name|^CPU\(s\)' || true
"$bin/discover" --version 2>/dev/null || true

step "1. parity (exit 77 = skipped: no GPU)"
for t in test_cuda_parity test_cuda_gpt_parity; do
  timeout 300 "$bin/$t"
  echo "$t exited $?"
done

step "2. steps per second"
timeout 300 "$bin/bench_mlp" --device cuda || echo "bench_mlp cuda failed ($?)"
timeout 120 "$bin/bench_mlp" --device cpu --config default || echo "bench_mlp cpu failed ($?)"
timeout 300 "$bin/bench_gpt" --device cuda || echo "bench_gpt cuda failed ($?)"
timeout 120 "$bin/bench_gpt" --device cpu --config default --steps 20 --warmup 2 --runs 3 ||
  echo "bench_gpt cpu failed ($?)"
if python3 -c 'import torch, numpy' 2>/dev/null; then
  PYTHONUNBUFFERED=1 timeout 300 python3 "$root/bench/cuda/torch_mlp.py" --device cuda || echo "torch_mlp failed ($?)"
  PYTHONUNBUFFERED=1 timeout 300 python3 "$root/bench/cuda/torch_gpt.py" --device cuda || echo "torch_gpt failed ($?)"
else
  echo "PyTorch/numpy not importable: the PyTorch references were skipped"
fi

step "3. discover eval cross_entropy.c, default configuration, seed 1"
for dev in cuda cpu; do
  if timeout 300 "$bin/discover" eval "$root/examples/objectives/fashion/cross_entropy.c" \
      --task fashion --device "$dev" --json > "$out/eval_$dev.json"; then
    python3 - "$out/eval_$dev.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
s, m = j["per_seed"][0], j["metrics"]
print(f"| {s.get('backend')} | {j['seconds']:.2f} s | val {j['fitness']:.4f} | test {j['test_metric']:.4f} "
      f"| sandbox share {m.get('sandbox_share', 0):.1%} | gradient {m.get('gradient')} |")
PY
  else
    echo "discover eval --device $dev failed ($?)"
  fi
done
rm -rf "$dc"
echo; echo "device_check: done; log in $log"
