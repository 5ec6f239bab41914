#!/usr/bin/env python3
"""compare.py - the CPU backend beside PyTorch eager, side by side in one run: training
steps/s of the fashion MLP (bench_mlp vs torch_mlp.py) and of the sentiment GPT (bench_gpt vs
torch_gpt.py), at default and large sizes, with 1 and 2 threads; then the MLP's drift check
(bench_mlp --drift: the last 20 % of a long run against the first 20 %).

  python3 bench/cpu/compare.py [--build build] [--threads 1,2] [--configs default,large]
                               [--models mlp,gpt] [--rounds 5] [--quick] [--out FILE]

Both sides do the same step (the 'roundtrip' mode of the torch scripts: outputs to the host
and the gradient back, as discover's trainers do) with the same threads: the C benchmarks
get --threads T; PyTorch gets torch.set_num_threads(T) and OPENBLAS_NUM_THREADS=T (its
products run in the same OpenBLAS, which does not follow torch.set_num_threads). PyTorch
also gets the OpenBLAS kernels that the C backend chose (OPENBLAS_CORETYPE), so that the
comparison is of everything but the products' kernels; a row with PyTorch's own choice is
added where that differs. Each round runs both once (order alternating), each run reports
the median of its timed runs; the table gives the median over the rounds, steps/s (wall)
and CPU ms per step (all threads of the process: the measure that other load on the
machine disturbs least). Prints Markdown (machine, date, load, table); --out also writes it.
Needs bench_mlp and bench_gpt (built here with cmake --build) and a python3 with torch and
numpy (--python)."""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# steps, warmup, runs per benchmark process, and the most rounds (C and PyTorch once each) per
# configuration: the whole default run (both models, both sizes, threads 1 and 2, drift) fits
# in about 15 minutes on a 2-core machine, where a large GPT step takes 10-25 s, so the large
# sizes get fewer rounds than --rounds (the table says how many each row had)
PLAN = {("mlp", "default"): (100, 10, 3, 99), ("gpt", "default"): (10, 2, 1, 99),
        ("mlp", "large"): (1, 1, 1, 3), ("gpt", "large"): (1, 1, 1, 1)}
QUICK = {("mlp", "default"): (50, 5, 1, 1), ("gpt", "default"): (4, 1, 1, 1),
         ("mlp", "large"): (1, 0, 1, 1), ("gpt", "large"): (1, 0, 1, 1)}
# the targets of issue #15: C steps/s over PyTorch eager's, same step, same threads
TARGET = {"mlp": 1.5, "gpt": 1.2}


def table_row(out):
    """The last Markdown data row of a benchmark's output, as a list of cells."""
    rows = [l for l in out.splitlines() if l.startswith("| ") and not l.startswith("| ---")
            and not l.startswith("| backend")]
    if not rows:
        raise RuntimeError("no result row in:\n" + out)
    return [c.strip() for c in rows[-1].strip("|").split("|")]


TIMEOUT = 900  # seconds per benchmark process (--timeout)


def run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=TIMEOUT)
    if p.returncode not in (0, 2):  # 2: bench_mlp --drift found a slowdown (reported)
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p.stdout


def c_bench(build, model, config, threads, plan):
    steps, warmup, runs = plan[:3]
    out = run([os.path.join(build, "bin", "bench_" + model), "--device", "cpu", "--config",
               config, "--threads", str(threads), "--steps", str(steps), "--warmup",
               str(warmup), "--runs", str(runs)])
    core = next((l.split()[1] for l in out.splitlines() if l.startswith("OpenBLAS ")), "?")
    row = table_row(out)
    return float(row[6]), float(row[-1]), core  # median steps/s, CPU ms/step


def torch_bench(python, model, config, threads, plan, coretype):
    steps, warmup, runs = plan[:3]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    env.pop("OPENBLAS_CORETYPE", None)
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    out = run([python, os.path.join(ROOT, "bench", "cuda", "torch_" + model + ".py"),
               "--device", "cpu", "--config", config, "--threads", str(threads), "--mode",
               "roundtrip", "--steps", str(steps), "--warmup", str(warmup), "--runs",
               str(runs)], env)
    row = table_row(out)
    return float(row[7]), float(row[-1])


def machine():
    name = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            name = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return name


