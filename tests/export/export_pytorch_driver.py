"""The Python half of test_export_pytorch: loads the exported modules and runs them.

Run by the C test in a clean environment (env -i, python3 -I, a temporary working
directory, no discover on any path), which is also the proof that a module imports
without discover installed. It computes, for every module and every batch of its
interface, the losses and the gradients of their sum (and of a weighted sum) in float64,
and writes them as numbers; the C test compares them with the sandbox's. It also checks
behaviour that only Python can see (errors for bad arguments, dtypes, META) and reports
each as a "C NAME ok" or "C NAME FAIL why" line.

usage: python3 -I export_pytorch_driver.py MANIFEST PREF_BATCHES CLS_BATCHES OUT
  MANIFEST lines: ID KIND(pref|cls) PATH
"""

import importlib.util
import os
import sys
import traceback
import warnings

import torch

out_lines = []


def emit(*words):
    out_lines.append(" ".join(str(w) for w in words))


def check(name, ok, why=""):
    emit("C", name, "ok" if ok else "FAIL " + why.replace("\n", " | "))


def nums(t):
    return " ".join(repr(float(v)) for v in t.reshape(-1).tolist())


def read_batches(path):
    batches = []
    with open(path) as f:
        lines = [ln.split() for ln in f if ln.strip()]
    i = 0
    while i < len(lines):
        head = lines[i]
        if head[0] != "batch":
            raise SystemExit(f"{path}: expected 'batch' at data line {i + 1}")
        name, n, p = head[1], int(head[2]), head[3]
        rows = lines[i + 1:i + 7] if head[4] == "pref" else lines[i + 1:i + 3]
        batches.append((name, n, p, rows))
        i += 1 + len(rows)
    return batches


def f64(words):
    return torch.tensor([float(w) for w in words], dtype=torch.float64)


def pref_tensors(batch):
    name, n, beta, rows = batch
    pc, pr, rc, rr, lw, ll = (f64(r) for r in rows)
    return float(beta), pc, pr, rc, rr, lw, ll


def cls_tensors(batch):
    name, n, k, rows = batch
    z = f64(rows[0]).reshape(n, int(k))
    y = torch.tensor([int(w) for w in rows[1]], dtype=torch.int64)
    return z, y


def weights(n):
    # unequal per-row weights: backward must give d(sum_i w_i loss_i)/d input
    return torch.tensor([0.5 + (i % 3) for i in range(n)], dtype=torch.float64)


def run_pref(mid, mod, batch):
    beta, pc, pr, rc, rr, lw, ll = pref_tensors(batch)
    a, b = pc.clone().requires_grad_(), pr.clone().requires_grad_()
    losses = mod.loss(a, b, rc, rr, beta, lw, ll)
    emit("R", mid, batch[0], "L", nums(losses.detach()))
    ga, gb = torch.autograd.grad(losses.sum(), (a, b))
    emit("R", mid, batch[0], "G", nums(torch.cat([ga, gb])))
    a, b = pc.clone().requires_grad_(), pr.clone().requires_grad_()
    losses = mod.loss(a, b, rc, rr, beta, lw, ll)
    ga, gb = torch.autograd.grad((losses * weights(len(pc))).sum(), (a, b))
    emit("R", mid, batch[0], "W", nums(torch.cat([ga, gb])))


def run_cls(mid, mod, batch):
    z, y = cls_tensors(batch)
    a = z.clone().requires_grad_()
    losses = mod.loss(a, y)
    emit("R", mid, batch[0], "L", nums(losses.detach()))
    (g,) = torch.autograd.grad(losses.sum(), (a,))
    emit("R", mid, batch[0], "G", nums(g))
    a = z.clone().requires_grad_()
    (g,) = torch.autograd.grad((mod.loss(a, y) * weights(z.shape[0])).sum(), (a,))
    emit("R", mid, batch[0], "W", nums(g))


def raises(fn, exc, words):
    try:
        fn()
    except exc as e:
        msg = str(e)
        missing = [w for w in words if w not in msg]
        return (not missing, f"message {msg!r} lacks {missing}")
    except Exception as e:  # the wrong kind of error
        return (False, f"raised {type(e).__name__}: {e}")
    return (False, "no error raised")


