#!/usr/bin/env bash
# bench_mpi.sh — what does running a campaign's evaluators as MPI ranks cost on one
# machine? `mpirun -np 3 discover run` (rank 0 the campaign, ranks 1 and 2 evaluators)
# against `discover run --jobs 2`, the same campaign (same seed: the archives must be equal).
#
#   bench/outer/bench_mpi.sh [RUNS] [GENERATIONS]     (defaults 3 and 8)
#
# Configuration: the offline evolve proposer on the demo configuration of fashion
# (train_size=4000 val_size=5000 steps=1000 noise=0.4), seed 1. Runs alternate (jobs, mpi,
# mpi, jobs, ...) so a change of load hits both; the medians and the overhead
# (median mpi / median jobs - 1) are printed with the machine, date and load.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
GENS=${2:-8}
BIN=$PWD/build/bin/discover
MPIRUN=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export DISCOVER_CACHE=$tmp/cache
TASK=(--task fashion --proposer evolve --seed 1 --generations "$GENS" --set train_size=4000
      --set val_size=5000 --set steps=1000 --set noise=0.4)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)  runs: $RUNS  generations: $GENS  $($MPIRUN --version | head -1)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# one unmeasured run fills the task cache (the data set, decoded once)
"$BIN" run --quiet "${TASK[@]}" --generations 1 --archive "$tmp/warm.db" --campaign w >/dev/null 2>&1
for r in $(seq 1 "$RUNS"); do
  # odd runs --jobs first, even runs mpirun first: neither gains from going second
  order="jobs mpi"
  [ $((r % 2)) -eq 0 ] && order="mpi jobs"
  for mode in $order; do
    db=$tmp/$mode$r.db
    t0=$(date +%s.%N)
    if [ $mode = jobs ]; then
      "$BIN" run --quiet "${TASK[@]}" --jobs 2 --archive "$db" --campaign b >/dev/null 2>&1
    else
      "$MPIRUN" --oversubscribe --bind-to none -np 3 "$BIN" run --quiet "${TASK[@]}" \
        --archive "$db" --campaign b >/dev/null 2>&1
    fi
    t1=$(date +%s.%N)
    echo "$mode $r $(awk "BEGIN{print $t1 - $t0}") $(cut -d' ' -f1 /proc/loadavg)"
  done
done | tee "$tmp/times"
# The same seed gives the same archive, unless the machine is so loaded that a sandbox
# request outran its watchdog (a timeout in one run and not the other; both paths alike):
# such runs are listed with their differing rows, and still timed.
q="select name, code_hash, status, fitness, test_metric, generation, island from candidates order by id"
same=0
for r in $(seq 1 "$RUNS"); do
  if [ "$(sqlite3 "$tmp/jobs$r.db" "$q" | md5sum)" = "$(sqlite3 "$tmp/mpi$r.db" "$q" | md5sum)" ]; then
    same=$((same + 1))
  else
    echo "run $r: the archives differ (< --jobs 2, > mpirun):"
    diff <(sqlite3 "$tmp/jobs$r.db" "select id, name, status, substr(message, 1, 90), fitness from candidates order by id") \
         <(sqlite3 "$tmp/mpi$r.db" "select id, name, status, substr(message, 1, 90), fitness from candidates order by id") || true
  fi
done
echo "archives: equal in $same of $RUNS runs ($(sqlite3 "$tmp/mpi1.db" "select count(*) from candidates") candidates each)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$tmp/times" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = {m: statistics.median(float(r[2]) for r in rows if r[0] == m) for m in ("jobs", "mpi")}
print(f"median seconds: --jobs 2 {med['jobs']:.2f}, mpirun -np 3 {med['mpi']:.2f}; "
      f"overhead {100 * (med['mpi'] / med['jobs'] - 1):+.1f} %")
PY
