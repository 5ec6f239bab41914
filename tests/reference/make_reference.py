#!/usr/bin/env python3
"""make_reference.py - writes the fixtures that tests/inner_loop/test_gpt_reference.c and
test_mlp_reference.c compare the C models against: the sentiment task's GPT and the
fashion task's MLP recomputed with PyTorch, from nothing but the architecture and the
optimiser that inner_loop/sentiment/gpt.h and inner_loop/fashion/mlp.h document.

    /usr/bin/python3 tests/reference/make_reference.py   # Debian's python3-torch

rewrites tests/reference/gpt.bin and tests/reference/mlp.bin (commit them; the C tests do
not need PyTorch). The output is deterministic: fixed seeds, CPU, float64.

Why float64: the parameters and inputs are float32 values (what the C model holds), but
every computation here runs in float64, so the fixture is the exact answer to float32
rounding and the C tests' tolerances measure the C model's own float32 error, not the sum
of two float32 errors.

File format (little-endian), the same frame for both models:
  int32   header[16]   magic 0x46455244 (the bytes "DREF"), version 1, kind (1 GPT, 2 MLP),
                       then the configuration (below), the rest 0
  float32 hyper[8]     the optimiser's hyper-parameters (below), the rest 0
  then the tensors below, in this order, with nothing after them.
N is the number of parameters, laid out exactly as the C model's one flat array.

GPT (kind 1): header[3..10] = vocab V, ctx, layers L, width C, heads NH, batch B, length T,
optimiser steps S; hyper = lr, beta1, beta2, eps, weight_decay, max_norm.
  int32   inputs[B*T], targets[B*T]   (targets < 0: not scored)
  float32 params[N]                   (gpt_params order: wte wpe ln1w ... lnfw lnfb)
  float32 logp[B*T]                   log p(target) per position, 0 where not scored
  float32 probs[B*T*V]                the softmax over the vocabulary at every position
  float32 loss[S+1]                   mean NLL over the scored positions before each step
                                      and after the last one
  float32 grad_norm[S]                the global gradient norm before clipping, per step
  float32 grads[N]                    d loss / d params at the initial parameters
  float32 params_after[N]             after S steps of clip + AdamW

MLP (kind 2): header[3..8] = in, hidden, hidden_layers, out K, batch B, steps S;
hyper = lr, beta1, beta2, eps, weight_decay.
  int32   labels[B]
  float32 x[B*in]
  float32 params[N]                   (W0 b0 W1 b1 ...; W (out, in) row-major)
  float32 logits[B*K]                 at the initial parameters
  float32 loss[S+1]                   mean cross-entropy before each step and after the last
  float32 grads[N]                    d loss / d params at the initial parameters
  float32 params_after[N]             after S steps of Adam with decoupled weight decay
"""
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

MAGIC = 0x46455244
VERSION = 1
KIND_GPT, KIND_MLP = 1, 2
HERE = os.path.dirname(os.path.abspath(__file__))

torch.set_grad_enabled(True)
torch.use_deterministic_algorithms(True)


class Writer:
    def __init__(self, kind, config, hyper):
        header = [MAGIC, VERSION, kind] + list(config)
        assert len(header) <= 16 and len(hyper) <= 8
        self.parts = [np.array(header + [0] * (16 - len(header)), dtype="<i4").tobytes(),
                      np.array(list(hyper) + [0] * (8 - len(hyper)), dtype="<f4").tobytes()]

    def ints(self, x):
        self.parts.append(np.asarray(x, dtype="<i4").ravel().tobytes())

    def floats(self, x):
        if isinstance(x, torch.Tensor):
            x = x.detach().numpy()
        a = np.asarray(x, dtype=np.float64).ravel()
        assert np.all(np.isfinite(a))
        self.parts.append(a.astype("<f4").tobytes())

    def save(self, name):
        path = os.path.join(HERE, name)
        data = b"".join(self.parts)
        with open(path, "wb") as f:
            f.write(data)
        print(f"wrote {path} ({len(data)} bytes)")


def f32_normal(gen, shape, std, mean=0.0):
    """Float32 draws (the values the C model will hold), returned as exact float64."""
    x = torch.randn(shape, generator=gen, dtype=torch.float32) * np.float32(std) + np.float32(mean)
    return x.to(torch.float64)


