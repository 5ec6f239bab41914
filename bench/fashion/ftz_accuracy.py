#!/usr/bin/env python3
"""ftz_accuracy.py - does flush-to-zero / denormals-are-zero change what the fashion task learns?

  bench/fashion/ftz_accuracy.py [--discover build/bin/discover] [--seeds 1,2,3]

Trains examples/objectives/fashion/cross_entropy.c at the default configuration once per seed
with FTZ/DAZ on (as always) and once with them off (DISCOVER_FTZ=0, the switch that exists
for this check only: inner_loop/backend.h), the two runs of a seed one after the other.
Prints a Markdown table (per seed and mean: test accuracy, validation accuracy, seconds) and
the verdict: the mean difference against the seed-to-seed spread (sample sd over the seeds of
the FTZ-on runs). Paste it into bench/RESULTS-cpu.md."""
import argparse, json, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(discover, seed, ftz):
    env = dict(os.environ)
    env.pop("DISCOVER_FTZ", None)
    if not ftz:
        env["DISCOVER_FTZ"] = "0"
    path = os.path.join("examples", "objectives", "fashion", "cross_entropy.c")
    t0 = time.monotonic()
    p = subprocess.run([discover, "eval", path, "--task", "fashion", "--seeds", str(seed), "--json"],
                       capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.monotonic() - t0
    try:
        out = json.loads(p.stdout)
    except json.JSONDecodeError:
        sys.exit(f"discover eval did not print JSON (exit {p.returncode}):\n{p.stderr}")
    if out.get("status") != "ok":
        sys.exit(f"seed {seed} ftz={ftz}: {out.get('status')}: {out.get('message')}")
    return out["test_accuracy"], out["fitness"], wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--discover", default=os.path.join(ROOT, "build", "bin", "discover"))
    ap.add_argument("--seeds", default="1,2,3")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    print(f"Date {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; load average at start "
          f"{os.getloadavg()[0]:.2f}; {a.discover}\n")
    print("| seed | test accuracy, FTZ/DAZ on | test accuracy, off | on − off | validation, on | "
          "validation, off | seconds on / off |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    on, off = [], []
    for s in seeds:
        r_on = run(a.discover, s, True)
        r_off = run(a.discover, s, False)
        on.append(r_on)
        off.append(r_off)
        print(f"| {s} | {r_on[0]:.4f} | {r_off[0]:.4f} | {r_on[0] - r_off[0]:+.4f} | {r_on[1]:.4f} | "
              f"{r_off[1]:.4f} | {r_on[2]:.1f} / {r_off[2]:.1f} |", flush=True)
    m_on = statistics.mean(r[0] for r in on)
    m_off = statistics.mean(r[0] for r in off)
    v_on = statistics.mean(r[1] for r in on)
    v_off = statistics.mean(r[1] for r in off)
    print(f"| mean | {m_on:.4f} | {m_off:.4f} | {m_on - m_off:+.4f} | {v_on:.4f} | {v_off:.4f} | |")
    if len(seeds) > 1:
        sd = statistics.stdev(r[0] for r in on)
        diff = abs(m_on - m_off)
        verdict = "within" if diff <= sd else "NOT within"
        print(f"\nSeed sd of the test accuracy (FTZ on, {len(seeds)} seeds): {sd:.4f}; "
              f"|mean difference| {diff:.4f}: {verdict} seed noise. Load average at the end "
              f"{os.getloadavg()[0]:.2f}.")


if __name__ == "__main__":
    main()
