#!/usr/bin/env bash
# run.sh — does evolve's selection find better losses than random draws from the same
# grammar, judged on fresh seeds rather than by search fitness?
#
#   bench/search/run.sh [RUNS] [GENERATIONS] [TASK] [--set KEY=VALUE ...]
#       defaults: 3 runs, 20 generations, fashion at the demo's configuration
#       (train_size=4000 val_size=5000 steps=1000 noise=0.4); for sentiment pass e.g.
#       `bench/search/run.sh 3 20 sentiment` (its defaults; about 11 s per candidate)
#
# For each run seed S: one `discover run --proposer evolve --seed S` campaign and one
# `--proposer random --seed S` campaign at the same budget (the same seed baselines, then
# GENERATIONS proposals), each followed by `--confirm 3` (its three best by search fitness
# re-trained on seeds the search never used: S + 1000, 1001, 1002) and its winner named by
# mean confirmed fitness (discover confirm). Prints one line per run and proposer (search
# best, confirmed winner, its held-out test metric, seconds), then the medians and in how
# many runs evolve's confirmed winner beats random's. Write the output into
# bench/RESULTS-search.md with the machine, date and load it prints.
#
# The machine is measured as it is: run it alone (2 cores: fashion about 2 minutes per run
# and proposer at 20 generations, sentiment about 10).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
GENS=${2:-20}
TASK=${3:-fashion}
shift $(( $# < 3 ? $# : 3 ))
SETS=("$@")
if [ ${#SETS[@]} -eq 0 ] && [ "$TASK" = fashion ]; then
  SETS=(--set train_size=4000 --set val_size=5000 --set steps=1000 --set noise=0.4)
fi
BIN=build/bin/discover
[ -x "$BIN" ] || { echo "build first: $BIN is missing" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "task: $TASK  runs: $RUNS  generations: $GENS  options: ${SETS[*]:-(task defaults)}"
printf '%-5s %-7s %8s %10s %8s %8s  %s\n' seed proposer seconds search_best confirmed test winner
for s in $(seq 1 "$RUNS"); do
  for p in evolve random; do
    db="$tmp/$p$s.db"
    t0=$(date +%s.%N)
    "$BIN" run --task "$TASK" --proposer "$p" --seed "$s" --generations "$GENS" \
      --confirm 3 --archive "$db" --campaign "$p$s" --json "${SETS[@]}" > "$tmp/$p$s.json" 2> "$tmp/$p$s.log" ||
      { echo "run $p seed $s failed; see its log:" >&2; tail -5 "$tmp/$p$s.log" >&2; exit 1; }
    t1=$(date +%s.%N)
    "$BIN" ls --archive "$db" --campaign "$p$s" --json > "$tmp/ls$p$s.json"
    python3 - "$tmp/$p$s.json" "$tmp/ls$p$s.json" "$s" "$p" "$(awk "BEGIN{print $t1 - $t0}")" <<'PY'
import json, sys
run = json.load(open(sys.argv[1]))
rows = json.load(open(sys.argv[2]))
ok = [r for r in rows if r.get("status") == "ok" and r.get("fitness") is not None]
best = max(ok, key=lambda r: r["fitness"])
win = next((r for r in rows if r.get("id") == run.get("winner_id")), None)
conf = run.get("winner_confirmed_fitness")
test = run.get("winner_test_metric")
print(f"{sys.argv[3]:<5} {sys.argv[4]:<7} {float(sys.argv[5]):8.1f} {best['fitness']:10.4f} "
      f"{conf if conf is not None else float('nan'):8.4f} {test if test is not None else float('nan'):8.4f}  "
      f"{win['name'] if win else '-'}")
PY
  done
done | tee "$tmp/table"
python3 - "$tmp/table" <<'PY'
import math, statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {p: {r[0]: r for r in rows if r[1] == p} for p in ("evolve", "random")}
for p in ("evolve", "random"):
    col = lambda i: [float(r[i]) for r in by[p].values() if not math.isnan(float(r[i]))]
    print(f"{p}: median search best {statistics.median(col(3)):.4f}, median confirmed winner "
          f"{statistics.median(col(4)):.4f}, median test {statistics.median(col(5)):.4f}, "
          f"median seconds {statistics.median(col(2)):.1f}")
wins = sum(float(by["evolve"][s][4]) > float(by["random"][s][4]) for s in by["evolve"] if s in by["random"])
print(f"evolve's confirmed winner beats random's in {wins}/{len(by['evolve'])} runs")
PY