# ---------------------------------------------------------------- the GPT (gpt.h) -----

GPT_CFG = dict(V=48, ctx=12, L=2, C=16, NH=4)
# clip + AdamW as sent_lm_step (lm.c) calls gpt_adamw: betas 0.9/0.95, eps 1e-8, clip 1;
# lr and weight decay larger than the trainer's so that a wrong decay rule or step moves
# the parameters by far more than float32 rounding.
GPT_HYPER = dict(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, max_norm=1.0)
GPT_STEPS = 3


def gpt_param_shapes(V, ctx, L, C, NH):
    """(name, shape, decayed) in the order of gpt_params; a layer's tensors are stacked on a
    leading L axis as in the C model's flat array. Decayed: the embeddings and the weight
    matrices (the usual GPT-2 AdamW rule), not biases or layernorm parameters."""
    return [("wte", (V, C), True), ("wpe", (ctx, C), True),
            ("ln1w", (L, C), False), ("ln1b", (L, C), False),
            ("qkvw", (L, 3 * C, C), True), ("qkvb", (L, 3 * C), False),
            ("attprojw", (L, C, C), True), ("attprojb", (L, C), False),
            ("ln2w", (L, C), False), ("ln2b", (L, C), False),
            ("fcw", (L, 4 * C, C), True), ("fcb", (L, 4 * C), False),
            ("fcprojw", (L, C, 4 * C), True), ("fcprojb", (L, C), False),
            ("lnfw", (C,), False), ("lnfb", (C,), False)]


def gpt_random_params(gen, V, ctx, L, C, NH):
    """Not GPT-2's init (its tiny weights leave most gradients near zero): weights scaled
    for O(1) activations, layernorm gains near 1 and biases of 0.1 so every parameter
    tensor carries a gradient well above rounding."""
    P = {}
    for name, shape, _ in gpt_param_shapes(V, ctx, L, C, NH):
        if name in ("wte", "wpe"):
            P[name] = f32_normal(gen, shape, 0.5)
        elif name.endswith("w") and len(shape) == 3:  # (L, out, in) matrices
            P[name] = f32_normal(gen, shape, 1.0 / math.sqrt(shape[2]))
        elif name.startswith("ln") and name.endswith("w"):
            P[name] = f32_normal(gen, shape, 0.2, mean=1.0)
        else:  # biases
            P[name] = f32_normal(gen, shape, 0.1)
    return P


def gpt_logprobs(P, inputs, V, ctx, L, C, NH):
    """log softmax over the vocabulary, (B, T, V). GPT-2: token + position embedding; per
    layer x += attn(LN1(x)), x += MLP(LN2(x)); final LN; logits through the tied wte."""
    B, T = inputs.shape
    hs = C // NH
    x = P["wte"][inputs] + P["wpe"][:T]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(L):
        h = F.layer_norm(x, (C,), P["ln1w"][l], P["ln1b"][l], eps=1e-5)
        qkv = F.linear(h, P["qkvw"][l], P["qkvb"][l])
        # the 3C outputs are q | k | v, each NH heads of hs contiguous features
        q, k, v = (t.reshape(B, T, NH, hs).transpose(1, 2) for t in qkv.split(C, dim=-1))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        att = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        x = x + F.linear(y, P["attprojw"][l], P["attprojb"][l])
        h = F.layer_norm(x, (C,), P["ln2w"][l], P["ln2b"][l], eps=1e-5)
        # GELU in its tanh approximation (GPT-2's; gelu_forward)
        f = F.gelu(F.linear(h, P["fcw"][l], P["fcb"][l]), approximate="tanh")
        x = x + F.linear(f, P["fcprojw"][l], P["fcprojb"][l])
    x = F.layer_norm(x, (C,), P["lnfw"], P["lnfb"], eps=1e-5)
    return F.linear(x, P["wte"]).log_softmax(dim=-1)


