#!/usr/bin/env python3
"""torch_mlp.py - the PyTorch reference for bench/cuda/bench_mlp.c: steps/second of the same
fashion MLP with the same batch and the same step, in eager mode.

  python3 bench/cuda/torch_mlp.py [--device cuda|cpu] [--config default|large|all]
                                  [--steps 200] [--warmup 20] [--runs 5] [--mode both]
                                  [--threads T]

Model: Linear(784, H) -> ReLU [-> Linear(H, H) -> ReLU] -> Linear(H, 10), fp32, Adam
(lr 1e-3, betas 0.9/0.999, eps 1e-8), TF32 OFF (bench_mlp runs pure fp32 cuBLAS).
Configurations as bench_mlp: default = hidden 256 x 1, batch 128; large = 4096 x 2, batch 1024.
Each step gathers a batch of 784 uint8 pixels from a synthetic host pool, scales it to
[0, 1) and copies it to the device, like the C trainer. Two modes:
  roundtrip  what discover does: logits -> host (float64), softmax cross-entropy gradient
             / B on the host (numpy; where discover calls the sandboxed objective),
             gradient -> device, logits.backward(grad), Adam step. Comparable to bench_mlp.
  device     the usual PyTorch loop: F.cross_entropy on the device, backward, Adam step
             (no host round trip): the ceiling for this model.
Prints Markdown table rows: median steps/s over --runs timed runs of --steps steps, and the
median CPU time per step of the process (all threads), as bench_*.c print it."""
import argparse
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

PIXELS, CLASSES, POOL = 784, 10, 8192
CONFIGS = {"default": (256, 1, 128), "large": (4096, 2, 1024)}


def make_model(hidden, layers, device):
    mods, width = [], PIXELS
    for _ in range(layers):
        mods += [torch.nn.Linear(width, hidden), torch.nn.ReLU()]
        width = hidden
    mods.append(torch.nn.Linear(width, CLASSES))
    model = torch.nn.Sequential(*mods).to(device)
    for m in model:
        if isinstance(m, torch.nn.Linear):  # He initialisation, zero biases: as dc_mlp_init
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    return model


def ce_grad_host(logits64, y):
    """d(mean CE)/d logits in float64 on the host, as discover's trainer feeds back."""
    z = logits64 - logits64.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


def bench(device, hidden, layers, batch, steps, warmup, runs, mode, pool, pool_y):
    torch.manual_seed(1)
    model = make_model(hidden, layers, device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                           foreach=True)
    nparams = sum(p.numel() for p in model.parameters())
    cursor = 0
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def step():
        nonlocal cursor
        idx = (np.arange(batch) + cursor) % POOL
        cursor = (cursor + batch) % POOL
        xb = torch.from_numpy(pool[idx].astype(np.float32) * np.float32(1.0 / 255.0))
        yb = pool_y[idx]
        x = xb.to(device)
        logits = model(x)
        opt.zero_grad(set_to_none=False)
        if mode == "roundtrip":
            g = ce_grad_host(logits.detach().double().cpu().numpy(), yb)
            logits.backward(torch.from_numpy(g).float().to(device))
        else:
            loss = F.cross_entropy(logits, torch.from_numpy(yb).long().to(device))
            loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    sync()
    rates, cpu_ms = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        sync()
        rates.append(steps / (time.perf_counter() - t0))
        cpu_ms.append(1e3 * (time.process_time() - c0) / steps)  # all threads, as bench_*.c
    return nparams, statistics.median(rates), min(rates), max(rates), statistics.median(cpu_ms)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--config", default="all", choices=["default", "large", "all"])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mode", default="both", choices=["roundtrip", "device", "both"])
    ap.add_argument("--threads", type=int, default=0,
                    help="CPU threads (torch.set_num_threads); 0: PyTorch's default")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)

    torch.backends.cuda.matmul.allow_tf32 = False  # pure fp32, as bench_mlp
    torch.backends.cudnn.allow_tf32 = False
    name = torch.cuda.get_device_name(0) if a.device.startswith("cuda") else platform.processor()
    rng = np.random.default_rng(7)
    pool = rng.integers(0, 256, size=(POOL, PIXELS), dtype=np.uint8)
    pool_y = rng.integers(0, CLASSES, size=POOL, dtype=np.int64)

    print(f"torch {torch.__version__}, device {a.device} ({name}), "
          f"{torch.get_num_threads()} CPU threads")
    print("| backend | mode | config | hidden×layers | batch | parameters | runs × steps | "
          "median steps/s | min | max | samples/s | CPU ms/step |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    modes = ["roundtrip", "device"] if a.mode == "both" else [a.mode]
    for label in (["default", "large"] if a.config == "all" else [a.config]):
        hidden, layers, batch = CONFIGS[label]
        for mode in modes:
            n, med, lo, hi, cpu = bench(a.device, hidden, layers, batch, a.steps, a.warmup, a.runs,
                                   mode, pool, pool_y)
            print(f"| torch eager {a.device} | {mode} | {label} | {hidden}×{layers} | {batch} | "
                  f"{n} | {a.runs} × {a.steps} | {med:.4g} | {lo:.4g} | {hi:.4g} | "
                  f"{med * batch:.0f} | {cpu:.2f} |")


if __name__ == "__main__":
    main()
