"""A minimal PyTorch training loop around a loss exported by discover.

    discover export 42 --format pytorch -o found_loss.py
    python3 train_loop.py found_loss.py [--steps 200]

The exported module has one entry point, `loss`, with the task's signature, and a dict
META (name, task, interface, fitness, ...). This script loads the module from its path,
reads META["interface"] and trains a small model on synthetic data with it:

  classification  a linear classifier on Gaussian clusters: loss(logits, labels)
  preference      a tiny "policy" that scores responses by features, trained against a
                  frozen copy of itself as the reference: loss(policy_chosen_logps,
                  policy_rejected_logps, reference_chosen_logps, reference_rejected_logps,
                  beta, chosen_lens, rejected_lens)

Both losses are per row / per pair; the batch loss is their mean. The script prints the
mean loss before and after training and exits 1 when training did not lower it.
"""

import argparse
import copy
import importlib.util
import sys

import torch


def load(path):
    spec = importlib.util.spec_from_file_location("exported_loss", path)
    if spec is None:
        sys.exit(f"train_loop.py: {path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train_classifier(objective, steps):
    g = torch.Generator().manual_seed(0)
    k, d, n = 4, 8, 256
    centres = 2.0 * torch.randn(k, d, generator=g)
    labels = torch.randint(0, k, (n,), generator=g)
    x = centres[labels] + torch.randn(n, d, generator=g)
    model = torch.nn.Linear(d, k)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def batch_loss():
        return objective.loss(model(x), labels).mean()

    with torch.no_grad():
        before = float(batch_loss())
    for _ in range(steps):
        opt.zero_grad()
        batch_loss().backward()
        opt.step()
    with torch.no_grad():
        after = float(batch_loss())
    return before, after


class TinyPolicy(torch.nn.Module):
    """log pi(response) = a learned score of its features minus a length term: enough to
    stand in for the summed token log-probs a language model would give."""

    def __init__(self, d):
        super().__init__()
        self.score = torch.nn.Linear(d, 1)

    def forward(self, features, lens):
        return -torch.nn.functional.softplus(self.score(features)[:, 0]) * lens


def train_preference(objective, steps, beta=0.1):
    g = torch.Generator().manual_seed(0)
    d, n = 8, 128
    direction = torch.randn(d, generator=g, dtype=torch.float64)
    a = torch.randn(n, d, generator=g, dtype=torch.float64)
    b = torch.randn(n, d, generator=g, dtype=torch.float64)
    prefer_a = (a @ direction) > (b @ direction)  # the "human" prefers the higher projection
    chosen = torch.where(prefer_a[:, None], a, b)
    rejected = torch.where(prefer_a[:, None], b, a)
    chosen_lens = torch.randint(5, 40, (n,), generator=g).double()
    rejected_lens = torch.randint(5, 40, (n,), generator=g).double()
    policy = TinyPolicy(d).double()
    reference = copy.deepcopy(policy).requires_grad_(False)
    opt = torch.optim.SGD(policy.parameters(), lr=0.05)

    def batch_loss():
        return objective.loss(policy(chosen, chosen_lens), policy(rejected, rejected_lens),
                              reference(chosen, chosen_lens), reference(rejected, rejected_lens),
                              beta, chosen_lens, rejected_lens).mean()

    with torch.no_grad():
        before = float(batch_loss())
    for _ in range(steps):
        opt.zero_grad()
        batch_loss().backward()
        opt.step()
    with torch.no_grad():
        after = float(batch_loss())
    return before, after


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("module", help="a file written by 'discover export ID --format pytorch'")
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args()
    objective = load(args.module)
    meta = objective.META
    if meta["interface"] == "classification":
        before, after = train_classifier(objective, args.steps)
    else:
        before, after = train_preference(objective, args.steps)
    print(f"{meta['name']} ({meta['interface']}, task {meta['task']}): mean loss went from "
          f"{before:.6g} to {after:.6g} in {args.steps} steps")
    if not after < before:
        sys.exit("train_loop.py: training did not lower the loss")


if __name__ == "__main__":
    main()