def gpt_batch(V):
    """Three sequences as sent_batch_build lays them out: BOS (id 0) first, inputs padded
    with 0, targets -1 past each sequence's end; the second sequence scores its response
    only (its first 3 targets are prompt). T = 10 < ctx, so the last wpe rows are unused."""
    rng = np.random.default_rng(12)
    lengths, prompt = [11, 8, 6], [0, 3, 0]
    T = max(lengths) - 1
    inputs = np.zeros((len(lengths), T), dtype=np.int64)
    targets = np.full((len(lengths), T), -1, dtype=np.int64)
    for b, n in enumerate(lengths):
        tok = np.concatenate([[0], rng.integers(1, V, size=n - 1)])
        tok[-1] = 0 if b == 0 else tok[-1]  # one sequence ends with EOS
        inputs[b, : n - 1] = tok[:-1]
        targets[b, prompt[b] : n - 1] = tok[1 + prompt[b] :]
    return torch.from_numpy(inputs), torch.from_numpy(targets)


def mean_nll(logprobs, targets):
    """What sent_lm_step optimises: the mean NLL over the scored positions."""
    V = logprobs.shape[-1]
    return F.nll_loss(logprobs.reshape(-1, V), targets.reshape(-1), ignore_index=-1)


def clip_like_gpt_adamw(params, max_norm):
    """Global-norm clipping as gpt_adamw does it: scale = max_norm / norm when the norm
    exceeds max_norm. torch.nn.utils.clip_grad_norm_ divides by norm + 1e-6 instead; the
    C rule is mirrored exactly rather than hidden in the tolerance. Returns the norm."""
    norm = math.sqrt(sum(float((p.grad * p.grad).sum()) for p in params))
    if max_norm > 0 and norm > max_norm:
        for p in params:
            p.grad.mul_(max_norm / norm)
    return norm


def make_gpt():
    c = GPT_CFG
    gen = torch.Generator().manual_seed(20240612)
    P = gpt_random_params(gen, **c)
    inputs, targets = gpt_batch(c["V"])
    B, T = inputs.shape
    shapes = gpt_param_shapes(**c)
    params0 = torch.cat([P[n].reshape(-1) for n, _, _ in shapes])
    for t in P.values():
        t.requires_grad_(True)

    logprobs = gpt_logprobs(P, inputs, **c)
    loss = mean_nll(logprobs, targets)
    loss.backward()
    grads0 = torch.cat([P[n].grad.reshape(-1) for n, _, _ in shapes])
    scored = targets >= 0
    logp = torch.where(scored, logprobs.gather(-1, targets.clamp(min=0)[..., None])[..., 0],
                       torch.zeros((), dtype=torch.float64))
    probs = logprobs.exp()
    for n, _, _ in shapes:
        g = P[n].grad.abs().max().item()
        print(f"  gpt grad {n:9s} max |g| {g:.3g}")
    # The key biases' gradient is 0 in exact arithmetic (a common shift of a head's keys
    # changes all of a query's scores alike, and softmax ignores that); the C test relies
    # on it to bound them after the steps differently (see test_gpt_reference.c).
    C = c["C"]
    assert P["qkvb"].grad[:, C : 2 * C].abs().max().item() < 1e-12

    h = GPT_HYPER
    opt = torch.optim.AdamW(
        [{"params": [P[n] for n, _, d in shapes if d], "weight_decay": h["weight_decay"]},
         {"params": [P[n] for n, _, d in shapes if not d], "weight_decay": 0.0}],
        lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"])
    plist = [P[n] for n, _, _ in shapes]
    losses, norms = [], []
    for step in range(GPT_STEPS):
        opt.zero_grad(set_to_none=False)
        loss = mean_nll(gpt_logprobs(P, inputs, **c), targets)
        loss.backward()
        losses.append(loss.item())
        norms.append(clip_like_gpt_adamw(plist, h["max_norm"]))
        opt.step()
    with torch.no_grad():
        losses.append(mean_nll(gpt_logprobs(P, inputs, **c), targets).item())
    params_after = torch.cat([P[n].detach().reshape(-1) for n, _, _ in shapes])
    print(f"  gpt losses {losses}, gradient norms {norms}")
    # the clip must act, or the fixture would not test it
    assert norms[0] > h["max_norm"], "raise the parameter scale: the clip never acts"

    w = Writer(KIND_GPT, [c["V"], c["ctx"], c["L"], c["C"], c["NH"], B, T, GPT_STEPS],
               [h["lr"], h["beta1"], h["beta2"], h["eps"], h["weight_decay"], h["max_norm"]])
    w.ints(inputs)
    w.ints(targets)
    w.floats(params0)
    w.floats(logp)
    w.floats(probs)
    w.floats(losses)
    w.floats(norms)
    w.floats(grads0)
    w.floats(params_after)
    w.save("gpt.bin")


# ---------------------------------------------------------------- the MLP (mlp.h) -----

MLP_CFG = dict(inp=12, hidden=16, hidden_layers=2, out=5, B=8)
# dc_mlp_adam: betas 0.9/0.999, eps 1e-8 fixed; weight decay decoupled and applied to every
# parameter, biases included (dc_adam_update runs over the whole flat array)
MLP_HYPER = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.05)
MLP_STEPS = 3
# smallest |pre-activation| of a ReLU allowed in any forward pass: the mask must not hang
# on float32 rounding, or C and the reference could legitimately disagree
MLP_MARGIN = 1e-3


