#!/usr/bin/env python3
"""Table of reward and per-token KL (mean ± standard error over seeds) per objective and beta
from the discover eval --json files run_bench.sh writes; usage: summarise.py DIR."""
import json
import math
import sys

BETAS = ["0.05", "0.1", "0.25", "0.5"]
NAMES = ["dpo", "dpo_token", "aao", "tis_dpo"]


def mean_se(xs):
    m = sum(xs) / len(xs)
    if len(xs) < 2:
        return m, float("nan")
    var = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    return m, math.sqrt(var / len(xs))


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "/tmp/tokbench"
    print("| objective | task | β | reward (val) | test reward | KL/token (val) | seeds |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for n in NAMES:
        try:
            with open(f"{d}/{n}.json") as f:
                j = json.load(f)
        except (OSError, ValueError):
            continue
        seeds = j["per_seed"]
        for b in BETAS:
            cells = []
            for key in ("reward", "test_reward", "kl"):
                m, se = mean_se([s[f"beta_{b}/{key}"] for s in seeds])
                cells.append(f"{m:.4f} ± {se:.4f}")
            print(f"| {n} | {j['task']} | {b} | " + " | ".join(cells) + f" | {len(seeds)} |")


if __name__ == "__main__":
    main()
