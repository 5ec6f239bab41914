# ---- the entry point: argument checks and `loss` ----------------------------------------
# (discover/cli/export_pytorch_api.py, copied into every module `discover export --format
# pytorch` writes; it expects _KIND and _objective above it.) A wrong shape, dtype or value
# is an error that names the argument: a C objective handed a label past the last class
# would read outside its row.


def _tensor(name, t):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{__name__}.loss: {name} must be a torch.Tensor, got {type(t).__name__}")
    return t


def _beta(beta):
    if isinstance(beta, torch.Tensor):
        if beta.numel() != 1:
            raise ValueError(f"{__name__}.loss: beta must be one number, got a tensor of shape "
                             f"{tuple(beta.shape)}")
        beta = beta.item()
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise TypeError(f"{__name__}.loss: beta must be a number, got {type(beta).__name__}") from None
    if not math.isfinite(beta) or beta <= 0.0:
        raise ValueError(f"{__name__}.loss: beta must be a positive finite number (the KL strength, "
                         f"e.g. 0.1), got {beta!r}")
    return beta


def _lens(name, lens, like):
    # Response lengths in tokens; None means 1 per response (no length normalisation).
    n = like.shape[0]
    if lens is None:
        return torch.ones(n, dtype=like.dtype, device=like.device)
    t = torch.as_tensor(lens, device=like.device).detach()
    if t.dim() != 1 or t.shape[0] != n:
        raise ValueError(f"{__name__}.loss: {name} must be 1-D with one length per pair ({n}), got "
                         f"shape {tuple(t.shape)}")
    return t.to(like.dtype)


def _pref_args(pc, pr, rc, rr, beta, chosen_lens, rejected_lens):
    names = ("policy_chosen_logps", "policy_rejected_logps", "reference_chosen_logps",
             "reference_rejected_logps")
    ts = [_tensor(name, t) for name, t in zip(names, (pc, pr, rc, rr))]
    n = ts[0].shape[0] if ts[0].dim() == 1 else -1
    for name, t in zip(names, ts):
        if t.dim() != 1 or t.shape[0] != n:
            raise ValueError(f"{__name__}.loss: {name} has shape {tuple(t.shape)}; the four log-prob "
                             "arguments must be 1-D tensors of the same length (one value per pair, "
                             "summed over the response's tokens)")
        if not t.is_floating_point():
            raise TypeError(f"{__name__}.loss: {name} must be a floating-point tensor, got {t.dtype}")
        if t.device != ts[0].device:
            raise ValueError(f"{__name__}.loss: {name} is on {t.device} but policy_chosen_logps is on "
                             f"{ts[0].device}; put all four on one device")
    if n == 0:
        raise ValueError(f"{__name__}.loss: the batch is empty; give at least one pair")
    return (*ts, _beta(beta), _lens("chosen_lens", chosen_lens, ts[0]),
            _lens("rejected_lens", rejected_lens, ts[0]))


def _cls_args(logits, labels):
    _tensor("logits", logits)
    _tensor("labels", labels)
    if logits.dim() != 2 or logits.shape[0] == 0 or logits.shape[1] == 0:
        raise ValueError(f"{__name__}.loss: logits must be 2-D (rows, classes) with at least one row "
                         f"and one class, got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"{__name__}.loss: logits must be a floating-point tensor, got {logits.dtype}")
    n, k = logits.shape
    if labels.dim() != 1 or labels.shape[0] != n:
        raise ValueError(f"{__name__}.loss: labels must be 1-D with one class index per row of "
                         f"logits ({n}), got shape {tuple(labels.shape)}")
    if labels.dtype == torch.bool or labels.is_floating_point() or labels.is_complex():
        raise TypeError(f"{__name__}.loss: labels must be integer class indices, got {labels.dtype}")
    bad = ((labels < 0) | (labels >= k)).nonzero()
    if bad.numel():
        row = int(bad[0, 0])
        raise ValueError(f"{__name__}.loss: labels[{row}] is {int(labels[row])}; class indices must "
                         f"be in [0, {k}) for logits with {k} columns")
    return logits, labels.detach().to(device=logits.device, dtype=torch.int64)


if _KIND == "pref":

    def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps,
             reference_rejected_logps, beta, chosen_lens=None, rejected_lens=None):
        """One loss per pair, a tensor of shape (n,); average it for the batch loss.

        The log-probs are log pi(y|x) summed over each response's tokens, as TRL's
        DPOTrainer computes them; beta is the KL strength; chosen_lens / rejected_lens are
        the responses' lengths in tokens (None: 1, i.e. no length normalisation)."""
        return _objective(*_pref_args(policy_chosen_logps, policy_rejected_logps,
                                      reference_chosen_logps, reference_rejected_logps, beta,
                                      chosen_lens, rejected_lens))

else:

    def loss(logits, labels):
        """One loss per row, a tensor of shape (n,); average it for the batch loss.

        logits: (n, k) floating point; labels: (n,) integer class indices in [0, k)."""
        return _objective(*_cls_args(logits, labels))
