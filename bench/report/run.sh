#!/bin/sh
# Times `discover report` on a synthetic archive (gen_archive.c) and prints the medians.
# Usage: bench/report/run.sh [BUILD_DIR (default build)] [N candidates (5000)] [RUNS (5)]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
n=${2:-5000}
runs=${3:-5}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc -O2 -std=c11 -D_GNU_SOURCE -I"$root" -I"$root/common" "$here/gen_archive.c" \
  "$build/archive/libdc_archive.a" "$build/common/libdc_common.a" \
  $(pkg-config --libs libcjson) -lsqlite3 -lm -o "$tmp/gen_archive"
t0=$(date +%s.%N)
"$tmp/gen_archive" "$tmp/a.db" "$n"
t1=$(date +%s.%N)
echo "archive: $n candidates, $(du -k "$tmp/a.db" | cut -f1) KiB, built in $(echo "$t1 - $t0" | bc) s"
: > "$tmp/times"
i=0
while [ $i -lt "$runs" ]; do
  s=$(date +%s.%N)
  "$build/bin/discover" report --archive "$tmp/a.db" -o "$tmp/report.html" 2>"$tmp/log"
  e=$(date +%s.%N)
  echo "$e - $s" | bc >> "$tmp/times"
  i=$((i + 1))
done
cat "$tmp/log"
echo "report: $(stat -c %s "$tmp/report.html") bytes"
echo "wall seconds per run: $(sort -n "$tmp/times" | tr '\n' ' ')"
echo "median: $(sort -n "$tmp/times" | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}') s"
# In-browser load time: the page with a probe appended that records performance.now() at
# the load event (after parsing, layout and the page's own script), read from the DOM dump.
if command -v chromium >/dev/null 2>&1 && [ "${BENCH_BROWSER:-1}" = 1 ]; then
  cp "$tmp/report.html" "$tmp/probe.html"
  echo '<script>addEventListener("load",function(){document.body.setAttribute("data-load-ms",performance.now().toFixed(0))})</script>' >> "$tmp/probe.html"
  : > "$tmp/load"
  i=0
  while [ $i -lt 3 ]; do
    chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
      --disable-sync --no-first-run --user-data-dir="$tmp/profile$i" --dump-dom "file://$tmp/probe.html" \
      2>/dev/null | grep -o 'data-load-ms="[0-9]*"' | tr -dc '0-9' >> "$tmp/load"
    echo >> "$tmp/load"
    i=$((i + 1))
  done
  echo "chromium load event, ms (3 runs): $(sort -n "$tmp/load" | tr '\n' ' ')"
fi
