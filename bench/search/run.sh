#!/usr/bin/env bash
# bench/search/run.sh — does the search discover anything? (issue #18)
#
#   bench/search/run.sh [SEEDS] [GENERATIONS] [CONFIGS]      defaults: 5 30 "demo default"
#   SENTIMENT=1 bench/search/run.sh ...                       adds the sentiment part
#
# fashion, per configuration (demo: the demo's small noisy regime, 4,000 training images,
# 40 % label noise, 1,000 steps; default: the default configuration with --noise 0.4):
#   evolve and random, GENERATIONS candidates each, campaign seeds 1..SEEDS, each campaign
#   ending with --confirm 3 (its top 3 by search fitness re-trained on the fresh seeds
#   S+1000, S+1001, S+1002, never used by the search); the confirmed winner's held-out test
#   accuracy on those seeds against the best shipped baseline (sce.c, symmetric
#   cross-entropy) trained on the same fresh seeds.
# sentiment (SENTIMENT=1; SENT_SEEDS campaign seeds, default 3, 20 candidates each): the
#   confirmed winner's reward and per-token KL at beta in {0.05, 0.1, 0.25, 0.5} against DPO's
#   on the confirmation seeds.
# Prints a markdown report: machine, date, load, every campaign, means with standard errors.
set -euo pipefail
cd "$(dirname "$0")/../.."
SEEDS=${1:-5}
GENS=${2:-30}
CONFIGS=${3:-demo default}
BIN=${BIN:-build/bin/discover}
[ -x "$BIN" ] || { echo "bench/search: build first (./setup.sh build)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
export DISCOVER_CACHE=${DISCOVER_CACHE:-$HOME/.cache/discover}

flags_of() {
  case $1 in
    demo) echo "--set train_size=4000 --set val_size=5000 --set steps=1000 --noise 0.4" ;;
    default) echo "--noise 0.4" ;;
    *) echo "bench/search: unknown configuration '$1' (demo or default)" >&2; exit 1 ;;
  esac
}

echo "# bench/search: evolve against random, winners confirmed on fresh seeds"
echo
echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ); campaign seeds 1..$SEEDS; $GENS candidates per campaign"
echo "- load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
t_start=$(date +%s)
for cfg in $CONFIGS; do
  # shellcheck disable=SC2046
  for s in $(seq "$SEEDS"); do
    for p in evolve random; do
      "$BIN" run --task fashion $(flags_of "$cfg") --proposer "$p" --seed "$s" \
        --generations "$GENS" --confirm 3 --archive "$out/$cfg-$p-$s.db" --campaign c \
        --quiet --json > "$out/$cfg-$p-$s.json"
    done
    # the best shipped baseline on the same fresh seeds
    "$BIN" eval examples/objectives/fashion/sce.c --task fashion $(flags_of "$cfg") \
      --seeds "$((s + 1000)),$((s + 1001)),$((s + 1002))" --json > "$out/$cfg-sce-$s.json" \
      2> "$out/$cfg-sce-$s.err"
  done
done
echo "- wall time: $(( $(date +%s) - t_start )) s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" "$SEEDS" "$CONFIGS" <<'PY'
import json, math, sys, statistics as st
out, seeds, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
def mse(xs):
    m = st.mean(xs)
    se = st.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
    return m, se
def test_of(evaljson):
    j = json.load(open(evaljson))
    if "test_metric" in j: return j["test_metric"]
    per = j.get("per_seed") or []
    return st.mean(p["test_metric"] for p in per)
for cfg in configs:
    print(f"\n## fashion, {cfg} configuration\n")
    print("| proposer | seed | winner | search fitness | confirmed fitness (3 fresh seeds) | confirmed test | sce test, same seeds | winner − sce (points) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    diffs = {"evolve": [], "random": []}
    tests = {"evolve": [], "random": []}
    for s in range(1, seeds + 1):
        sce = test_of(f"{out}/{cfg}-sce-{s}.json")
        for p in ("evolve", "random"):
            j = json.load(open(f"{out}/{cfg}-{p}-{s}.json"))
            t = j.get("winner_test_metric")
            d = 100 * (t - sce)
            diffs[p].append(d); tests[p].append(t)
            print(f"| {p} | {s} | {j.get('winner_name')} | {j.get('winner_search_fitness'):.4f} | "
                  f"{j.get('winner_confirmed_fitness'):.4f} | {t:.4f} | {sce:.4f} | {d:+.2f} |")
    print("\n| proposer | mean confirmed test | winner − sce, mean ± SE (points) | campaigns with winner > sce |")
    print("| --- | --- | --- | --- |")
    for p in ("evolve", "random"):
        m, se = mse(diffs[p])
        print(f"| {p} | {st.mean(tests[p]):.4f} | {m:+.2f} ± {se:.2f} | {sum(d > 0 for d in diffs[p])} of {seeds} |")
    ev = [a - b for a, b in zip(diffs["evolve"], diffs["random"])]
    m, se = mse(ev)
    print(f"\nevolve − random, paired by campaign seed: {m:+.2f} ± {se:.2f} points of confirmed test accuracy.")
PY
if [ "${SENTIMENT:-0}" = 1 ]; then
  SS=${SENT_SEEDS:-3}
  echo
  echo "## sentiment (20 candidates, campaign seeds 1..$SS)"
  echo
  echo "| proposer | seed | winner | beta | winner reward | winner KL | DPO reward | DPO KL |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for s in $(seq "$SS"); do
    for p in evolve random; do
      "$BIN" run --task sentiment --proposer "$p" --seed "$s" --generations 20 --confirm 3 \
        --archive "$out/sent-$p-$s.db" --campaign c --quiet --json > "$out/sent-$p-$s.json"
      id=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['winner_id'])" "$out/sent-$p-$s.json")
      "$BIN" export "$id" --archive "$out/sent-$p-$s.db" > "$out/sent-$p-$s.c"
      for b in 0.05 0.1 0.25 0.5; do
        seeds="$((s + 1000)),$((s + 1001)),$((s + 1002))"
        "$BIN" eval "$out/sent-$p-$s.c" --task sentiment --beta "$b" --seeds "$seeds" --json \
          > "$out/w.json" 2> "$out/w.err"
        "$BIN" eval examples/objectives/sentiment/dpo.c --task sentiment --beta "$b" --seeds "$seeds" \
          --json > "$out/d.json" 2> "$out/d.err"
        python3 - "$out/w.json" "$out/d.json" "$p" "$s" "$b" <<'PY'
import json, sys, statistics as st
def rk(f):
    j = json.load(open(f)); per = j.get("per_seed") or [j]
    r = st.mean(p["metrics"]["reward"] if "metrics" in p else p["reward"] for p in per)
    k = st.mean(p["metrics"]["kl_per_token"] if "metrics" in p else p["kl_per_token"] for p in per)
    return r, k
w, d = rk(sys.argv[1]), rk(sys.argv[2])
print(f"| {sys.argv[3]} | {sys.argv[4]} | | {sys.argv[5]} | {w[0]:.4f} | {w[1]:.4f} | {d[0]:.4f} | {d[1]:.4f} |")
PY
      done
    done
  done
fi
