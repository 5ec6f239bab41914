#!/usr/bin/env bash
# bench_parallel.sh — candidates per hour of a `fashion` campaign, one lane against the
# campaign engine (several evaluators, LLM calls in flight), side by side in one run.
#
#   bench/outer/bench_parallel.sh [ROUNDS] [GENERATIONS] [DELAY_S]     (defaults 2, 12, 5)
#
# Rows, each ROUNDS times, interleaved so that every row sees the same machine load:
#   llm    --jobs 1                 the loopback LLM (bench/outer/loopback_llm.c): a real
#   llm    --jobs 2 --in-flight 4   candidate reply after DELAY_S seconds, every one distinct
#   evolve --jobs 1                 the offline proposer
#   evolve --jobs 2
# Each campaign: task fashion at its default configuration (2,000 steps, 50,000 training
# images), one seed baseline (cross_entropy), GENERATIONS proposals. Candidates per hour =
# GENERATIONS / (wall time of the campaign - wall time of the same campaign with 0
# generations and the same --jobs, measured in the same round), so start-up, data loading
# and the baseline do not count. The loopback replies carry an analytic objective_grad.
# Prints a markdown table (machine, date, load, every run, medians, ratios).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-2}
GENS=${2:-12}
DELAY=${3:-5}
BUILD=${BUILD:-build}
cmake --build "$BUILD" -j"$(nproc)" --target discover discover-sandbox loopback_llm >/dev/null
BIN=$BUILD/bin/discover
LOOP=$(find "$BUILD" -name loopback_llm -type f -perm -u+x | head -1)
tmp=$(mktemp -d)
"$LOOP" --delay "$DELAY" --lifetime 7200 "$tmp/url" &
loop_pid=$!
trap 'kill $loop_pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do [ -s "$tmp/url" ] && break; sleep 0.1; done
URL=$(cat "$tmp/url")
export DISCOVER_CACHE=$tmp/cache

run() { # run NAME GENERATIONS ARGS... → prints seconds
  local name=$1 gens=$2
  shift 2
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" run --task fashion --baselines cross_entropy --generations "$gens" --seed 1 \
    --archive "$tmp/$name.db" --campaign "$name" --quiet "$@" >/dev/null 2>"$tmp/$name.err" ||
    { echo "bench_parallel: $name failed:" >&2; cat "$tmp/$name.err" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk "BEGIN{printf \"%.2f\", $t1 - $t0}"
}

echo "# bench_parallel: candidates per hour, fashion (default configuration)"
echo
echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); rounds: $ROUNDS; generations: $GENS; LLM delay: $DELAY s"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
rows=("llm1:--proposer llm --model loopback --api-base $URL --jobs 1"
      "llm2:--proposer llm --model loopback --api-base $URL --jobs 2 --in-flight 4"
      "evolve1:--proposer evolve --jobs 1"
      "evolve2:--proposer evolve --jobs 2")
declare -A per_hour
echo "| round | row | wall s | 0-generation wall s | candidates/hour | load after |"
echo "| --- | --- | --- | --- | --- | --- |"
for r in $(seq "$ROUNDS"); do
  base1=$(run "base1-$r" 0 --proposer evolve --jobs 1)
  base2=$(run "base2-$r" 0 --proposer evolve --jobs 2)
  for row in "${rows[@]}"; do
    name=${row%%:*}
    base=$base1
    [ "${name: -1}" = 2 ] && base=$base2
    # shellcheck disable=SC2086
    wall=$(run "$name-$r" "$GENS" ${row#*:})
    cph=$(awk "BEGIN{printf \"%.0f\", $GENS * 3600 / ($wall - $base)}")
    per_hour[$name]="${per_hour[$name]:-} $cph"
    echo "| $r | $name | $wall | $base | $cph | $(cut -d' ' -f1-3 /proc/loadavg) |"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.0f", m}'; }
echo
echo "| row | median candidates/hour | vs --jobs 1 |"
echo "| --- | --- | --- |"
l1=$(echo "${per_hour[llm1]}" | median); l2=$(echo "${per_hour[llm2]}" | median)
e1=$(echo "${per_hour[evolve1]}" | median); e2=$(echo "${per_hour[evolve2]}" | median)
echo "| llm, --jobs 1 | $l1 | 1.00 |"
echo "| llm, --jobs 2 --in-flight 4 | $l2 | $(awk "BEGIN{printf \"%.2f\", $l2 / $l1}") |"
echo "| evolve, --jobs 1 | $e1 | 1.00 |"
echo "| evolve, --jobs 2 | $e2 | $(awk "BEGIN{printf \"%.2f\", $e2 / $e1}") |"