def python_checks(mid, kind, mod, batch):
    """Behaviour of the entry point beyond the numbers (once per kind)."""
    meta = mod.META
    tag = f"{kind}_{meta.get('implementation')}"
    missing = [k for k in ("name", "task", "fitness", "interface", "candidate_id") if k not in meta]
    check(f"{tag}_meta_keys_{kind}", not missing, f"META lacks {missing}")
    check(f"{tag}_meta_interface_{kind}",
          meta.get("interface") == ("preference" if kind == "pref" else "classification"),
          f"interface {meta.get('interface')!r}")
    if kind == "pref":
        beta, pc, pr, rc, rr, lw, ll = pref_tensors(batch)
        ok, why = raises(lambda: mod.loss(pc, pr[:-1], rc, rr, beta), ValueError,
                         ["policy_rejected_logps", "1-D"])
        check(f"{tag}_bad_shape_named", ok, why)
        ok, why = raises(lambda: mod.loss(pc, pr, rc, rr, -1.0), ValueError, ["beta", "positive"])
        check(f"{tag}_bad_beta_named", ok, why)
        ok, why = raises(lambda: mod.loss(pc.tolist(), pr, rc, rr, beta), TypeError,
                         ["policy_chosen_logps", "torch.Tensor"])
        check(f"{tag}_not_a_tensor_named", ok, why)
        ok, why = raises(lambda: mod.loss(pc, pr, rc, rr, beta, lw[:2]), ValueError,
                         ["chosen_lens"])
        check(f"{tag}_bad_lens_named", ok, why)
        # positional and keyword forms of TRL's signature, lengths defaulting to 1
        l1 = mod.loss(policy_chosen_logps=pc, policy_rejected_logps=pr,
                      reference_chosen_logps=rc, reference_rejected_logps=rr, beta=beta)
        l2 = mod.loss(pc, pr, rc, rr, torch.tensor(beta, dtype=torch.float64), torch.ones_like(pc),
                      torch.ones_like(pc))
        check(f"{tag}_keywords_and_default_lens", torch.equal(l1, l2), f"{l1} vs {l2}")
        # float32 in, float32 out, close to float64
        l32 = mod.loss(pc.float(), pr.float(), rc.float(), rr.float(), beta, lw, ll)
        l64 = mod.loss(pc, pr, rc, rr, beta, lw, ll)
        check(f"{tag}_float32_pref", l32.dtype == torch.float32 and l32.shape == l64.shape and
              bool(torch.allclose(l32.double(), l64, rtol=1e-3, atol=1e-3)),
              f"{l32.dtype} {l32} vs {l64}")
    else:
        z, y = cls_tensors(batch)
        bad = y.clone()
        bad[1] = z.shape[1]
        ok, why = raises(lambda: mod.loss(z, bad), ValueError, ["labels[1]", str(z.shape[1])])
        check(f"{tag}_label_out_of_range_named", ok, why)
        ok, why = raises(lambda: mod.loss(z, y.double()), TypeError, ["labels", "integer"])
        check(f"{tag}_float_labels_named", ok, why)
        ok, why = raises(lambda: mod.loss(z[0], y), ValueError, ["logits", "2-D"])
        check(f"{tag}_bad_logits_named", ok, why)
        l32 = mod.loss(z.float(), y.int())
        l64 = mod.loss(z, y)
        check(f"{tag}_float32_cls", l32.dtype == torch.float32 and
              bool(torch.allclose(l32.double(), l64, rtol=1e-3, atol=1e-3)),
              f"{l32.dtype} {l32} vs {l64}")


def main():
    manifest, pref_path, cls_path, out = sys.argv[1:5]
    batches = {"pref": read_batches(pref_path), "cls": read_batches(cls_path)}
    checked = set()
    with open(manifest) as f:
        entries = [ln.split() for ln in f if ln.strip()]
    for mid, kind, path in entries:
        try:
            spec = importlib.util.spec_from_file_location(f"exported_{mid}", path)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
        except Exception:
            check(f"import_{mid}", False, traceback.format_exc())
            continue
        check(f"import_{mid}", True)
        expected = path[:-3] + ".expected.c"
        if os.path.exists(expected):
            # the archived bytes, invalid UTF-8 included, and the name and thought as text
            with open(expected, "rb") as f:
                want = f.read()
            got = mod._C_SOURCE.encode("utf-8", "surrogateescape")
            check(f"source_bytes_{mid}", got == want, f"{got[:80]!r} vs {want[:80]!r}")
            thought = mod.META["thought"]
            check(f"hostile_meta_{mid}", mod.META["name"] == "it's \\" and
                  thought.startswith("line1\rline2 ") and thought.endswith("''' \"\"\" \u202e"),
                  f"{mod.META['name']!r} {thought!r}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for batch in batches[kind]:
                try:
                    (run_pref if kind == "pref" else run_cls)(mid, mod, batch)
                except Exception:
                    check(f"run_{mid}_{batch[0]}", False, traceback.format_exc())
        # only an objective_grad that disagrees with objective is refused, with a reason
        refused = [w for w in caught if "objective_grad is not used" in str(w.message)]
        want = mod.META["name"] == "bad_grad"
        check(f"grad_refused_{mid}", bool(refused) == want,
              f"{mod.META['name']}: warnings {[str(w.message) for w in caught]}")
        impl = mod.META.get("implementation")
        if (kind, impl) not in checked:
            checked.add((kind, impl))
            try:
                python_checks(mid, kind, mod, batches[kind][0])
            except Exception:
                check(f"python_checks_{mid}", False, traceback.format_exc())
    check("no_discover_module", not any(m.startswith("discover") for m in sys.modules),
          "a discover module was imported")
    with open(out, "w") as f:
        f.write("\n".join(out_lines) + "\n")


main()
