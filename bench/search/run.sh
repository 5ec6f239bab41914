#!/usr/bin/env bash
# bench/search/run.sh — does the search discover anything? (issue #18)
#
#   bench/search/run.sh [SEEDS] [GENERATIONS] [CONFIGS]      defaults: 5 30 "demo default"
#   SENTIMENT=1 bench/search/run.sh ...                       adds the sentiment part
#   KEEP=DIR bench/search/run.sh ...                          keeps the archives in DIR
#   SENTIMENT=1 bench/search/run.sh 5 30 none                 the sentiment part alone
#
# fashion, per configuration (demo: the demo's small noisy regime, 4,000 training images,
# 40 % label noise, 1,000 steps; default: the default configuration with --noise 0.4):
#   evolve and random, GENERATIONS candidates each, campaign seeds 1..SEEDS, each campaign
#   ending with --confirm 3 (its top 3 by search fitness re-trained on the fresh seeds
#   S+1000, S+1001, S+1002, never used by the search); the confirmed winner's held-out test
#   accuracy on those seeds against the best shipped baseline (sce.c, symmetric
#   cross-entropy) trained on the same fresh seeds.
# sentiment (SENTIMENT=1; SENT_SEEDS campaign seeds, default 3, SENT_GENS candidates each,
#   default 20): the confirmed winner's test reward and per-token KL at beta in
#   {0.05, 0.1, 0.25, 0.5} against DPO's frontier on the confirmation seeds;
#   SENT_SEARCH_BETA=0.05,0.1,0.25,0.5 makes the search itself train at all four (4x the time).
# Prints a markdown report: machine, date, load, every campaign, means with standard errors.
set -euo pipefail
cd "$(dirname "$0")/../.."
SEEDS=${1:-5}
GENS=${2:-30}
CONFIGS=${3:-demo default}
[ "$CONFIGS" = none ] && CONFIGS= # "none": the sentiment part alone
BIN=${BIN:-build/bin/discover}
[ -x "$BIN" ] || { echo "bench/search: build first (./setup.sh build)" >&2; exit 1; }
if [ -n "${KEEP:-}" ]; then # KEEP=DIR keeps every archive and JSON file for a later look
  out=$KEEP
  mkdir -p "$out"
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
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
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
[ -z "$CONFIGS" ] || echo "- fashion ($CONFIGS): campaign seeds 1..$SEEDS; $GENS candidates per campaign"
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
[ -z "$CONFIGS" ] ||
  echo "- fashion wall time: $(( $(date +%s) - t_start )) s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "$CONFIGS" ] || python3 - "$out" "$SEEDS" "$CONFIGS" <<'PY'
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
  SG=${SENT_GENS:-20}
  SB=${SENT_SEARCH_BETA:-0.05} # the β list the campaigns train at (the task's default: 0.05)
  BETAS="0.05 0.1 0.25 0.5"
  # DPO's frontier is traced densely: a winner that is DPO at another effective β (a scale s
  # or a logistic slope) lies on DPO's true frontier, and only a dense trace shows that (the
  # chord between four β points runs under a concave frontier)
  DPO_BETAS=${DPO_BETAS:-0.02,0.03,0.05,0.07,0.1,0.14,0.18,0.25,0.35,0.5,0.7,1,1.4,2}
  echo
  echo "## sentiment ($SG candidates, campaign seeds 1..$SS, searched at β = $SB)"
  echo
  t_sent=$(date +%s)
  for s in $(seq "$SS"); do
    seeds="$((s + 1000)),$((s + 1001)),$((s + 1002))"
    # DPO on the fresh seeds, once per campaign seed, at every β of its frontier
    "$BIN" eval examples/objectives/sentiment/dpo.c --task sentiment --beta "$DPO_BETAS" \
      --seeds "$seeds" --json > "$out/sent-dpo-$s.json" 2> "$out/sent-dpo-$s.err"
    for p in evolve random; do
      "$BIN" run --task sentiment --beta "$SB" --proposer "$p" --seed "$s" --generations "$SG" --confirm 3 \
        --archive "$out/sent-$p-$s.db" --campaign c --quiet --json > "$out/sent-$p-$s.json"
      id=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['winner_id'])" "$out/sent-$p-$s.json")
      "$BIN" export "$id" --archive "$out/sent-$p-$s.db" > "$out/sent-$p-$s.c"
      for b in $BETAS; do
        "$BIN" eval "$out/sent-$p-$s.c" --task sentiment --beta "$b" --seeds "$seeds" --json \
          > "$out/sent-$p-$s-$b.json" 2> "$out/sent-$p-$s-$b.err"
      done
    done
  done
  echo "- wall time: $(( $(date +%s) - t_sent )) s; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  python3 - "$out" "$SS" "$BETAS" "$DPO_BETAS" <<'PY'
