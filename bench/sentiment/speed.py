#!/usr/bin/env python3
"""speed.py - issue 15's sentiment rows: cold start and one candidate with the cache warm, an
old build beside a new one, interleaved.

  bench/sentiment/speed.py --old OLD_ROOT --new NEW_ROOT [--cold 2] [--warm 5] [--out FILE]

OLD_ROOT and NEW_ROOT are source trees with a Release build in ROOT/build (bin/discover and
the sandbox worker); the old one is typically `git archive main | tar -x -C /tmp/base`, built
there. Each command is `discover eval examples/objectives/sentiment/dpo.c --task sentiment
--json` at the default configuration, run from its own tree with DISCOVER_HOME set to it.
- cold start: an empty DISCOVER_CACHE (vocabulary, pretraining, SFT, pairs are built and
  cached, then the candidate runs); --cold rounds, old and new alternating which goes first;
- cache warm: --warm rounds on the cache the cold runs left (one cache per build: the two
  builds' cache keys differ), alternating likewise.
Per run: wall seconds, CPU seconds of the process and its children (user + system), the
1-minute load average before it. The two builds' runs of a round follow each other, so they
see about the same load. Prints Markdown (rows, medians, new/old ratios, the verdict against
the 1.5x target of issue 15: this machine's old median / 1.5) to stdout and --out.
The machine should be otherwise idle: other load slows both, the one with fewer spinning
threads more. It keeps both cores busy for several minutes per cold round."""
import argparse, json, os, platform, resource, shutil, statistics, subprocess, sys, tempfile, time


def run_eval(root, cache):
    env = dict(os.environ, DISCOVER_CACHE=cache, DISCOVER_HOME=root)
    env.pop("DISCOVER_FTZ", None)
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    p = subprocess.Popen([os.path.join(root, "build", "bin", "discover"), "eval",
                          os.path.join("examples", "objectives", "sentiment", "dpo.c"), "--task",
                          "sentiment", "--json"], cwd=root, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    out, _ = p.communicate()
    wall = time.monotonic() - t0
    try:
        res = json.loads(out)
    except json.JSONDecodeError:
        sys.exit(f"{root}: discover eval did not print JSON (exit {p.returncode})")
    if res.get("status") != "ok":
        sys.exit(f"{root}: {res.get('status')}: {res.get('message')}")
    m = res["per_seed"][0]
    return {"wall": wall, "load": load, "reward": m.get("beta_0.05/reward"),
            "kl": m.get("beta_0.05/kl"), "ref": m.get("ref_reward")}


def timed(root, cache):
    """run_eval with the CPU time of the child and everything it waited for."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = run_eval(root, cache)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    r["cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return r


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def med(rs, k):
    return statistics.median(r[k] for r in rs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--cold", type=int, default=2)
    ap.add_argument("--warm", type=int, default=5)
    ap.add_argument("--out")
    a = ap.parse_args()
    roots = {"old": os.path.abspath(a.old), "new": os.path.abspath(a.new)}
    for k, r in roots.items():
        if not os.access(os.path.join(r, "build", "bin", "discover"), os.X_OK):
            sys.exit(f"--{k} {r}: no build/bin/discover there (build it Release first)")
    lines = []

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    t_start = time.time()
    say(f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs; "
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; load average at start "
        f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    say(f"old = {roots['old']}, new = {roots['new']}.")
    say()
    caches = {}
    cold = {"old": [], "new": []}
    warm = {"old": [], "new": []}
    say("| run | round | build | wall s | CPU s | load before | reward / KL (seed 1, β 0.05) |")
    say("| --- | --- | --- | --- | --- | --- | --- |")
    for rnd in range(a.cold):
        order = ["old", "new"] if rnd % 2 == 0 else ["new", "old"]
        for b in order:
            if b in caches:
                shutil.rmtree(caches[b], ignore_errors=True)
            caches[b] = tempfile.mkdtemp(prefix=f"dc_speed_{b}_")
            r = timed(roots[b], caches[b])
            cold[b].append(r)
            say(f"| cold | {rnd + 1} | {b} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['load']:.2f} | "
                f"{r['reward']:.4f} / {r['kl']:.4f} |")
    for rnd in range(a.warm):
        order = ["old", "new"] if rnd % 2 == 0 else ["new", "old"]
        for b in order:
            r = timed(roots[b], caches[b])
            warm[b].append(r)
            say(f"| warm | {rnd + 1} | {b} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['load']:.2f} | "
                f"{r['reward']:.4f} / {r['kl']:.4f} |")
    for c in caches.values():
        shutil.rmtree(c, ignore_errors=True)
    say()
    say("| measurement | runs | old median wall | new median wall | old / new | target (old / 1.5) | "
        "verdict | old / new median CPU s |")
    say("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, d in (("cold start (empty cache: stages + one candidate)", cold),
                    ("one candidate, cache warm (whole `discover eval`)", warm)):
        if not d["old"]:
            continue
        o, n = med(d["old"], "wall"), med(d["new"], "wall")
        co, cn = med(d["old"], "cpu"), med(d["new"], "cpu")
        verdict = "met" if o / n >= 1.5 else "**not met**"
        say(f"| {name} | {len(d['old'])} + {len(d['new'])} | {o:.2f} s | {n:.2f} s | {o / n:.2f} | "
            f"{o / 1.5:.2f} s | {verdict} | {co:.1f} / {cn:.1f} |")
    say()
    say(f"Load average at the end {' / '.join(f'{x:.2f}' for x in os.getloadavg())}; "
        f"{time.time() - t_start:.0f} s in all.")
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