def mlp_forward(Ws, bs, x):
    """Logits and the smallest |pre-activation| of the hidden layers."""
    margin = math.inf
    h = x
    for i, (W, b) in enumerate(zip(Ws, bs)):
        h = F.linear(h, W, b)
        if i + 1 < len(Ws):
            margin = min(margin, h.detach().abs().min().item())
            h = F.relu(h)
    return h, margin


def mlp_try(seed):
    c, hp = MLP_CFG, MLP_HYPER
    gen = torch.Generator().manual_seed(seed)
    dims = [c["inp"]] + [c["hidden"]] * c["hidden_layers"] + [c["out"]]
    Ws = [f32_normal(gen, (dims[i + 1], dims[i]), math.sqrt(2.0 / dims[i]))
          for i in range(len(dims) - 1)]
    bs = [f32_normal(gen, (dims[i + 1],), 0.1) for i in range(len(dims) - 1)]
    x = f32_normal(gen, (c["B"], c["inp"]), 1.0)
    labels = torch.randint(0, c["out"], (c["B"],), generator=gen)
    params = [t for pair in zip(Ws, bs) for t in pair]  # W0 b0 W1 b1 ...: mlp.c's layout
    params0 = torch.cat([p.reshape(-1) for p in params])
    for p in params:
        p.requires_grad_(True)

    logits, margin = mlp_forward(Ws, bs, x)
    loss = F.cross_entropy(logits, labels)  # mean over the batch, as fashion.c scales
    loss.backward()
    grads0 = torch.cat([p.grad.reshape(-1) for p in params])
    logits0 = logits.detach().clone()

    opt = torch.optim.AdamW(params, lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                            weight_decay=hp["weight_decay"])
    losses = []
    for step in range(MLP_STEPS):
        opt.zero_grad(set_to_none=False)
        out, m = mlp_forward(Ws, bs, x)
        margin = min(margin, m)
        loss = F.cross_entropy(out, labels)
        loss.backward()
        losses.append(loss.item())
        opt.step()
    with torch.no_grad():
        out, m = mlp_forward(Ws, bs, x)
        margin = min(margin, m)
        losses.append(F.cross_entropy(out, labels).item())
    params_after = torch.cat([p.detach().reshape(-1) for p in params])
    return margin, (labels, x, params0, logits0, losses, grads0, params_after)


def make_mlp():
    c, hp = MLP_CFG, MLP_HYPER
    for seed in range(1, 100):
        margin, t = mlp_try(seed)
        if margin >= MLP_MARGIN:
            break
    else:
        sys.exit("no seed keeps the ReLU pre-activations clear of 0")
    labels, x, params0, logits0, losses, grads0, params_after = t
    print(f"  mlp seed {seed}, ReLU margin {margin:.3g}, losses {losses}")
    w = Writer(KIND_MLP, [c["inp"], c["hidden"], c["hidden_layers"], c["out"], c["B"], MLP_STEPS],
               [hp["lr"], hp["beta1"], hp["beta2"], hp["eps"], hp["weight_decay"]])
    w.ints(labels)
    w.floats(x)
    w.floats(params0)
    w.floats(logits0)
    w.floats(losses)
    w.floats(grads0)
    w.floats(params_after)
    w.save("mlp.bin")


if __name__ == "__main__":
    print(f"torch {torch.__version__}")
    make_gpt()
    make_mlp()
