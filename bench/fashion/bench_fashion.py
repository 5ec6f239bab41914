#!/usr/bin/env python3
"""bench_fashion.py - timings and accuracies of task `fashion` through `discover eval`.

  bench/fashion/bench_fashion.py [--discover build/bin/discover] [--runs 5] [--noise-seeds 1,2,3]

Part 1: the default configuration with examples/objectives/fashion/cross_entropy.c, --runs
times (seed 1): seconds per candidate (including data loading, sandbox start, compile and
pre-screen), steps per second, the share of training time spent inside sandbox calls, and
test accuracy; medians are reported.
Part 2: --noise 0.4 (symmetric label noise on the training labels) for every example
objective in examples/objectives/fashion/, over the given seeds: mean test accuracy.
Prints a Markdown report on stdout (paste it into bench/RESULTS-fashion.md)."""
import argparse, glob, json, os, platform, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_eval(discover, path, extra):
    t0 = time.monotonic()
    p = subprocess.run([discover, "eval", path, "--task", "fashion", "--json"] + extra,
                       capture_output=True, text=True, cwd=ROOT)
    wall = time.monotonic() - t0
    try:
        out = json.loads(p.stdout)
    except json.JSONDecodeError:
        sys.exit(f"discover eval {path} did not print JSON (exit {p.returncode}):\n{p.stderr}")
    return out, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--discover", default=os.path.join(ROOT, "build", "bin", "discover"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--noise-seeds", default="1,2,3")
    ap.add_argument("--skip-noise", action="store_true")
    a = ap.parse_args()

    ce = os.path.join("examples", "objectives", "fashion", "cross_entropy.c")
    walls, train_secs, steps_ps, shares, tests = [], [], [], [], []
    for _ in range(a.runs):
        out, wall = run_eval(a.discover, ce, [])
        if out["status"] != "ok":
            sys.exit(f"cross_entropy failed: {out['status']}: {out['message']}")
        m = out["metrics"]
        walls.append(wall)
        train_secs.append(m["seconds"])
        steps_ps.append(m["steps"] / m["seconds"])
        shares.append(m["sandbox_share"])
        tests.append(out["test_accuracy"])
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; runs: {a.runs}\n")
    print("| default configuration, cross_entropy.c, seed 1 | median | min | max |")
    print("| --- | --- | --- | --- |")
    for name, v, fmt in [("wall seconds per candidate (whole `discover eval`)", walls, "{:.2f}"),
                         ("training + scoring seconds (task run)", train_secs, "{:.2f}"),
                         ("steps per second (incl. periodic validation)", steps_ps, "{:.0f}"),
                         ("share of training time inside sandbox calls", shares, "{:.1%}"),
                         ("test accuracy", tests, "{:.4f}")]:
        print(f"| {name} | {fmt.format(statistics.median(v))} | {fmt.format(min(v))} | {fmt.format(max(v))} |")

    if a.skip_noise:
        return
    print(f"\n--noise 0.4, seeds {a.noise_seeds} (mean over seeds; fitness = validation accuracy on clean labels)\n")
    print("| objective | status | val accuracy | test accuracy | per-seed test |")
    print("| --- | --- | --- | --- | --- |")
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "objectives", "fashion", "*.c"))):
        rel = os.path.relpath(path, ROOT)
        out, _ = run_eval(a.discover, rel, ["--noise", "0.4", "--seeds", a.noise_seeds])
        per = ", ".join(f"{s.get('test_accuracy', 0):.4f}" for s in out["per_seed"])
        fit = out["fitness"] if out["fitness"] is not None else 0
        tst = out["test_accuracy"] if out["test_accuracy"] is not None else 0
        msg = out["status"] if out["status"] == "ok" else f"{out['status']}: {out['message'][:60]}"
        print(f"| {os.path.basename(rel)} | {msg} | {fit:.4f} | {tst:.4f} | {per} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
