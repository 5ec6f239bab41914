#!/usr/bin/env python3
"""bench_sentiment.py - timings and the beta sweep of task `sentiment` through `discover eval`.

  bench/sentiment/bench_sentiment.py [--discover build/bin/discover] [--runs 3]
                                     [--seeds 1,2,3] [--betas 0.05,0.1,0.25,0.5]
                                     [--objectives dpo,hinge,lrml] [--skip-sweep]

Part 1 (default configuration, examples/objectives/sentiment/dpo.c, seed 1):
  - the first run with an empty cache (DISCOVER_CACHE is a fresh folder): vocabulary,
    pretraining, SFT and pairs are built once, then the candidate runs;
  - --runs more runs with the cache warm: seconds per candidate (sandbox start, compile,
    pre-screen, preference optimisation at one beta, scoring) and training tokens per second
    (metric train_tokens_per_second: forward + backward + AdamW of the PO steps); medians.
Part 2: every objective of --objectives (examples/objectives/sentiment/NAME.c) at every beta,
  over --seeds: mean held-out (validation) reward and per-token KL to pi_ref, mean over seeds,
  with pi_ref's reward for reference.
Prints a Markdown report on stdout (paste it into bench/RESULTS-sentiment.md). Run it with
`nice`, alone: it keeps both cores busy for many minutes."""
import argparse, json, os, platform, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_eval(discover, path, extra, env):
    t0 = time.monotonic()
    p = subprocess.run([discover, "eval", path, "--task", "sentiment", "--json"] + extra,
                       capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.monotonic() - t0
    try:
        out = json.loads(p.stdout)
    except json.JSONDecodeError:
        sys.exit(f"discover eval {path} did not print JSON (exit {p.returncode}):\n{p.stderr}")
    if out.get("status") != "ok":
        sys.exit(f"{path} failed: {out.get('status')}: {out.get('message')}")
    return out, wall


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--discover", default=os.path.join(ROOT, "build", "bin", "discover"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--betas", default="0.05,0.1,0.25,0.5")
    ap.add_argument("--objectives", default="dpo,hinge,lrml")
    ap.add_argument("--skip-sweep", action="store_true")
    a = ap.parse_args()

    cache = tempfile.mkdtemp(prefix="dc_sentiment_bench_")
    env = dict(os.environ, DISCOVER_CACHE=cache, DISCOVER_HOME=ROOT)
    dpo = os.path.join("examples", "objectives", "sentiment", "dpo.c")
    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores; load average at start "
          f"{os.getloadavg()[0]:.1f}. Date: {time.strftime('%Y-%m-%d')}. Cache: {cache}.\n")

    out, cold = run_eval(a.discover, dpo, [], env)
    print(f"Cold start (empty cache: vocabulary + pretrain + SFT + pairs, then one candidate): "
          f"{cold:.1f} s wall.\n")
    walls, tps, rewards = [], [], []
    for _ in range(a.runs):
        out, wall = run_eval(a.discover, dpo, [], env)
        m = out["metrics"]
        walls.append(wall)
        tps.append(m["train_tokens_per_second"])
        rewards.append((m["ref_reward"], m["reward"], m["kl"]))
    print("| default configuration, dpo.c, seed 1, cache warm | runs | median |")
    print("| --- | --- | --- |")
    print(f"| seconds per candidate (wall, whole `discover eval`) | {a.runs} | "
          f"{statistics.median(walls):.1f} s (all: {', '.join(f'{w:.1f}' for w in walls)}) |")
    print(f"| training tokens per second (PO forward + backward + AdamW) | {a.runs} | "
          f"{statistics.median(tps):.0f} |")
    r = rewards[0]
    print(f"| ref reward -> DPO reward, KL (seed 1) | 1 | {r[0]:.3f} -> {r[1]:.3f}, {r[2]:.3f} |\n")
    if a.skip_sweep:
        return
    betas = a.betas.split(",")
    print(f"Beta sweep (validation prompts; mean over seeds {a.seeds}; reward / per-token KL):\n")
    print("| objective | " + " | ".join(f"beta {b}" for b in betas) + " | ref reward | seconds |")
    print("| --- |" + " --- |" * (len(betas) + 2))
    per_seed = []
    for name in a.objectives.split(","):
        path = os.path.join("examples", "objectives", "sentiment", name + ".c")
        out, wall = run_eval(a.discover, path, ["--set", "beta=" + a.betas, "--seeds", a.seeds],
                             env)
        m = out["metrics"]
        cells = [f"{m['beta_' + b + '/reward']:.3f} / {m['beta_' + b + '/kl']:.3f}" for b in betas]
        print(f"| {name} | " + " | ".join(cells) + f" | {m['ref_reward']:.3f} | {wall:.0f} |")
        per_seed.append((name, out.get("per_seed", [])))
        sys.stdout.flush()
    # the seed spread, so differences between objectives can be read against it
    print(f"\nPer seed (reward / KL; seeds {a.seeds}) and the sample sd over seeds:\n")
    print("| objective | beta | " + " | ".join(f"seed {x}" for x in a.seeds.split(",")) +
          " | sd reward | sd KL |")
    print("| --- | --- |" + " --- |" * (len(a.seeds.split(",")) + 2))
    for name, seeds in per_seed:
        for b in betas:
            rw = [s_.get("beta_" + b + "/reward") for s_ in seeds]
            kl = [s_.get("beta_" + b + "/kl") for s_ in seeds]
            if any(v is None for v in rw + kl):
                continue
            sd_r = statistics.stdev(rw) if len(rw) > 1 else float("nan")
            sd_k = statistics.stdev(kl) if len(kl) > 1 else float("nan")
            cells = [f"{r:.3f} / {k:.3f}" for r, k in zip(rw, kl)]
            print(f"| {name} | {b} | " + " | ".join(cells) + f" | {sd_r:.3f} | {sd_k:.3f} |")


if __name__ == "__main__":
    main()
