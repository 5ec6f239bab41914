#!/usr/bin/env python3
"""value_drift.py - the Value Drifts comparison on task `sentiment`: SFT, then PPO, DPO and
SimPO from the same pi_ref, at value gaps G over seeds (bench_value_drift.c does the runs).

  bench/sentiment/value_drift.py --run [--bench BUILD/inner_loop/sentiment/bench_value_drift]
        [--seeds 1,2,3] [--gaps 0,0.15,0.3,0.5] [--objectives dpo,simpo,simpo_g0]
        [--out bench/sentiment/value_drift.jsonl] [task options key=value ...]
  bench/sentiment/value_drift.py --from bench/sentiment/value_drift.jsonl [--svg FILE]

--run runs the C program (a fresh DISCOVER_CACHE unless one is set) and keeps its JSON lines
in --out; --from reads such a file. Either way it prints the Markdown tables (paste them
into bench/RESULTS-value-drift.md) and writes the plot (--svg, default
bench/value-drift.svg). Measures, per method and gap, mean and sd over the seeds:
  reward      validation reward of the final policy (the "value" here is sentiment)
  drift       signed change of the reward (or length) over the method's phase
  t90         the project's drift time (dc_curve_drift: first step covering 90 % of the
              final change), as a fraction of the phase's steps
  t_ext       Value Drifts' drift time: fraction of the phase's steps at which the measure
              reaches its extremum (in the direction of the final change)
  kl          per-token KL(pi || pi_ref) on validation samples
  acc         held-out preference accuracy (pairs of the gap's filter; ties count 1/2)
Standard library only (no numpy/matplotlib on the build machines)."""
import argparse, json, math, os, re, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NAMES = {"dpo": "DPO", "simpo": "SimPO", "simpo_g0": "SimPO (γ = 0)"}
COLORS = {"sft": "#7f7f7f", "dpo": "#000000", "simpo": "#d62728", "simpo_g0": "#ff7f0e"}
PPO_COLORS = ["#2ca02c", "#17becf", "#9467bd"]


def name(m):
    return f"PPO (KL coef. {m[4:]})" if m.startswith("ppo@") else NAMES[m]


def color(m, methods):
    if m.startswith("ppo@"):
        ppos = [x for x in methods if x.startswith("ppo@")]
        return PPO_COLORS[ppos.index(m) % len(PPO_COLORS)]
    return COLORS[m]


def method_order(keys):
    ppos = sorted({m for m in keys if m.startswith("ppo@")}, key=lambda m: float(m[4:]))
    return ppos + [m for m in ["dpo", "simpo", "simpo_g0"] if m in keys]


def ext_time(curve):
    """Fraction of the phase's steps at which the curve reaches its extremum in the
    direction of its final change (Value Drifts' drift time); NaN when it never moved."""
    if not curve or len(curve) < 2:
        return math.nan
    v0, last = curve[0][1], curve[-1][1]
    sign = 1 if last > v0 else -1 if last < v0 else 0
    if sign == 0:
        return math.nan
    best = max(range(len(curve)), key=lambda i: (sign * (curve[i][1] - v0), -i))
    return curve[best][0] / curve[-1][0] if curve[-1][0] > 0 else math.nan


def frac(t, curve):
    if t is None or t < 0 or not curve or curve[-1][0] <= 0:
        return math.nan
    return t / curve[-1][0]


def num(m, k):
    v = m.get(k)
    return v if isinstance(v, (int, float)) else math.nan


