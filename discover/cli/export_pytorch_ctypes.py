# ---- the C objective through ctypes -------------------------------------------------------
# (discover/cli/export_pytorch_ctypes.py, copied into modules whose candidate is C source;
# it expects _KIND, _OBJECTIVE_HEADER and _C_SOURCE above it.)
#
# NO SANDBOX: the C code below is compiled with the system C compiler and runs inside this
# Python process with its privileges. discover ran it in a locked-down worker; here nothing
# stops it from reading files or the network. Read it before you import this module.
#
# The first call compiles discover_objective.h + the source once into a shared object under
# $XDG_CACHE_HOME/discover/objectives (else ~/.cache/...), named by a hash of the text and
# the flags, and loads it. `objective` runs on float64 CPU copies of the inputs.
# Backward: objective_grad when the source defines it and it agrees with central differences
# on the first batch (the sandbox's check and tolerance), else central differences with the
# sandbox's rule: step h = 3e-7·max(1, |x|), divisor (x + h) − (x − h); all rows moved at once
# when the batch is row-separable (each row's loss depends only on that row; tested on every
# batch with the sandbox's bit test), else one input at a time.

import ctypes
import hashlib
import os
import shlex
import subprocess
import tempfile
import threading
import warnings

from torch.autograd.function import once_differentiable

_FD_STEP = 3e-7
_CFLAGS = ("-O2", "-fPIC", "-shared", "-ffp-contract=off")
_DBL = ctypes.POINTER(ctypes.c_double)


class _PrefBatch(ctypes.Structure):
    # pref_batch of discover_objective.h, field for field
    _fields_ = [("n", ctypes.c_int), ("beta", ctypes.c_double)] + [
        (name, _DBL) for name in ("chosen_logps", "rejected_logps", "ref_chosen_logps",
                                  "ref_rejected_logps", "chosen_lens", "rejected_lens")]


class _Library:
    lock = threading.Lock()
    objective = None
    grad = None          # objective_grad, or None
    grad_trusted = None  # None: not checked yet; then True or False


def _cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "discover", "objectives")