def cores():
    """'N cores (S sockets, T threads per core)' from lscpu, or the logical CPU count."""
    try:
        info = dict(l.split(":", 1) for l in subprocess.run(
            ["lscpu"], capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
            .stdout.splitlines() if ":" in l)
        info = {k.strip(): v.strip() for k, v in info.items()}
        c, s, t = (int(info[k]) for k in ("Core(s) per socket", "Socket(s)",
                                            "Thread(s) per core"))
        return f"{c * s} cores ({s} socket(s), {t} thread(s) per core), {os.cpu_count()} logical CPUs"
    except (OSError, KeyError, ValueError):
        return f"{os.cpu_count()} logical CPUs"


def load():
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main():
    global TIMEOUT
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--python", default=sys.executable, help="a python3 with torch + numpy")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--configs", default="default,large")
    ap.add_argument("--models", default="mlp,gpt")
    ap.add_argument("--rounds", type=int, default=5,
                    help="rounds per configuration (the large sizes: at most their PLAN's)")
    ap.add_argument("--drift", type=int, default=2000, help="bench_mlp --drift steps (0: skip)")
    ap.add_argument("--quick", action="store_true", help="fewer steps and runs (a smoke run)")
    ap.add_argument("--timeout", type=int, default=900,
                    help="seconds one benchmark process may run (then the script stops)")
    ap.add_argument("--out")
    a = ap.parse_args()
    TIMEOUT = a.timeout
    subprocess.run(["cmake", "--build", a.build, "--target", "bench_mlp", "bench_gpt"],
                   check=True, capture_output=True, cwd=ROOT)
    torch_ver = subprocess.run([a.python, "-c", "import torch; print(torch.__version__)"],
                               capture_output=True, text=True).stdout.strip() or "not found"
    lines = ["## Machine", "", "| field | value |", "| --- | --- |",
             f"| CPU (lscpu Model name) | {machine()} |", f"| cores | {cores()} |",
             f"| date (UTC) | {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} |",
             f"| kernel | {platform.release()} |", f"| PyTorch | {torch_ver} ({a.python}) |",
             f"| load average (1 / 5 / 15 min) at start | {load()} |", "",
             "The machine is shared (other builds and tests run beside this): the load average "
             "is recorded beside each row; C and PyTorch runs are interleaved so that both see "
             "the same load.", ""]
    t0 = time.time()
    rows = []
    for threads in [int(t) for t in a.threads.split(",")]:
        for model in a.models.split(","):
            for config in a.configs.split(","):
                plan = (QUICK if a.quick else PLAN)[(model, config)]
                c_rate, c_cpu, t_rate, t_cpu, t_own = [], [], [], [], []
                core = None
                rounds = min(a.rounds, plan[3])
                for r in range(rounds):
                    order = ["c", "torch"] if r % 2 == 0 else ["torch", "c"]
                    for side in order:
                        if side == "c":
                            rate, cpu, core = c_bench(a.build, model, config, threads, plan)
                            c_rate.append(rate), c_cpu.append(cpu)
                        else:
                            # the kernels the C side chose; before its first run: its choice
                            # is not known yet, so the first round runs C first
                            rate, cpu = torch_bench(a.python, model, config, threads, plan,
                                                    core)
                            t_rate.append(rate), t_cpu.append(cpu)
                # PyTorch with OpenBLAS's own choice of kernels, once (default sizes only: a
                # large step is too slow for the extra run)
                own = (torch_bench(a.python, model, config, threads, plan, None)[0]
                       if config != "large" else None)
                med = statistics.median
                rows.append((model, config, threads, core, med(c_rate), med(t_rate), med(c_cpu),
                             med(t_cpu), own, rounds, plan, load()))
                print(f"{model} {config} threads {threads}: C {med(c_rate):.2f} steps/s "
                      f"({med(c_cpu):.2f} CPU ms/step), torch {med(t_rate):.2f} "
                      f"({med(t_cpu):.2f}; {own} steps/s with its own kernels); load "
                      f"{load()}; {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    # PyTorch's best over the thread counts measured: the comparison that does not depend
    # on how well PyTorch's two thread pools share the cores at a given count
    best = {}
    for (model, config, _, _, _, tr, _, _, own, _, _, _) in rows:
        best[(model, config)] = max(best.get((model, config), 0.0), tr, own or 0.0)
    lines += ["## Training steps per second, C backend vs PyTorch eager (same step, same threads)",
              "",
              "Medians over the rounds (each round: one C process and one PyTorch process, "
              "order alternating; each process reports the median of its runs). Target (#15): "
              + ", ".join(f"{m} ≥ {t}×" for m, t in TARGET.items()) + " PyTorch eager.", "",
              "| model | config | threads | OpenBLAS kernels | C steps/s | PyTorch steps/s | "
              "C / PyTorch | target | C / PyTorch's best (any threads, either kernels) | "
              "C CPU ms/step | PyTorch CPU ms/step | PyTorch steps/s, its own kernels | "
              "rounds × (runs × steps) | load after (1/5/15) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    fmt = lambda x: f"{x:.1f}" if x >= 10 else f"{x:.3g}"
    for (model, config, threads, core, cr, tr, cc, tc, own, rounds, plan, ld) in rows:
        ok = "met" if cr / tr >= TARGET[model] else "**not met**"
        lines.append(f"| {model} | {config} | {threads} | {core} | {fmt(cr)} | {fmt(tr)} | "
                     f"{cr / tr:.2f} | {ok} | {cr / best[(model, config)]:.2f} | {cc:.2f} | "
                     f"{tc:.2f} | {fmt(own) if own else '—'} | "
                     f"{rounds} × ({plan[2]} × {plan[0]}) | {ld} |")
    if a.drift > 0:
        out = run([os.path.join(a.build, "bin", "bench_mlp"), "--device", "cpu", "--config",
                   "default", "--threads", a.threads.split(",")[-1], "--drift", str(a.drift)])
        lines += ["", "## Fashion MLP: no slowdown as training goes on (bench_mlp --drift)", ""]
        lines += ["Steps/s over the last 20 % of one long run against the first 20 % "
                  "(FTZ/DAZ on every thread: no slowdown from subnormals as weights shrink).", ""]
        lines += [l for l in out.splitlines() if l.startswith("|")]
    lines += ["", f"load average at the end (1 / 5 / 15 min): {load()}; "
              f"wall time {time.time() - t0:.0f} s"]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        # the measured tables replace the file's head; the sections written by other
        # benchmarks (from the first "## Sentiment" heading on) are kept
        kept = ""
        if os.path.exists(a.out):
            with open(a.out) as f:
                old = f.read()
            at = old.find("\n## Sentiment")
            if at >= 0:
                kept = "\n" + old[at + 1:]
        with open(a.out, "w") as f:
            f.write(text + kept)


if __name__ == "__main__":
    main()
