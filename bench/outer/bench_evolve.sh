#!/usr/bin/env bash
# bench_evolve.sh — does the offline `evolve` proposer find losses that beat cross-entropy
# on the held-out test split of noisy Fashion-MNIST, and how long does `discover demo` take?
#
#   bench/outer/bench_evolve.sh [RUNS] [GENERATIONS]     (defaults 3 and 8)
#
# Each run is `discover demo --quiet --seed S` (the demo's configuration: 4,000 training
# images, 40 % symmetric label noise, 1,000 steps). It prints, per run, the wall time, the
# test accuracy of the cross-entropy seed baseline, and the test accuracy of the candidate the
# search picks (best validation fitness), then the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
GENS=${2:-8}
BIN=build/bin/discover
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  runs: $RUNS  generations: $GENS"
printf '%-5s %8s %8s %8s %8s  %s\n' seed seconds ce_test best_val best_test best_name
for s in $(seq 1 "$RUNS"); do
  db="$tmp/run$s.db"
  t0=$(date +%s.%N)
  "$BIN" demo --quiet --seed "$s" --generations "$GENS" --archive "$db" --campaign bench >/dev/null 2>&1
  t1=$(date +%s.%N)
  "$BIN" ls --archive "$db" --campaign bench --json > "$tmp/ls$s.json"
  python3 - "$tmp/ls$s.json" "$s" "$(awk "BEGIN{print $t1 - $t0}")" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
ok = [r for r in rows if r.get("status") == "ok" and r.get("fitness") is not None]
ce = next(r for r in rows if r["name"] == "cross_entropy")
best = max(ok, key=lambda r: r["fitness"])
print(f"{sys.argv[2]:<5} {float(sys.argv[3]):8.1f} {ce['test_metric']:8.4f} {best['fitness']:8.4f} {best['test_metric']:8.4f}  {best['name']}")
PY
done | tee "$tmp/table"
python3 - "$tmp/table" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
col = lambda i: [float(r[i]) for r in rows]
print(f"median seconds {statistics.median(col(1)):.1f}; median CE test {statistics.median(col(2)):.4f}; "
      f"median picked test {statistics.median(col(4)):.4f}; picked beats CE in "
      f"{sum(b > c for b, c in zip(col(4), col(2)))}/{len(rows)} runs")
PY