def rows_of(rec):
    """(method, measures) of one record: its objective's run, and PPO when it rode along."""
    m, cv = rec["metrics"], rec["curves"]
    beta = next((k[5:-7] for k in m if re.fullmatch(r"beta_[^/]+/reward", k)), None)
    out = []
    if beta is not None and rec["objective"] != "none":
        p = f"beta_{beta}/"
        out.append((rec["objective"], {
            "reward": num(m, p + "reward"), "test_reward": num(m, p + "test_reward"),
            "kl": num(m, p + "kl"), "acc": num(m, p + "pref_accuracy"),
            "length": num(m, p + "length"),
            "r_drift": num(m, p + "po_reward_drift"),
            "r_t90": frac(num(m, p + "po_reward_drift_time"), cv.get(p + "po/reward")),
            "r_ext": ext_time(cv.get(p + "po/reward")),
            "l_drift": num(m, p + "po_length_drift"),
            "l_t90": frac(num(m, p + "po_length_drift_time"), cv.get(p + "po/length")),
            "l_ext": ext_time(cv.get(p + "po/length")),
            "curve": cv.get(p + "po/reward"), "lcurve": cv.get(p + "po/length")}))
    if "ppo/reward" in m:
        out.append((f"ppo@{num(m, 'ppo/kl_coef'):g}", {
            "reward": num(m, "ppo/reward"), "test_reward": num(m, "ppo/test_reward"),
            "kl": num(m, "ppo/kl"), "acc": num(m, "ppo/pref_accuracy"),
            "length": num(m, "ppo/length"),
            "r_drift": num(m, "ppo/po_reward_drift"),
            "r_t90": frac(num(m, "ppo/po_reward_drift_time"), cv.get("ppo/po/reward")),
            "r_ext": ext_time(cv.get("ppo/po/reward")),
            "l_drift": num(m, "ppo/po_length_drift"),
            "l_t90": frac(num(m, "ppo/po_length_drift_time"), cv.get("ppo/po/length")),
            "l_ext": ext_time(cv.get("ppo/po/length")),
            "curve": cv.get("ppo/po/reward"), "lcurve": cv.get("ppo/po/length")}))
    return out


def ms(xs):
    xs = [x for x in xs if isinstance(x, (int, float)) and not math.isnan(x)]
    if not xs:
        return math.nan, math.nan
    return statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


def fmt(xs, d=3, sign=False):
    m, s = ms(xs)
    if math.isnan(m):
        return "–"
    f = f"{{:{'+' if sign else ''}.{d}f}}"
    return f"{f.format(m)} ± {s:.{d}f}"


def collect(records):
    """{(method, gap): {seed: measures}}, the SFT record, pi_ref's reward per seed."""
    table, sft, ref = {}, None, {}
    for rec in records:
        g, s = rec["gap"], rec["seed"]
        ref[s] = rec["metrics"].get("ref_reward")
        if sft is None:
            sft = rec
        for method, meas in rows_of(rec):
            table.setdefault((method, g), {})[s] = meas
    return table, sft, ref


