/* worker_audit.c — re-checking the persistent executor with fresh ones.
 *
 * The persistent executor runs candidate code, so whatever it answers is the candidate's
 * claim: an objective that takes over the executor (it can read its own stack and memory,
 * and run any instruction) can answer any numbers it likes, and one that keeps state
 * somewhere no restore reaches (deep in the stack, in a register) can answer differently
 * later in a run. What it cannot do is reach a process forked after the fact: a fresh
 * executor is a copy of the supervisor, which never ran candidate code, so the candidate in
 * it is exactly as compiled, has seen no earlier request, and sees one batch only.
 *
 * So on a random request the supervisor recomputes part of the answer from fresh executors,
 * one forked per candidate call, each evaluating one batch, and compares bit for bit:
 *   - the losses: the request's batch, losses only;
 *   - central differences: one trainable column (row-separable path: the whole column moved
 *     at once, as the persistent executor does it) or one trainable input (exact path), at
 *     x + h and at x - h, turned into gradients by the same code (worker.h) that produced
 *     the persistent executor's;
 *   - objective_grad: the request as asked (one call), losses and gradients.
 * An honest executor agrees to the last bit: same code, same inputs, same floating-point
 * environment. A mismatch, or a fresh executor that fails where the persistent one did not,
 * means the answers were not a pure function of the batch: the candidate ends as a
 * violation. Because each fresh executor sees a single batch, a candidate that answers its
 * base batch and its perturbed batches with a loss and a gradient that do not belong
 * together (the forged "constant loss with cross-entropy's gradient") is caught too.
 *
 * The schedule is a random draw per request (SBX_AUDIT_ONE_IN) from a generator the
 * supervisor seeds with getrandom() after forking the persistent executor, and drawn after
 * that executor has answered: nothing it can read or time tells it which answers are
 * checked. One that forges every answer survives k requests with probability
 * (1 - 1/SBX_AUDIT_ONE_IN)^k: 2 % after 60 (about a pre-screen), 1e-14 after 500. One that
 * forges a single gradient element now and then mostly survives, and changes little. */
#define _GNU_SOURCE
#include "worker.h"

#include "common/status.h"

#include <stdio.h>
#include <string.h>

/* One request in this many is re-checked. Each audit costs one fresh executor (losses,
 * objective_grad) or three (central differences): a bare fork + exit + wait of a 3 MiB
 * process takes 82 us on the 2-core test machine (median of 501, 3 runs), a whole fresh
 * executor with its lock-down and one call 0.2-0.7 ms under load (bench/RESULTS-sandbox.md). */
#define SBX_AUDIT_ONE_IN 16

static uint64_t next_random(uint64_t *state)
{
    /* splitmix64: small, and good enough to draw a schedule nobody else can see */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int sbx_audit_due(sbx_super *s)
{
    return next_random(&s->rng) % SBX_AUDIT_ONE_IN == 0;
}

static int same_bits(const double *a, const double *b, size_t n)
{
    return memcmp(a, b, n * sizeof(double)) == 0;
}

static long first_difference(const double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(double)) != 0) return (long)i;
    return -1;
}

/* Runs the fresh window's request; DC_OK with its reply in place, else the failure (and the
 * host's msg says what happened in the fresh executor). */
static int fresh(sbx_super *s, int *wstatus)
{
    int st = sbx_exec_fresh(s, wstatus);
    if (st == DC_INVALID) {
        char m[sizeof s->h->msg];
        memcpy(m, s->h->msg, sizeof m);
        snprintf(s->h->msg, sizeof s->h->msg,
                 "the objective behaved differently in a fresh copy of the sandbox on the same "
                 "batch (there it %.800s): objectives must be pure functions of their inputs",
                 m);
        return DC_VIOLATION;
    }
    return st;
}

static int mismatch(sbx_super *s, const char *what, long at, double worker, double fresh_v)
{
    snprintf(s->h->msg, sizeof s->h->msg,
             "the objective's answer differs from a fresh copy of the sandbox on the same "
             "batch (%s[%ld]: %.17g, fresh %.17g): it keeps state between calls or does not "
             "compute its own answers; objectives must be pure functions of their inputs",
             what, at, worker, fresh_v);
    return DC_VIOLATION;
}

/* Losses (and, with objective_grad, gradients) of the request as the host asked it. */
static int audit_as_asked(sbx_super *s, int use_grad_fn, int *wstatus)
{
    const sbx_header *h = s->h;
    const sbx_layout *L = &s->e.layout;
    size_t n = (size_t)h->n, mr = (size_t)h->max_rows;
    sbx_exec_copy_request(s, s->awin, use_grad_fn, use_grad_fn);
    int st = fresh(s, wstatus);
    if (st != DC_OK) return st;
    const double *lw = (const double *)(s->shm + L->loss),
                 *lf = (const double *)(s->awin + L->loss);
    long at = first_difference(lw, lf, n);
    if (at >= 0) return mismatch(s, "loss", at, lw[at], lf[at]);
    if (!use_grad_fn) return DC_OK;
    const double *gw = (const double *)(s->shm + L->grad),
                 *gf = (const double *)(s->awin + L->grad);
    if (h->kind != 1) {
        size_t per = h->kind == 0 ? n : (size_t)h->k; /* rows, or tokens per side */
        if ((at = first_difference(gw, gf, per)) >= 0)
            return mismatch(s, "d_chosen", at, gw[at], gf[at]);
        if ((at = first_difference(gw + mr, gf + mr, per)) >= 0)
            return mismatch(s, "d_rejected", at, gw[mr + at], gf[mr + at]);
    } else if ((at = first_difference(gw, gf, n * (size_t)h->k)) >= 0) {
        return mismatch(s, "d_logits", at, gw[at], gf[at]);
    }
    return DC_OK;
}

