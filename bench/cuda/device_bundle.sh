#!/usr/bin/env bash
# bench/cuda/device_bundle.sh [BUILD_DIR] — packs what bench/cuda/device_check.sh needs on a
# GPU machine that has the CUDA toolkit but none of this project's Debian libraries and no
# network (the device machine lent to some tasks): the programs, the CUDA plugin, the test
# and benchmark binaries, every shared library they load that is not glibc or CUDA's own,
# and the Fashion-MNIST files, as .device/bundle.tar.xz (ignored by git; about 20 MB).
#
# Build here first (a Release build with nvcc on PATH, so the plugin exists):
#   ./setup.sh build && cmake --build build --target bench_mlp bench_gpt
#   bench/cuda/device_bundle.sh build
# then run on the device, carrying .device:  bash bench/cuda/device_check.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/data/fashion" "$root/.device"

progs=(bin/discover bin/discover-sandbox bin/libdiscover_cuda.so bin/bench_mlp bin/bench_gpt
       tests/inner_loop/test_cuda_parity tests/inner_loop/test_cuda_gpt_parity)
for p in "${progs[@]}"; do
  [ -f "$build/$p" ] || { echo "device_bundle: $build/$p is missing: build it first (see the header)" >&2; exit 1; }
  cp "$build/$p" "$stage/bin/"
done

# Libraries: everything ldd resolves except glibc's own and the CUDA toolkit's (the device
# has its own CUDA 13; carrying cuBLAS would also be far over the size limit).
skip='^(linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|librt\.so|libpthread\.so|libresolv\.so|libcublas|libcublasLt|libcudart)'
for p in "${progs[@]}"; do
  ldd "$build/$p" | awk '$3 ~ /^\// {print $1, $3}' | while read -r name path; do
    if ! [[ $name =~ $skip ]]; then cp -L "$path" "$stage/lib/$name"; fi
  done
done

fashion=${DISCOVER_FASHION_DIR:-/usr/share/datasets/fashion-mnist}
cp "$fashion"/*-ubyte.gz "$stage/data/fashion/"

tar -C "$stage" -cJf "$root/.device/bundle.tar.xz" .
du -h "$root/.device/bundle.tar.xz"
echo "device_bundle: $(ls "$stage/bin" | wc -l) programs, $(ls "$stage/lib" | wc -l) libraries"