def markdown(records, table, sft, ref):
    gaps = sorted({g for (_, g) in table})
    methods = method_order({m for (m, _) in table})
    seeds = sorted({rec["seed"] for rec in records})
    pairs = {}
    for rec in records:
        pairs[rec["gap"]] = (rec["metrics"].get("pairs"), rec["metrics"].get("pair_reward_gap"))
    out = []
    sm, sc = sft["metrics"], sft["curves"]
    out.append(f"Seeds {','.join(map(str, seeds))}; π_ref's validation reward "
               f"{fmt(list(ref.values()))} (seed sd: its sampling noise).\n")
    out.append("SFT (pretrained model → π_ref; one run, shared by every method, gap and seed): "
               f"reward drift {num(sm, 'sft_reward_drift'):+.3f} "
               f"(t90 {frac(num(sm, 'sft_reward_drift_time'), sc.get('sft/reward')):.2f}, "
               f"t_ext {ext_time(sc.get('sft/reward')):.2f}), length drift "
               f"{num(sm, 'sft_length_drift'):+.2f} tokens "
               f"(t90 {frac(num(sm, 'sft_length_drift_time'), sc.get('sft/length')):.2f}, "
               f"t_ext {ext_time(sc.get('sft/length')):.2f}).\n")
    out.append("| method | gap | pairs (mean reward gap) | final reward | reward drift | t90 | t_ext "
               "| length drift | t90 | t_ext | KL/token | pref. acc. |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in methods:
        for g in gaps:
            runs = table.get((m, g))
            if not runs:
                continue
            col = lambda k: [r[k] for r in runs.values()]
            np_, gp = pairs.get(g, (None, None))
            ptxt = f"{np_:.0f} ({gp:.2f})" if isinstance(np_, (int, float)) and isinstance(gp, (int, float)) else "–"
            out.append(f"| {name(m)} | {g:g} | {ptxt} | {fmt(col('reward'))} | "
                       f"{fmt(col('r_drift'), sign=True)} | {fmt(col('r_t90'), 2)} | "
                       f"{fmt(col('r_ext'), 2)} | {fmt(col('l_drift'), 2, True)} | "
                       f"{fmt(col('l_t90'), 2)} | {fmt(col('l_ext'), 2)} | {fmt(col('kl'))} | "
                       f"{fmt(col('acc'))} |")
    return "\n".join(out)


# ---- SVG ----

def svg_panel(x0, y0, w, h, title, xlabel, ylabel, xr, yr, series, xticks=None, vline=None):
    """series: [(label, color, dash, [(x, y[, err])])]; the legend sits under the axes, two
    entries a row. Returns SVG text."""
    rows = (len(series) + 1) // 2
    ml, mr, mt, mb = 56, 12, 28, 44 + 15 * rows
    pw, ph = w - ml - mr, h - mt - mb
    (xa, xb), (ya, yb) = xr, yr
    X = lambda x: x0 + ml + (x - xa) / (xb - xa) * pw
    Y = lambda y: y0 + mt + (1 - (y - ya) / (yb - ya)) * ph
    s = [f'<rect x="{x0 + ml}" y="{y0 + mt}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>',
         f'<text x="{x0 + ml + pw / 2}" y="{y0 + 18}" text-anchor="middle" font-weight="bold">{title}</text>',
         f'<text x="{x0 + ml + pw / 2}" y="{y0 + mt + ph + 32}" text-anchor="middle">{xlabel}</text>',
         f'<text transform="translate({x0 + 14},{y0 + mt + ph / 2}) rotate(-90)" text-anchor="middle">{ylabel}</text>']
    step = nice((yb - ya) / 5)
    t = math.ceil(ya / step) * step
    while t <= yb + 1e-12:
        s.append(f'<line x1="{X(xa)}" y1="{Y(t):.1f}" x2="{X(xb)}" y2="{Y(t):.1f}" stroke="#eee"/>')
        s.append(f'<text x="{X(xa) - 4}" y="{Y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
        t += step
    for xt in (xticks or []):
        s.append(f'<text x="{X(xt):.1f}" y="{Y(ya) + 15:.1f}" text-anchor="middle">{xt:g}</text>')
    if ya < 0 < yb:
        s.append(f'<line x1="{X(xa)}" y1="{Y(0):.1f}" x2="{X(xb)}" y2="{Y(0):.1f}" stroke="#999"/>')
    if vline is not None:
        s.append(f'<line x1="{X(vline):.1f}" y1="{Y(yb)}" x2="{X(vline):.1f}" y2="{Y(ya)}" stroke="#bbb"/>')
    for k, (label, color, dash, pts) in enumerate(series):
        pts = [p for p in pts if not math.isnan(p[1])]
        da = f' stroke-dasharray="{dash}"' if dash else ""
        lx, ly = x0 + ml + (k % 2) * pw / 2, y0 + mt + ph + 50 + 15 * (k // 2)
        s.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 20}" y2="{ly - 4}" stroke="{color}" '
                 f'stroke-width="2"{da}/><text x="{lx + 24}" y="{ly}">{label}</text>')
        if not pts:
            continue
        d = " ".join(f"{'M' if i == 0 else 'L'}{X(p[0]):.1f} {Y(p[1]):.1f}" for i, p in enumerate(pts))
        s.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2"{da}/>')
        for p in pts:
            if len(p) > 2 and p[2] and not math.isnan(p[2]):
                s.append(f'<line x1="{X(p[0]):.1f}" y1="{Y(p[1] - p[2]):.1f}" x2="{X(p[0]):.1f}" '
                         f'y2="{Y(p[1] + p[2]):.1f}" stroke="{color}"/>')
            if len(p) > 2:
                s.append(f'<circle cx="{X(p[0]):.1f}" cy="{Y(p[1]):.1f}" r="3" fill="{color}"/>')
    return "\n".join(s)


def nice(r):
    if r <= 0 or math.isnan(r):
        return 1
    e = 10 ** math.floor(math.log10(r))
    for f in (1, 2, 5, 10):
        if f * e >= r:
            return f * e
    return 10 * e


def rng(vals, pad=0.08):
    vals = [v for v in vals if not math.isnan(v)]
    lo, hi = min(vals), max(vals)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    p = (hi - lo) * pad
    return lo - p, hi + p


def svg(table, sft, seed, gap_curves):
    gaps = sorted({g for (_, g) in table})
    methods = method_order({m for (m, _) in table})
    W, H = 1200, 400
    panels = []
    for i, (key, title, ylabel) in enumerate([("r_drift", "Reward drift over the phase", "Δ reward"),
                                              ("l_drift", "Length drift over the phase", "Δ tokens")]):
        series, allv = [], [0.0]
        for m in methods:
            pts = []
            for g in gaps:
                mu, sd = ms([r[key] for r in table.get((m, g), {}).values()])
                pts.append((g, mu, sd))
                allv += [mu - sd, mu + sd]
            series.append((name(m), color(m, methods), None, pts))
        panels.append(svg_panel(i * 400, 0, 400, H, title, "value gap G", ylabel,
                                (min(gaps) - 0.03, max(gaps) + 0.03), rng(allv), series, xticks=gaps))
    # the reward through SFT then each method, one seed at one gap
    series = [("SFT", COLORS["sft"], None,
               [(x / sft["curves"]["sft/reward"][-1][0], y) for x, y in sft["curves"]["sft/reward"]])]
    allv = [p[1] for p in series[0][3]]
    for m in methods:
        run = table.get((m, gap_curves), {}).get(seed)
        if not run or not run["curve"]:
            continue
        c = run["curve"]
        pts = [(1 + x / c[-1][0], y) for x, y in c]
        allv += [p[1] for p in pts]
        series.append((name(m), color(m, methods), "6 3" if m == "dpo" else None, pts))
    panels.append(svg_panel(800, 0, 400, H, f"Reward, seed {seed}, gap {gap_curves:g}",
                            "SFT (0–1) → method (1–2), fraction of phase", "reward", (0, 2), rng(allv),
                            series, xticks=[0, 0.5, 1, 1.5, 2], vline=1))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
            f'font-size="11"><rect width="{W}" height="{H}" fill="white"/>\n' + "\n".join(panels) + "\n</svg>\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", action="store_true")
    ap.add_argument("--from", dest="src")
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "inner_loop", "sentiment", "bench_value_drift"))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--gaps", default="0,0.15,0.3,0.5")
    ap.add_argument("--objectives", default="dpo,simpo,simpo_g0")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "sentiment", "value_drift.jsonl"))
    ap.add_argument("--svg", default=os.path.join(ROOT, "bench", "value-drift.svg"))
    ap.add_argument("--curve-gap", type=float, default=0.15)
    ap.add_argument("options", nargs="*", help="task options key=value")
    a = ap.parse_args()
    if a.run:
        env = dict(os.environ, DISCOVER_HOME=ROOT)
        env.setdefault("DISCOVER_CACHE", tempfile.mkdtemp(prefix="dc_value_drift_"))
        cmd = [a.bench] + a.options + ["--seeds", a.seeds, "--gaps", a.gaps, "--objectives", a.objectives]
        print(f"# {' '.join(cmd)}", file=sys.stderr)
        t0 = time.monotonic()
        with open(a.out, "w") as f:
            p = subprocess.run(cmd, stdout=f, env=env, cwd=ROOT)
        if p.returncode != 0:
            sys.exit(f"bench_value_drift failed (exit {p.returncode})")
        print(f"# {time.monotonic() - t0:.0f} s wall; load average now {os.getloadavg()[0]:.1f}",
              file=sys.stderr)
        a.src = a.out
    if not a.src:
        sys.exit("give --run or --from FILE")
    with open(a.src) as f:
        records = [json.loads(line) for line in f if line.strip()]
    table, sft, ref = collect(records)
    print(markdown(records, table, sft, ref))
    seed = min(rec["seed"] for rec in records)
    gaps = sorted({g for (_, g) in table})
    cg = min(gaps, key=lambda g: abs(g - a.curve_gap))
    with open(a.svg, "w") as f:
        f.write(svg(table, sft, seed, cg))
    print(f"\nplot: {os.path.relpath(a.svg, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