/* Losses of the request's batch with the trainable inputs at idx[0..m) moved by sign * h,
 * from a fresh executor, into out (n). */
static int moved_losses(sbx_super *s, const size_t *idx, size_t m, double sign, double *out,
                        int *wstatus)
{
    const sbx_layout *L = &s->e.layout;
    sbx_exec_copy_request(s, s->awin, 0, 0);
    double *in = (double *)(s->awin + L->in_real);
    for (size_t j = 0; j < m; j++) {
        double x = in[idx[j]];
        in[idx[j]] = sign > 0 ? x + sbx_fd_step(x) : x - sbx_fd_step(x);
    }
    int st = fresh(s, wstatus);
    if (st == DC_OK) memcpy(out, s->awin + L->loss, (size_t)s->h->n * sizeof(double));
    return st;
}

/* Token-level pairs: one side and one token position of every pair (row-separable path),
 * or one token (exact path), the same differences as worker_eval.c's grad_token_side. */
static int audit_token_differences(sbx_super *s, int *wstatus)
{
    const sbx_header *h = s->h;
    const sbx_layout *L = &s->e.layout;
    int n = h->n;
    size_t mr = (size_t)h->max_rows;
    const int32_t *ints = (const int32_t *)(s->shm + L->in_int);
    size_t side = (size_t)(next_random(&s->rng) % 2);
    const int32_t *off = ints + side * mr, *len = ints + (2 + side) * mr;
    size_t m = 0, *idx = s->audit_idx;
    int one = (int)(next_random(&s->rng) % (uint64_t)n), t = 0;
    if (h->separable) {
        int longest = 0;
        for (int i = 0; i < n; i++)
            if (len[i] > longest) longest = len[i];
        t = (int)(next_random(&s->rng) % (uint64_t)longest);
    } else {
        t = (int)(next_random(&s->rng) % (uint64_t)len[one]);
    }
    /* idx[i] for the pairs that move (SIZE_MAX for those that do not) */
    for (int i = 0; i < n; i++) {
        int moves = h->separable ? t < len[i] : i == one;
        idx[i] = moves ? side * mr + (size_t)(off[i] + t) : SIZE_MAX;
    }
    double *plus = s->e.loss_plus, *minus = s->e.loss_minus;
    size_t *dense = idx + mr; /* the moved inputs as the list moved_losses wants */
    for (int i = 0; i < n; i++)
        if (idx[i] != SIZE_MAX) dense[m++] = idx[i];
    int st = moved_losses(s, dense, m, +1, plus, wstatus);
    if (st == DC_OK) st = moved_losses(s, dense, m, -1, minus, wstatus);
    if (st != DC_OK) return st;
    const double *in = (const double *)(s->shm + L->in_real);
    const double *gw = (const double *)(s->shm + L->grad);
    for (int i = 0; i < n; i++) {
        size_t at = idx[i];
        if (at == SIZE_MAX) continue;
        double x = in[at];
        double want =
            h->separable ? sbx_fd_row(plus[i], minus[i], x) : sbx_fd_sum(plus, minus, n, x);
        if (!same_bits(&gw[at], &want, 1))
            return mismatch(s, side ? "d_rejected" : "d_chosen", (long)(at - side * mr), gw[at],
                            want);
    }
    return DC_OK;
}

/* One column (row-separable path) or one input (exact path) of the central differences. */
static int audit_differences(sbx_super *s, int *wstatus)
{
    if (s->h->kind == 2) return audit_token_differences(s, wstatus);
    const sbx_header *h = s->h;
    const sbx_layout *L = &s->e.layout;
    int n = h->n, pref = h->kind == 0;
    size_t mr = (size_t)h->max_rows, k = (size_t)h->k, cols = pref ? 2 : k;
    /* input index and gradient index of (row i, trainable column c) */
#define IN_AT(i, c) (pref ? (c)*mr + (size_t)(i) : (size_t)(i)*k + (c))
    size_t c = (size_t)(next_random(&s->rng) % cols), m = 0, *idx = s->audit_idx;
    if (h->separable) {
        for (int i = 0; i < n; i++)
            idx[m++] = IN_AT(i, c);
    } else {
        idx[m++] = IN_AT((size_t)(next_random(&s->rng) % (uint64_t)n), c);
    }
    double *plus = s->e.loss_plus, *minus = s->e.loss_minus;
    int st = moved_losses(s, idx, m, +1, plus, wstatus);
    if (st == DC_OK) st = moved_losses(s, idx, m, -1, minus, wstatus);
    if (st != DC_OK) return st;
    const double *in = (const double *)(s->shm + L->in_real);
    const double *gw = (const double *)(s->shm + L->grad);
    const char *what = pref ? (c == 0 ? "d_chosen" : "d_rejected") : "d_logits";
    for (size_t j = 0; j < m; j++) {
        size_t at = idx[j];
        double x = in[at];
        double want =
            h->separable ? sbx_fd_row(plus[j], minus[j], x) : sbx_fd_sum(plus, minus, n, x);
        if (!same_bits(&gw[at], &want, 1))
            return mismatch(s, what, (long)(pref ? at - c * mr : at), gw[at], want);
    }
#undef IN_AT
    return DC_OK;
}

int sbx_audit(sbx_super *s, int *wstatus)
{
    const sbx_header *h = s->h;
    if (h->want_grad && h->use_grad_fn) return audit_as_asked(s, 1, wstatus);
    int st = audit_as_asked(s, 0, wstatus);
    if (st == DC_OK && h->want_grad) st = audit_differences(s, wstatus);
    return st;
}