def _compile():
    cc = shlex.split(os.environ.get("CC") or "cc")
    # the object is named by what it is built from (the compiler may change, or be absent
    # once the object exists)
    key = hashlib.sha256("\0".join([" ".join(_CFLAGS), _OBJECTIVE_HEADER, _C_SOURCE])
                         .encode("utf-8", "surrogateescape")).hexdigest()[:32]
    folder = _cache_dir()
    so = os.path.join(folder, f"objective-{key}.so")
    if os.path.exists(so):
        return so
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError as e:
        raise RuntimeError(f"{__name__}: cannot create {folder} for the compiled objective "
                           f"({e.strerror}); set XDG_CACHE_HOME to a writable folder") from None
    with tempfile.TemporaryDirectory(prefix="build-", dir=folder) as tmp:
        with open(os.path.join(tmp, "discover_objective.h"), "w", encoding="utf-8") as f:
            f.write(_OBJECTIVE_HEADER)
        src = os.path.join(tmp, "objective.c")
        with open(src, "wb") as f:  # the archived bytes, invalid UTF-8 included
            f.write(b'#include "discover_objective.h"\n#line 1 "objective.c"\n')
            f.write(_C_SOURCE.encode("utf-8", "surrogateescape"))
        out = os.path.join(tmp, "objective.so")
        cmd = cc + list(_CFLAGS) + ["-I", tmp, "-o", out, src, "-lm"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
        except FileNotFoundError:
            raise RuntimeError(f"{__name__}: no C compiler '{cc[0]}' to build the objective; install "
                               "one (Debian: apt-get install gcc) or set CC") from None
        if r.returncode != 0:
            raise RuntimeError(f"{__name__}: compiling the objective failed ({' '.join(cmd)}):\n"
                               f"{r.stderr.strip()}")
        os.replace(out, so)  # atomic: a concurrent process sees the whole file or none
    return so


def _library():
    with _Library.lock:
        if _Library.objective is None:
            lib = ctypes.CDLL(_compile())
            if not hasattr(lib, "objective"):
                raise RuntimeError(f"{__name__}: the C source defines no non-static function "
                                   "'objective'; the candidate cannot be called")
            if _KIND == "pref":
                args = [ctypes.POINTER(_PrefBatch), _DBL]
                grad_args = args + [_DBL, _DBL]
            else:
                args = [ctypes.c_int, ctypes.c_int, _DBL, ctypes.POINTER(ctypes.c_int), _DBL]
                grad_args = args + [_DBL]
            grad = getattr(lib, "objective_grad", None)
            if grad is not None:
                grad.argtypes, grad.restype = grad_args, None
            lib.objective.argtypes, lib.objective.restype = args, None
            _Library.grad, _Library.objective = grad, lib.objective
    return _Library


def _ptr(t):
    return ctypes.cast(t.data_ptr(), _DBL)


def _f64(t):
    # a private float64 CPU copy: central differences perturb it in place
    return t.detach().to(device="cpu", dtype=torch.float64, copy=True).contiguous()


def _same_bits(a, b):
    return torch.equal(a.view(torch.int64), b.view(torch.int64))


class _Problem:
    """One batch in float64 on the CPU: the trainable inputs as columns (one value per row)
    and calls of objective / objective_grad on the current contents."""

    def separable(self, base):
        # The sandbox's bit test: for every bit b of the row index, move the rows whose bit b
        # is 0 (then 1) and see whether any other row's loss changes, bit for bit. Any two
        # rows differ in some bit, so an influence of one row on another shows.
        n = self.n
        rows = torch.arange(n)
        bit = 0
        while (1 << bit) < n:
            for side in (0, 1):
                moved = ((rows >> bit) & 1) == side
                for target, amount in self.moves():
                    saved = target.clone()
                    target[moved] += amount[moved]
                    out = self.call()
                    target.copy_(saved)
                    if not _same_bits(out[~moved], base[~moved]):
                        return False
            bit += 1
        return True

    def fd(self, g, separable):
        # d(sum_r g_r·loss_r)/d input by central differences, column by column.
        grads = []
        for col in self.columns():
            x = col.clone()
            h = _FD_STEP * torch.clamp(x.abs(), min=1.0)
            den = (x + h) - (x - h)
            if separable:
                col.copy_(x + h)
                plus = self.call()
                col.copy_(x - h)
                minus = self.call()
                col.copy_(x)
                grads.append(g * (plus - minus) / den)
                continue
            d = torch.empty(self.n, dtype=torch.float64)
            for i in range(self.n):
                xi, hi = float(x[i]), float(h[i])
                col[i] = xi + hi
                plus = self.call()
                col[i] = xi - hi
                minus = self.call()
                col[i] = xi
                d[i] = (g * (plus - minus)).sum() / den[i]
            grads.append(d)
        return self.assemble(grads)

    def gradient(self, base, g):
        lib = _library()
        uniform = bool((g == g[0]).all())
        sep = None
        if lib.grad is not None and lib.grad_trusted is None:
            sep = self.separable(base)
            lib.grad_trusted = self.grad_agrees(base, self.fd(torch.ones_like(g), sep))
        if lib.grad is not None and lib.grad_trusted:
            # objective_grad gives d(sum of losses)/d input: that is the answer for equal
            # weights, and row by row for a separable batch; otherwise differences.
            if uniform:
                return [g[0] * d for d in self.grad_call()[1]]
            sep = self.separable(base) if sep is None else sep
            if sep:
                return [self.row_scale(g, d) for d in self.grad_call()[1]]
        sep = self.separable(base) if sep is None else sep
        return self.fd(g, sep)

    def grad_agrees(self, base, fd):
        # sbx_grads_disagree's tolerances
        loss, ga = self.grad_call()
        if not torch.all((loss - base).abs() <= 1e-9 * torch.clamp(base.abs(), min=1.0)):
            why = "its losses differ from objective's"
        else:
            gn = torch.cat([d.reshape(-1) for d in fd])
            ga = torch.cat([d.reshape(-1) for d in ga])
            scale = max(1e-3, float(gn.abs().max()))
            if torch.all((ga - gn).abs() <= 1e-6 * (gn.abs() + scale)):
                return True
            why = "it disagrees with central differences"
        warnings.warn(f"{__name__}: objective_grad is not used: on the first batch {why}; "
                      "gradients come from central differences", RuntimeWarning)
        return False


class _PrefProblem(_Problem):
    def __init__(self, pc, pr, rc, rr, beta, lw, ll):
        self.n = pc.shape[0]
        self.cols = [_f64(t) for t in (pc, pr, rc, rr, lw, ll)]
        self.batch = _PrefBatch(self.n, beta, *[_ptr(c) for c in self.cols])

    def call(self):
        out = torch.empty(self.n, dtype=torch.float64)
        _library().objective(ctypes.byref(self.batch), _ptr(out))
        return out

    def grad_call(self):
        out, dc, dr = (torch.empty(self.n, dtype=torch.float64) for _ in range(3))
        _library().grad(ctypes.byref(self.batch), _ptr(out), _ptr(dc), _ptr(dr))
        return out, [dc, dr]

    def columns(self):
        return self.cols[:2]

    def moves(self):
        # as the sandbox: log-probs move down by 0.37 + 0.001·|x|, chosen and rejected
        # separately so that their effects cannot cancel
        return [(c, -(0.37 + 0.001 * c.abs())) for c in self.cols[:2]]

    def assemble(self, grads):
        return grads

    def row_scale(self, g, d):
        return g * d


class _ClsProblem(_Problem):
    def __init__(self, logits, labels):
        self.n, self.k = logits.shape
        self.z = _f64(logits)
        self.y = labels.detach().to(device="cpu", dtype=torch.int32, copy=True).contiguous()

    def _args(self):
        return (self.n, self.k, _ptr(self.z), ctypes.cast(self.y.data_ptr(),
                                                          ctypes.POINTER(ctypes.c_int)))

    def call(self):
        out = torch.empty(self.n, dtype=torch.float64)
        _library().objective(*self._args(), _ptr(out))
        return out

    def grad_call(self):
        out = torch.empty(self.n, dtype=torch.float64)
        d = torch.empty((self.n, self.k), dtype=torch.float64)
        _library().grad(*self._args(), _ptr(out), _ptr(d))
        return out, [d]

    def columns(self):
        return [self.z[:, c] for c in range(self.k)]

    def moves(self):
        # as the sandbox: the whole row, a different amount per column (a softmax row is
        # shift-invariant, so equal amounts would test nothing)
        step = 0.37 * torch.arange(1, self.k + 1, dtype=torch.float64)
        return [(self.z, step.expand(self.n, self.k))]

    def assemble(self, grads):
        return [torch.stack(grads, dim=1)]

    def row_scale(self, g, d):
        return g[:, None] * d


class _PrefFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pc, pr, rc, rr, beta, lw, ll):
        ctx.problem = _PrefProblem(pc, pr, rc, rr, beta, lw, ll)
        ctx.base = ctx.problem.call()
        ctx.like = [(t.device, t.dtype) for t in (pc, pr)]
        return ctx.base.to(device=pc.device, dtype=pc.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        g = grad_out.detach().to(device="cpu", dtype=torch.float64)
        dc, dr = ctx.problem.gradient(ctx.base, g)
        (dev_c, dt_c), (dev_r, dt_r) = ctx.like
        return (dc.to(device=dev_c, dtype=dt_c), dr.to(device=dev_r, dtype=dt_r),
                None, None, None, None, None)


class _ClsFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, labels):
        ctx.problem = _ClsProblem(logits, labels)
        ctx.base = ctx.problem.call()
        ctx.like = (logits.device, logits.dtype)
        return ctx.base.to(device=logits.device, dtype=logits.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        g = grad_out.detach().to(device="cpu", dtype=torch.float64)
        (d,) = ctx.problem.gradient(ctx.base, g)
        return d.to(device=ctx.like[0], dtype=ctx.like[1]), None


def _objective(*args):
    fn = _PrefFunction if _KIND == "pref" else _ClsFunction
    return fn.apply(*args)
