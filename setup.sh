#!/usr/bin/env bash
# setup.sh — install what is missing, build, then run the demo or the test suite.
#
#   ./setup.sh run     install + build + `discover demo` (an offline campaign; no API key)
#   ./setup.sh test    install + build + the whole test suite (normal and ASan+UBSan builds)
#   ./setup.sh deps    only install the Debian packages
#   ./setup.sh build   install + build (build/bin/discover)
#
# As root it installs missing Debian 12 packages with apt-get; otherwise it prints the exact
# apt-get line to run. Environment: JOBS (parallel build jobs, default: all cores),
# DISCOVER_SKIP_ASAN=1 (test: skip the sanitizer build).
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  build-essential cmake pkg-config
  libtcc-dev tcc                 # the candidate compiler (libtcc.a) and its runtime (libtcc1.a)
  libcurl4-openssl-dev           # HTTP to OpenAI-compatible endpoints
  libcjson-dev                   # JSON
  libsqlite3-dev                 # the archive
  libseccomp-dev                 # the sandbox's system-call filter
  libopenblas-dev                # CPU matrix products
  zlib1g-dev                     # gzipped data files
  dataset-fashion-mnist          # task `fashion`
  fortunes fortunes-min          # English text for pretraining the `sentiment` model
  libopenmpi-dev openmpi-bin     # campaigns across machines (mpirun/srun); optional at build time
)
# Only the test suite needs these: the report test renders pages in headless Chromium; the
# export test runs the modules of `discover export --format pytorch` with PyTorch.
TEST_PACKAGES=(chromium python3-torch)

install_deps() { # install_deps [extra packages...]
  local missing=()
  for p in "${PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing Debian packages. Install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

JOBS=${JOBS:-$(nproc)}

build() { # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
  cmake --build "$dir" -j"$JOBS"
}

cmd=${1:-run}
case "$cmd" in
  deps) install_deps ;;
  build) install_deps; build build ;;
  run)
    install_deps
    build build
    shift || true
    exec ./build/bin/discover demo "$@"
    ;;
  test)
    install_deps "${TEST_PACKAGES[@]}"
    build build
    (cd build && ctest --output-on-failure -j"$JOBS")
    if [ "${DISCOVER_SKIP_ASAN:-0}" != 1 ]; then
      echo "== ASan+UBSan build of the test suite =="
      build build-asan -DDISCOVER_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
      (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --output-on-failure -j"$JOBS" -LE no_sanitizer)
    fi
    ;;
  -h|--help|help) sed -n '2,13p' "$0" ;;
  *) echo "setup.sh: unknown command '$cmd' (use run, test, deps or build)" >&2; exit 1 ;;
esac