import json, math, sys, statistics as st
out, seeds, betas = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
dpo_betas = ["%g" % float(b) for b in sys.argv[4].split(",")]
def mse(xs):
    m = st.mean(xs)
    return m, (st.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan"))
def point(f, b):
    """(test KL, test reward) at beta b, averaged over the fresh seeds."""
    per = json.load(open(f))["per_seed"]
    return (st.mean(p[f"beta_{b}/test_kl"] for p in per),
            st.mean(p[f"beta_{b}/test_reward"] for p in per))
def ref_point(f):
    """pi_ref itself: KL 0 and its test reward (every method reaches it as beta grows)."""
    return (0.0, st.mean(p["ref_test_reward"] for p in json.load(open(f))["per_seed"]))
def hull(pts):
    """DPO's frontier: the upper concave envelope of its points (its beta points and pi_ref
    at KL 0) up to its best reward, flat beyond. A point under it is matched by mixing two
    DPO policies, so this is what a winner has to beat (noise in the points only raises it)."""
    pts = sorted(pts)
    best = max(range(len(pts)), key=lambda i: pts[i][1])
    h = []
    for p in pts[:best + 1]:
        while len(h) >= 2 and ((h[-1][0] - h[-2][0]) * (p[1] - h[-2][1]) -
                               (h[-1][1] - h[-2][1]) * (p[0] - h[-2][0])) >= 0:
            h.pop()
        h.append(p)
    return h
def frontier(h, k):
    """DPO's best test reward at a per-token KL of at most k, on the envelope h."""
    if k >= h[-1][0]: return h[-1][1]
    if k <= h[0][0]: return h[0][1]
    for (k0, r0), (k1, r1) in zip(h, h[1:]):
        if k0 <= k <= k1:
            return r0 + (r1 - r0) * (k - k0) / (k1 - k0) if k1 > k0 else max(r0, r1)
print("Points are (per-token KL, reward) on the held-out test prompts, mean of the 3 fresh seeds.")
print("\"above\": the winner's reward exceeds DPO's frontier at the winner's KL: the upper concave envelope of DPO")
print(f"trained at the {len(dpo_betas)} β {', '.join(dpo_betas)} and of π_ref at KL 0, flat beyond DPO's best reward.")
print("\"DPO at β\" is DPO trained at the same β as the winner's row.\n")
print("| proposer | seed | winner | confirmed test fitness | β | winner KL | winner reward | DPO at β: KL | DPO at β: reward | DPO frontier at winner's KL | above |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
above = {"evolve": [], "random": []}
fit = {"evolve": [], "random": []}
margin = {"evolve": [], "random": []}
for s in range(1, seeds + 1):
    dpo = {b: point(f"{out}/sent-dpo-{s}.json", b) for b in dpo_betas}
    envelope = hull(list(dpo.values()) + [ref_point(f"{out}/sent-dpo-{s}.json")])
    for p in ("evolve", "random"):
        j = json.load(open(f"{out}/sent-{p}-{s}.json"))
        fit[p].append(j["winner_test_metric"])
        n = 0
        for b in betas:
            k, r = point(f"{out}/sent-{p}-{s}-{b}.json", b)
            fr = frontier(envelope, k)
            n += r > fr
            margin[p].append(r - fr)
            print(f"| {p} | {s} | {j['winner_name']} | {j['winner_test_metric']:.4f} | {b} | {k:.4f} | {r:.4f} | "
                  f"{dpo[b][0]:.4f} | {dpo[b][1]:.4f} | {fr:.4f} | {'yes' if r > fr else 'no'} |")
        above[p].append(n)
print("\n| proposer | campaigns whose winner is above DPO at >= 3 of 4 β | β above, per campaign | reward − DPO frontier, mean ± SE over all points | mean confirmed test fitness |")
print("| --- | --- | --- | --- | --- |")
for p in ("evolve", "random"):
    m, se = mse(margin[p])
    print(f"| {p} | {sum(n >= 3 for n in above[p])} of {seeds} | {', '.join(map(str, above[p]))} | {m:+.4f} ± {se:.4f} | {st.mean(fit[p]):.4f} |")
d = [a - b for a, b in zip(fit["evolve"], fit["random"])]
m, se = mse(d)
print(f"\nevolve − random, paired by campaign seed: {m:+.4f} ± {se:.4f} confirmed test fitness (reward − 0.25 × KL).")
PY
fi
