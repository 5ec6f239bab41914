#!/usr/bin/env python3
"""torch_gpt.py - the PyTorch reference for bench/cuda/bench_gpt.c: steps/second of the
sentiment task's GPT with the same model, batch and step, in eager mode.

  python3 bench/cuda/torch_gpt.py [--device cuda|cpu] [--config default|large|all]
                                  [--steps 100] [--warmup 10] [--runs 5] [--mode both]
                                  [--threads T]

Model (inner_loop/sentiment/gpt.h): token + position embeddings, L GPT-2 blocks
(LayerNorm eps 1e-5 -> causal multi-head attention -> residual, LayerNorm -> Linear(C, 4C)
-> GELU (tanh) -> Linear(4C, C) -> residual), final LayerNorm, logits through the tied token
embedding. fp32, TF32 OFF (bench_gpt runs pure fp32 cuBLAS). Step: log-softmax over the
vocabulary, gather the target's log-prob, mean NLL, backward, clip the global gradient norm
to 1.0, AdamW (lr 3e-4, betas 0.9/0.95, eps 1e-8, weight decay 0.01 on the embeddings and
weight matrices only). Batches are random tokens.
Configurations as bench_gpt: default = vocab 2048, context 32, 2 layers, width 96, 4 heads,
batch 32; large = vocab 2048, context 64, 6 layers, width 384, 6 heads, batch 32.
Two modes:
  roundtrip  what discover does: per-token log-probs -> host (float64), d(objective)/d(logp)
             computed on the host (where preference optimisation calls the sandboxed
             objective), -> device, logp.backward(dlogp), clip, AdamW, and the parameters
             copied to the host after the step (gpt_device.c keeps the host copy current).
             Comparable to bench_gpt.
  device     the usual PyTorch loop: the loss on the device, no copies: the ceiling.
Prints Markdown table rows: median steps/s over --runs timed runs of --steps steps, and the
median CPU time per step of the process (all threads), as bench_*.c print it."""
import argparse
import inspect
import math
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

# clip_grad_norm_ takes foreach= only from PyTorch 2.0 on; Debian 12 ships 1.13, where the
# per-tensor norms are the only path. Asked of the signature, not the version string, so
# backports and future releases pick the right call.
CLIP_KW = ({"foreach": True}
           if "foreach" in inspect.signature(torch.nn.utils.clip_grad_norm_).parameters else {})

CONFIGS = {  # vocab, ctx, layers, width, heads, batch
    "default": (2048, 32, 2, 96, 4, 32),
    "large": (2048, 64, 6, 384, 6, 32),
}


class Block(torch.nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.nh = NH
        self.ln1 = torch.nn.LayerNorm(C, eps=1e-5)
        self.qkv = torch.nn.Linear(C, 3 * C)
        self.attproj = torch.nn.Linear(C, C)
        self.ln2 = torch.nn.LayerNorm(C, eps=1e-5)
        self.fc = torch.nn.Linear(C, 4 * C)
        self.fcproj = torch.nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        shape = (B, T, self.nh, C // self.nh)
        q, k, v = (t.view(shape).transpose(1, 2) for t in (q, k, v))  # (B,NH,T,hs)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.nh)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.attproj(y)
        return x + self.fcproj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(torch.nn.Module):
    def __init__(self, V, T, L, C, NH):
        super().__init__()
        self.wte = torch.nn.Embedding(V, C)
        self.wpe = torch.nn.Embedding(T, C)
        self.blocks = torch.nn.ModuleList(Block(C, NH) for _ in range(L))
        self.lnf = torch.nn.LayerNorm(C, eps=1e-5)
        # GPT-2 initialisation, as gpt_init
        for n, p in self.named_parameters():
            if n.endswith("bias"):
                torch.nn.init.zeros_(p)
            elif "ln" in n:
                torch.nn.init.ones_(p)
            elif n == "wpe.weight":
                torch.nn.init.normal_(p, std=0.01)
            elif "proj" in n:
                torch.nn.init.normal_(p, std=0.02 / math.sqrt(2 * L))
            else:
                torch.nn.init.normal_(p, std=0.02)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for b in self.blocks:
            x = b(x)
        logits = self.lnf(x) @ self.wte.weight.t()  # tied embedding, (B,T,V)
        return logits.log_softmax(dim=-1).gather(2, targets.unsqueeze(2)).squeeze(2)  # (B,T)


def bench(device, cfg, steps, warmup, runs, mode):
    V, T, L, C, NH, B = cfg
    torch.manual_seed(1)
    model = GPT(V, T, L, C, NH).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    other = [p for n, p in model.named_parameters() if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": other, "weight_decay": 0.0}],
                            lr=3e-4, betas=(0.9, 0.95), eps=1e-8, foreach=True)
    params = list(model.parameters())
    host = [torch.empty_like(p, device="cpu") for p in params] if mode == "roundtrip" else []
    nparams = sum(p.numel() for p in params)
    rng = np.random.default_rng(3)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def step():
        idx = torch.from_numpy(rng.integers(0, V, size=(B, T))).to(device)
        tg = torch.from_numpy(rng.integers(0, V, size=(B, T))).to(device)
        logp = model(idx, tg)
        opt.zero_grad(set_to_none=False)
        if mode == "roundtrip":
            lp = logp.detach().double().cpu().numpy()
            dl = np.full(lp.shape, -1.0 / lp.size)  # d(mean NLL)/d logp, on the host
            logp.backward(torch.from_numpy(dl).float().to(device))
        else:
            (-logp.mean()).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0, **CLIP_KW)
        opt.step()
        for h, p in zip(host, params):  # roundtrip: the host copy of the weights
            h.copy_(p.detach())

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
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mode", default="both", choices=["roundtrip", "device", "both"])
    ap.add_argument("--threads", type=int, default=0,
                    help="CPU threads (torch.set_num_threads); 0: PyTorch's default")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)

    torch.backends.cuda.matmul.allow_tf32 = False  # pure fp32, as bench_gpt
    torch.backends.cudnn.allow_tf32 = False
    name = torch.cuda.get_device_name(0) if a.device.startswith("cuda") else platform.processor()
    print(f"torch {torch.__version__}, device {a.device} ({name}), "
          f"{torch.get_num_threads()} CPU threads")
    print("| backend | mode | config | model | batch | parameters | runs × steps | "
          "median steps/s | min | max | tokens/s | CPU ms/step |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    modes = ["roundtrip", "device"] if a.mode == "both" else [a.mode]
    for label in (["default", "large"] if a.config == "all" else [a.config]):
        cfg = CONFIGS[label]
        V, T, L, C, NH, B = cfg
        for mode in modes:
            n, med, lo, hi, cpu = bench(a.device, cfg, a.steps, a.warmup, a.runs, mode)
            print(f"| torch eager {a.device} | {mode} | {label} | V{V} T{T} L{L} C{C} H{NH} | "
                  f"{B} | {n} | {a.runs} × {a.steps} | {med:.4g} | {lo:.4g} | {hi:.4g} | "
                  f"{med * B * T:.0f} | {cpu:.1f} |")


if __name__ == "__main__":
    main()
