/* sandbox_prescreen.c — the cheap checks before any training, the separability decision,
 * the behaviour fingerprint, and `check` = open + pre-screen + close.
 *
 * Probe batches (all from fixed seeds, so a verdict is reproducible):
 *   random   n = 16, ordinary magnitudes (summed log-probs -20..-300, policy near the
 *            reference), β = 0.1 / logits N(0, 3²)
 *   extreme  |log-probs| up to 1e3 with β = 0.01 and β = 10 (the log-ratio gap stays
 *            within ±30: that is what a policy near its reference produces) / logits up
 *            to ±30
 *   tie      chosen == rejected and equal references (the margin is exactly 0) / all logits
 *            of a row equal
 *   single   n = 1
 *   large    n = 1024 (losses; gradients too when the objective is row-separable)
 * Token-level pairs (SBX_TOKEN_PREF) get the same five kinds with per-token log-probs
 * (-0.01..-8 per token; extreme: down to -30 with β = 0.01 and 10) and ragged responses of
 * 1 .. the task's longest (lim.probe.tokens) tokens: pair 0 has a 1-token chosen and a
 * longest rejected response, pair 1 the reverse, the single-pair probe is pair 0. The
 * similarities are uniform in [0, 1] with a 0 and a 1 in every response (min-max
 * normalised), all 0 on the low extreme probe and all 1 on the high one; the tie probe's
 * rejected response is its chosen one. The large probe has as many pairs as fit
 * max_rows tokens at the longest length (at most 1024).
 * Row-separability (the fast gradient path) must hold on every probe but the single row.
 * Each must give finite losses and gradients for every row; the random one must be
 * deterministic and have a non-zero gradient somewhere; each batch must finish within a
 * quarter of the per-call budget. Messages name the probe and the row, because they are
 * fed back to the LLM.
 *
 * Its loss-only requests are also the measurements every later request's time limit
 * follows from (sandbox_host.c, note_cost and request_limit): the fastest of them (fixed
 * costs) and the fastest of the large batch (cost per row). */
#define _GNU_SOURCE
#include "host_internal.h"

#include "common/rng.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The public limit is the worker's buffer size (protocol.h). */
_Static_assert(SBX_SOURCE_LIMIT == SBX_MAX_SOURCE, "SBX_SOURCE_LIMIT must equal SBX_MAX_SOURCE");

/* ---------------------------------------------------------------- probe data */

typedef struct {
    int n, k;
    double beta;
    double *a[6]; /* PREF: chosen, rejected, ref_chosen, ref_rejected, chosen_lens, rejected_lens */
    double *logits; /* CLS: n*k */
    int *labels;
    int *ti[4]; /* TOKEN: chosen_off, rejected_off, chosen_len, rejected_len; a[] per token */
    int tc, tr; /* TOKEN: tokens per side */
    char desc[96];
} probe;

enum { P_RANDOM, P_EXTREME_LO, P_EXTREME_HI, P_TIE, P_SINGLE, P_LARGE };

static void probe_free(probe *p)
{
    for (int i = 0; i < 6; i++)
        free(p->a[i]);
    for (int i = 0; i < 4; i++)
        free(p->ti[i]);
    free(p->logits);
    free(p->labels);
    memset(p, 0, sizeof *p);
}

static double unif(dc_rng *r, double lo, double hi)
{
    return lo + (hi - lo) * dc_rng_uniform(r);
}

enum { TOK_ORDINARY, TOK_EXTREME_LO, TOK_EXTREME_HI, TOK_TIE };

/* The task's longest response, as its probe shape says. */
static int token_longest(const sbx_worker *w)
{
    return w->lim.probe.tokens > 0 ? w->lim.probe.tokens : 32;
}

/* A token-level probe of n pairs, responses of 1..longest tokens (the first two pairs at
 * both ends, see the top of the file), per-token inputs by mode. */
static void token_probe_fill(probe *p, int n, int longest, int mode, dc_rng *r)
{
    p->n = n;
    for (int a = 0; a < 4; a++)
        p->ti[a] = dc_calloc((size_t)n, sizeof(int));
    for (int i = 0; i < n; i++) {
        int lc = 1 + (int)dc_rng_below(r, (uint32_t)longest);
        int lr = 1 + (int)dc_rng_below(r, (uint32_t)longest);
        if (i == 0) lc = 1, lr = longest;
        if (i == 1) lc = longest, lr = 1;
        if (mode == TOK_TIE) lr = lc;
        p->ti[0][i] = p->tc;
        p->ti[1][i] = p->tr;
        p->ti[2][i] = lc;
        p->ti[3][i] = lr;
        p->tc += lc;
        p->tr += lr;
    }
    int T = p->tc > p->tr ? p->tc : p->tr;
    for (int a = 0; a < 6; a++)
        p->a[a] = dc_calloc((size_t)T, sizeof(double));
    int extreme = mode == TOK_EXTREME_LO || mode == TOK_EXTREME_HI;
    double lo = extreme ? 1e-6 : 0.01, hi = extreme ? 30.0 : 8.0, noise = extreme ? 2.0 : 0.3;
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < n; i++) {
            int off = p->ti[side][i], len = p->ti[2 + side][i];
            for (int t = 0; t < len; t++) {
                double x = -unif(r, lo, hi);
                p->a[side][off + t] = x;
                p->a[2 + side][off + t] = fmin(-1e-9, x + unif(r, -noise, noise));
                double sim = mode == TOK_EXTREME_LO   ? 0.0
                             : mode == TOK_EXTREME_HI ? 1.0
                             : len == 1               ? 0.5
                             : t == 0                 ? 0.0
                             : t == len - 1           ? 1.0
                                                      : dc_rng_uniform(r);
                p->a[4 + side][off + t] = sim;
            }
        }
    if (mode == TOK_TIE)
        for (int a = 0; a < 6; a += 2)
            memcpy(p->a[a + 1], p->a[a], (size_t)p->tc * sizeof(double));
}

static void probe_make(probe *p, const sbx_worker *w, int which)
{
    memset(p, 0, sizeof *p);
    sbx_kind kind = w->kind;
    dc_rng r;
    dc_rng_seed(&r, 0x5eed0000u + (uint64_t)which);
    int n = which == P_SINGLE ? 1 : which == P_LARGE ? 1024 : which == P_TIE ? 8 : 16;
    p->n = n;
    if (kind == SBX_TOKEN_PREF) {
        int longest = token_longest(w), fit = w->lim.max_rows / longest;
        if (which == P_LARGE) n = fit < 1 ? 1 : fit < 1024 ? fit : 1024;
        int mode = which == P_EXTREME_LO   ? TOK_EXTREME_LO
                   : which == P_EXTREME_HI ? TOK_EXTREME_HI
                   : which == P_TIE        ? TOK_TIE
                                           : TOK_ORDINARY;
        p->beta = which == P_EXTREME_LO ? 0.01 : which == P_EXTREME_HI ? 10.0 : 0.1;
        token_probe_fill(p, n, longest, mode, &r);
    } else if (kind == SBX_PREF) {
        for (int i = 0; i < 6; i++)
            p->a[i] = dc_calloc((size_t)n, sizeof(double));
        p->beta = which == P_EXTREME_LO ? 0.01 : which == P_EXTREME_HI ? 10.0 : 0.1;
        for (int i = 0; i < n; i++) {
            double mag_hi = (which == P_EXTREME_LO || which == P_EXTREME_HI) ? 1000.0 : 300.0;
            double mag_lo = (which == P_EXTREME_LO || which == P_EXTREME_HI) ? 0.001 : 20.0;
            double noise = (which == P_EXTREME_LO || which == P_EXTREME_HI) ? 7.5 : 3.0;
            double c = -unif(&r, mag_lo, mag_hi), rj = -unif(&r, mag_lo, mag_hi);
            double rc = c + unif(&r, -noise, noise), rr = rj + unif(&r, -noise, noise);
            double lc = floor(unif(&r, 5, 300)), lr = floor(unif(&r, 5, 300));
            if (which == P_TIE) rj = c, rr = rc, lr = lc;
            p->a[0][i] = c;
            p->a[1][i] = rj;
            p->a[2][i] = rc;
            p->a[3][i] = rr;
            p->a[4][i] = lc;
            p->a[5][i] = lr;
        }
    } else {
        // as many classes as the task's rows have (its probe shape), else 10
        int k = w->lim.probe.classes > 0 ? w->lim.probe.classes : 10;
        p->k = k;
        p->logits = dc_calloc((size_t)n * k, sizeof(double));
        p->labels = dc_calloc((size_t)n, sizeof(int));
        for (int i = 0; i < n; i++) {
            p->labels[i] = (int)dc_rng_below(&r, (uint32_t)k);
            for (int j = 0; j < k; j++) {
                double v = which == P_EXTREME_LO || which == P_EXTREME_HI ? unif(&r, -30, 30)
                                                                          : 3.0 * dc_rng_normal(&r);
                p->logits[(size_t)i * k + j] = which == P_TIE ? 0.25 : v;
            }
        }
    }
    static const char *const names[] = {"random", "extreme",    "extreme",
                                        "tie",    "single-row", "large"};
    if (kind == SBX_TOKEN_PREF)
        dc_fmt(p->desc, sizeof p->desc, "%s probe batch (n = %d pairs, 1..%d tokens, beta = %g%s)",
               names[which], n, token_longest(w), p->beta,
               which == P_TIE          ? ", chosen == rejected"
               : which == P_EXTREME_LO ? ", all sim 0"
               : which == P_EXTREME_HI ? ", all sim 1"
                                       : "");
    else if (kind == SBX_PREF)
        dc_fmt(p->desc, sizeof p->desc, "%s probe batch (n = %d, beta = %g%s)", names[which], n,
               p->beta, which == P_TIE ? ", chosen == rejected" : "");
    else
        dc_fmt(p->desc, sizeof p->desc, "%s probe batch (n = %d, k = %d%s)", names[which], n, p->k,
               which == P_TIE ? ", all logits equal" : "");
}

/* Tokens per side of a token-level probe as the sandbox lays them out (both sides padded to
 * the longer), the k of sbx_grads_disagree. */
static int token_k(const probe *p)
{
    return p->tc > p->tr ? p->tc : p->tr;
}

/* Evaluates a probe: losses into loss (n), gradients into grad (2n PREF, n*k CLS, d_chosen
 * then d_rejected at offset token_k for TOKEN, zero where no token is) or not. */
static dc_status probe_eval(sbx_worker *w, const probe *p, double *loss, double *grad, char *msg,
                            size_t cap)
{
    if (w->kind == SBX_TOKEN_PREF) {
        token_pref_batch b = {p->n,    p->beta, p->ti[0], p->ti[1], p->ti[2], p->ti[3],
                              p->a[0], p->a[1], p->a[2],  p->a[3],  p->a[4],  p->a[5]};
        int k = token_k(p);
        if (grad) memset(grad, 0, 2u * (size_t)k * sizeof(double));
        return sbx_token_eval(w, &b, p->tc, p->tr, loss, grad, grad ? grad + k : NULL, msg, cap);
    }
    if (w->kind == SBX_PREF) {
        pref_batch b = {p->n, p->beta, p->a[0], p->a[1], p->a[2], p->a[3], p->a[4], p->a[5]};
        return sbx_pref_eval(w, &b, loss, grad, grad ? grad + p->n : NULL, msg, cap);
    }
    return sbx_cls_eval(w, p->n, p->k, p->logits, p->labels, loss, grad, msg, cap);
}

static size_t grad_count(const sbx_worker *w, const probe *p)
{
    if (w->kind == SBX_TOKEN_PREF) return 2u * (size_t)token_k(p);
    return w->kind == SBX_PREF ? 2u * (size_t)p->n : (size_t)p->n * (size_t)p->k;
}

/* ---------------------------------------------------------------- the checks */

typedef struct {
    double *loss, *grad, *loss2, *grad2;
} scratch;

static void scratch_alloc(scratch *s, size_t n, size_t g)
{
    s->loss = dc_calloc(n, sizeof(double));
    s->loss2 = dc_calloc(n, sizeof(double));
    s->grad = dc_calloc(g, sizeof(double));
    s->grad2 = dc_calloc(g, sizeof(double));
}

static void scratch_free(scratch *s)
{
    free(s->loss);
    free(s->loss2);
    free(s->grad);
    free(s->grad2);
}

/* Runs one probe with a time budget; prefixes failures with the probe's description. */
static dc_status run_probe(sbx_worker *w, const probe *p, double *loss, double *grad, char *msg,
                           size_t cap)
{
    char m[512];
    double t0 = dc_now();
    dc_status st = probe_eval(w, p, loss, grad, m, sizeof m);
    double dt = dc_now() - t0;
    if (st != DC_OK) {
        dc_fmt(msg, cap, "%s: %s", p->desc, m);
        return st;
    }
    double budget = w->lim.call_timeout_s / 4;
    /* Wall time inflates on a loaded machine: a verdict of "too slow" must hold on the best
     * of three tries (the objective is deterministic, so repeating it is harmless). */
    for (int retry = 0; retry < 2 && dt > budget; retry++) {
        t0 = dc_now();
        st = probe_eval(w, p, loss, grad, m, sizeof m);
        double again = dc_now() - t0;
        if (st != DC_OK) {
            dc_fmt(msg, cap, "%s: %s", p->desc, m);
            return st;
        }
        if (again < dt) dt = again;
    }
    if (dt > budget) {
        dc_fmt(msg, cap, "%s: one batch took %.3f s%s; the budget is %.3f s per batch", p->desc, dt,
               grad ? " with gradients" : "", budget);
        return DC_TIMEOUT;
    }
    return DC_OK;
}

static int any_nonzero(const double *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (g[i] != 0.0) return 1;
    return 0;
}

static int same_bits(const double *a, const double *b, size_t n, size_t *where)
{
    if (memcmp(a, b, n * sizeof(double)) == 0) return 1;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(double)) != 0) {
            *where = i;
            return 0;
        }
    return 0;
}

/* Perturbs the trainable inputs of the rows marked in `moved` and reports in *changed
 * whether the loss of any unmarked row moved away from `base` (bit for bit). Preference
 * pairs: chosen_logps and rejected_logps separately (so effects cannot cancel between
 * them), each row by its own amount. Logits: the whole row with distinct amounts per
 * column (a softmax row is shift-invariant, so equal amounts would hide nothing but also
 * test nothing). The probe's inputs are restored exactly afterwards. */
/* others_change for token-level pairs: every token of a moved pair's chosen response, then
 * (separately) of its rejected one, moves down by its own amount. */
static dc_status others_change_token(sbx_worker *w, probe *p, const unsigned char *moved,
                                     const double *base, double *tmp, int *changed, char *msg,
                                     size_t cap)
{
    int n = p->n;
    double *saved = dc_calloc((size_t)token_k(p), sizeof(double));
    dc_status st = DC_OK;
    *changed = 0;
    for (int v = 0; v < 2 && !*changed && st == DC_OK; v++) {
        double *col = p->a[v];
        const int *off = p->ti[v], *len = p->ti[2 + v];
        for (int j = 0; j < n; j++)
            for (int t = 0; moved[j] && t < len[j]; t++) {
                double *x = &col[off[j] + t];
                saved[off[j] + t] = *x;
                *x -= 0.37 + 0.001 * fabs(*x);
            }
        st = run_probe(w, p, tmp, NULL, msg, cap);
        for (int j = 0; j < n; j++)
            for (int t = 0; moved[j] && t < len[j]; t++)
                col[off[j] + t] = saved[off[j] + t];
        if (st != DC_OK) break;
        for (int i = 0; i < n; i++)
            if (!moved[i] && memcmp(&tmp[i], &base[i], sizeof(double)) != 0) *changed = 1;
    }
    free(saved);
    return st;
}

static dc_status others_change(sbx_worker *w, probe *p, const unsigned char *moved,
                               const double *base, double *tmp, int *changed, char *msg, size_t cap)
{
    if (w->kind == SBX_TOKEN_PREF)
        return others_change_token(w, p, moved, base, tmp, changed, msg, cap);
    int n = p->n, k = w->kind == SBX_PREF ? 1 : p->k;
    int variants = w->kind == SBX_PREF ? 2 : 1;
    double *saved = dc_calloc((size_t)n * (size_t)k, sizeof(double));
    dc_status st = DC_OK;
    *changed = 0;
    for (int v = 0; v < variants && !*changed && st == DC_OK; v++) {
        double *col = w->kind == SBX_PREF ? p->a[v] : p->logits;
        for (int j = 0; j < n; j++) {
            if (!moved[j]) continue;
            for (int c = 0; c < k; c++) {
                double *x = &col[(size_t)j * k + c];
                saved[(size_t)j * k + c] = *x;
                /* Log-probs move down (they stay valid, <= 0) by at most 1.37 even on
                 * the extreme probes, so the margin stays near the probe's own range
                 * and the perturbation itself cannot make a sane objective overflow. */
                *x += w->kind == SBX_PREF ? -(0.37 + 0.001 * fabs(*x)) : 0.37 * (c + 1);
            }
        }
        st = run_probe(w, p, tmp, NULL, msg, cap);
        for (int j = 0; j < n; j++)
            if (moved[j])
                memcpy(&col[(size_t)j * k], &saved[(size_t)j * k], (size_t)k * sizeof(double));
        if (st != DC_OK) break;
        for (int i = 0; i < n; i++)
            if (!moved[i] && memcmp(&tmp[i], &base[i], sizeof(double)) != 0) *changed = 1;
    }
    free(saved);
    return st;
}

/* Row-separable on this probe: changing row j's trainable inputs changes no other row's
 * loss. One probe is not enough: an objective may couple its rows only for large batches
 * (`if (b->n > 20)`) or only for some inputs (a margin beyond a threshold), so the
 * pre-screen asks this of the random, extreme, tie and large batches, and a single "no"
 * selects the exact gradient path. Small batches (n <= 64) move one row at a time. The
 * large batch (n = 1024) would need 2n calls of n rows that way; instead it moves, for
 * every bit b of the row index, the rows whose bit b is 0 and then those whose bit b is 1:
 * any two rows i != j differ in some bit, so in one of those 2·log2(n) calls j moves while
 * i stays and an influence of j on i shows (unless the influences of the rows moved
 * together cancel to the last bit, which distinct perturbations make implausible). */
static dc_status detect_separable(sbx_worker *w, probe *p, const double *base, double *tmp,
                                  int *separable, char *msg, size_t cap)
{
    int n = p->n, changed = 0;
    dc_status st = DC_OK;
    unsigned char *moved = dc_calloc((size_t)n, 1);
    *separable = 1;
    if (n <= 64) {
        for (int j = 0; j < n && *separable && st == DC_OK; j++) {
            memset(moved, 0, (size_t)n);
            moved[j] = 1;
            st = others_change(w, p, moved, base, tmp, &changed, msg, cap);
            if (changed) *separable = 0;
        }
    } else {
        for (int bit = 0; (1 << bit) < n && *separable && st == DC_OK; bit++)
            for (int side = 0; side < 2 && *separable && st == DC_OK; side++) {
                for (int j = 0; j < n; j++)
                    moved[j] = ((j >> bit) & 1) == side;
                st = others_change(w, p, moved, base, tmp, &changed, msg, cap);
                if (changed) *separable = 0;
            }
    }
    free(moved);
    return st;
}

/* One probe through objective_grad (w->use_grad_fn on for the call): DC_OK with its
 * answer, or its failure with the message prefixed "objective_grad, ". A non-finite answer
 * is returned as DC_NONFINITE with the worker left alive (w->probing_grad): the caller
 * counts it as a disagreement, since central differences may still train the objective. */
static dc_status probe_grad_fn(sbx_worker *w, const probe *p, double *loss, double *grad, char *msg,
                               size_t msgcap)
{
    w->use_grad_fn = 1;
    w->probing_grad = 1;
    dc_status st = run_probe(w, p, loss, grad, msg, msgcap);
    w->use_grad_fn = 0;
    w->probing_grad = 0;
    if (st != DC_OK) {
        char m[512];
        sbx_copy_msg(m, sizeof m, msg);
        dc_fmt(msg, msgcap, "objective_grad, %s", m);
    }
    return st;
}

/* The candidate's objective_grad against objective and central differences on the random,
 * both extreme, tie and single-row probes; then the random probe once more, after the
 * others, which must give the same answer bit for bit (no state between calls). Sets
 * w->use_grad_fn, or leaves it 0 with w->grad_note. A call that fails the contract (crash,
 * rows not written, ...) fails the candidate: objective_grad is its code too. Training
 * audits it again (sandbox_host.c), on every new batch size and on a sparse schedule. */
static dc_status check_grad_fn(sbx_worker *w, scratch *s, char *msg, size_t msgcap)
{
    static const int probes[] = {P_RANDOM, P_EXTREME_LO, P_EXTREME_HI, P_TIE, P_SINGLE};
    probe p;
    memset(&p, 0, sizeof p);
    dc_status st = DC_OK;
    int agree = 1;
    double *first_loss = NULL, *first_grad = NULL; /* the random probe's first answer */
    size_t first_g = 0;
    for (size_t i = 0; i < sizeof probes / sizeof *probes && agree && st == DC_OK; i++) {
        probe_make(&p, w, probes[i]);
        w->use_grad_fn = 0;
        st = run_probe(w, &p, s->loss, s->grad, msg, msgcap);
        if (st == DC_OK) st = probe_grad_fn(w, &p, s->loss2, s->grad2, msg, msgcap);
        if (st == DC_NONFINITE && w->dead == DC_OK) {
            dc_fmt(w->grad_note, sizeof w->grad_note,
                   "objective_grad is not used: on the %s it gave a non-finite value (%s); "
                   "gradients come from central differences",
                   p.desc, msg);
            st = DC_OK;
            agree = 0;
        } else if (st == DC_OK) {
            agree = !sbx_grads_disagree(w->kind, p.n,
                                        w->kind == SBX_PREF         ? 0
                                        : w->kind == SBX_TOKEN_PREF ? token_k(&p)
                                                                    : p.k,
                                        s->loss, s->grad, s->loss2, s->grad2, p.desc, w->grad_note,
                                        sizeof w->grad_note);
        }
        if (st == DC_OK && agree && probes[i] == P_RANDOM) {
            first_g = grad_count(w, &p);
            first_loss = dc_malloc((size_t)p.n * sizeof(double));
            first_grad = dc_malloc(first_g * sizeof(double));
            memcpy(first_loss, s->loss2, (size_t)p.n * sizeof(double));
            memcpy(first_grad, s->grad2, first_g * sizeof(double));
        }
        probe_free(&p);
    }
    if (st == DC_OK && agree && first_loss) {
        probe_make(&p, w, P_RANDOM);
        st = probe_grad_fn(w, &p, s->loss2, s->grad2, msg, msgcap);
        size_t at;
        if (st == DC_NONFINITE && w->dead == DC_OK) st = DC_OK, agree = 0;
        if (st == DC_OK && (!agree || !same_bits(first_loss, s->loss2, (size_t)p.n, &at) ||
                            !same_bits(first_grad, s->grad2, first_g, &at))) {
            dc_fmt(w->grad_note, sizeof w->grad_note,
                   "objective_grad is not used: the same input gave different results after "
                   "other batches (it must not keep state between calls)");
            agree = 0;
        }
        probe_free(&p);
    }
    free(first_loss);
    free(first_grad);
    if (st == DC_OK && agree) {
        w->use_grad_fn = 1;
        w->grad_note[0] = '\0';
    }
    return st;
}

dc_status sbx_prescreen(sbx_worker *w, char *msg, size_t msgcap)
{
    if (!w) {
        dc_fmt(msg, msgcap, "sandbox: no worker");
        return DC_ERROR;
    }
    if (w->dead != DC_OK) {
        sbx_copy_msg(msg, msgcap, w->dead_msg);
        return w->dead;
    }
    if (w->lim.max_rows < 1024 || w->lim.max_cols < 10) {
        dc_fmt(msg, msgcap,
               "sandbox: the pre-screen needs max_rows >= 1024 and max_cols >= 10 "
               "(have %d, %d)",
               w->lim.max_rows, w->lim.max_cols);
        return DC_ERROR;
    }
    w->separable = 0;   /* the exact (slow) gradient path until proven separable */
    w->use_grad_fn = 0; /* central differences until objective_grad is checked */
    w->timed = 0;       /* the fixed per-call budget until measured */
    w->cost_small = w->cost_large = w->size_large = 0;
    w->grad_note[0] = '\0';
    scratch s;
    /* gradients: 10 logits of 1024 rows, or 2 sides of up to max_rows tokens */
    size_t gcap = 2u * (size_t)w->lim.max_rows > 10240u ? 2u * (size_t)w->lim.max_rows : 10240u;
    scratch_alloc(&s, 1024, gcap);
    probe p;
    memset(&p, 0, sizeof p);
    dc_status st = DC_OK;
    int nonzero = 0;

    /* random: finite, every row, deterministic, separability */
    probe_make(&p, w, P_RANDOM);
    size_t g = grad_count(w, &p);
    if ((st = run_probe(w, &p, s.loss, s.grad, msg, msgcap)) != DC_OK) goto out;
    if ((st = run_probe(w, &p, s.loss2, s.grad2, msg, msgcap)) != DC_OK) goto out;
    size_t at = 0;
    if (!same_bits(s.loss, s.loss2, (size_t)p.n, &at)) {
        dc_fmt(msg, msgcap,
               "%s: the same input gave different losses (row %zu: %.17g then %.17g); objectives "
               "must not keep state between calls",
               p.desc, at, s.loss[at], s.loss2[at]);
        st = DC_INVALID;
        goto out;
    }
    if (!same_bits(s.grad, s.grad2, g, &at)) {
        dc_fmt(msg, msgcap,
               "%s: the same input gave different gradients; objectives must not keep state "
               "between calls",
               p.desc);
        st = DC_INVALID;
        goto out;
    }
    nonzero |= any_nonzero(s.grad, g);
    /* Until every probe has been asked, gradients take the exact path (w->separable = 0):
     * a coupling that only the later probes reveal must not meet the per-row fast path. */
    int separable = 1;
    if ((st = detect_separable(w, &p, s.loss, s.loss2, &separable, msg, msgcap)) != DC_OK) goto out;
    probe_free(&p);

    /* extreme magnitudes, ties, a single row: finite everywhere; separability again */
    static const int finite_probes[] = {P_EXTREME_LO, P_EXTREME_HI, P_TIE, P_SINGLE};
    for (size_t i = 0; i < sizeof finite_probes / sizeof *finite_probes; i++) {
        int which = finite_probes[i];
        probe_make(&p, w, which);
        st = run_probe(w, &p, s.loss, s.grad, msg, msgcap);
        if (st == DC_OK && which != P_TIE) nonzero |= any_nonzero(s.grad, grad_count(w, &p));
        if (st == DC_OK && separable && which != P_SINGLE)
            st = detect_separable(w, &p, s.loss, s.loss2, &separable, msg, msgcap);
        probe_free(&p);
        if (st != DC_OK) goto out;
    }

    /* large batch: losses always and separability once more; gradients when they are cheap
     * (separable: the fast path, which is then enabled for every later call) */
    probe_make(&p, w, P_LARGE);
    st = run_probe(w, &p, s.loss, NULL, msg, msgcap);
    if (st == DC_OK && separable)
        st = detect_separable(w, &p, s.loss, s.loss2, &separable, msg, msgcap);
    if (st == DC_OK && separable) {
        w->separable = 1;
        st = run_probe(w, &p, s.loss, s.grad, msg, msgcap);
    }
    probe_free(&p);
    if (st != DC_OK) goto out;

    if (!nonzero) {
        dc_fmt(msg, msgcap,
               "every gradient is zero on the random and extreme probe batches: the loss does "
               "not depend on %s, so it cannot train anything",
               w->kind != SBX_CLS ? "chosen_logps or rejected_logps" : "the logits");
        st = DC_INVALID;
        goto out;
    }
    if (w->has_grad_fn && (st = check_grad_fn(w, &s, msg, msgcap)) != DC_OK) goto out;
    w->timed = w->size_large > 0 && w->cost_large > 0;
    if (msgcap) msg[0] = '\0';
out:
    probe_free(&p);
    scratch_free(&s);
    if (st != DC_OK && w->dead == DC_OK) {
        /* A contract failure found by the host (constant, nondeterministic, slow): the
         * worker is healthy but the candidate is rejected; keep the status sticky too. */
        w->dead = st;
        sbx_copy_msg(w->dead_msg, sizeof w->dead_msg, msg);
    }
    return st;
}

/* One fingerprint probe: n rows (k logits each for classification) from its own seed,
 * ordinary or extreme inputs in the ranges of the random and extreme probes above. Seen
 * before: a fingerprint of one 12-row batch was matched by a candidate that copied
 * cross-entropy only when n == 12, and by one that returned NaN on training batches. */
static void fingerprint_probe(probe *p, const sbx_worker *w, int n, int k, int extreme, int index)
{
    sbx_kind kind = w->kind;
    memset(p, 0, sizeof *p);
    dc_rng r;
    dc_rng_seed(&r, 0xf1a9e500u + 2u * (uint64_t)index + (uint64_t)extreme);
    p->n = n;
    if (kind == SBX_TOKEN_PREF) {
        /* responses as long as the task's, but all n pairs within max_rows tokens */
        int longest = token_longest(w), fit = w->lim.max_rows / n;
        if (fit < longest) longest = fit < 1 ? 1 : fit;
        p->beta = !extreme ? 0.1 : index % 2 ? 10.0 : 0.01;
        token_probe_fill(p, n, longest,
                         extreme ? (index % 2 ? TOK_EXTREME_HI : TOK_EXTREME_LO) : TOK_ORDINARY,
                         &r);
    } else if (kind == SBX_PREF) {
        for (int i = 0; i < 6; i++)
            p->a[i] = dc_calloc((size_t)n, sizeof(double));
        p->beta = !extreme ? 0.1 : index % 2 ? 10.0 : 0.01;
        double lo = extreme ? 0.001 : 20.0, hi = extreme ? 1000.0 : 300.0;
        double noise = extreme ? 7.5 : 3.0;
        for (int i = 0; i < n; i++) {
            double c = -unif(&r, lo, hi), rj = -unif(&r, lo, hi);
            p->a[0][i] = c;
            p->a[1][i] = rj;
            p->a[2][i] = c + unif(&r, -noise, noise);
            p->a[3][i] = rj + unif(&r, -noise, noise);
            p->a[4][i] = floor(unif(&r, 5, 300));
            p->a[5][i] = floor(unif(&r, 5, 300));
        }
    } else {
        p->k = k;
        p->logits = dc_calloc((size_t)n * (size_t)k, sizeof(double));
        p->labels = dc_calloc((size_t)n, sizeof(int));
        for (int i = 0; i < n; i++) {
            p->labels[i] = (int)dc_rng_below(&r, (uint32_t)k);
            for (int j = 0; j < k; j++)
                p->logits[(size_t)i * k + j] =
                    extreme ? unif(&r, -30, 30) : 3.0 * dc_rng_normal(&r);
        }
    }
    dc_fmt(p->desc, sizeof p->desc, "%s fingerprint probe (n = %d)",
           extreme ? "extreme" : "ordinary", n);
}

dc_status sbx_fingerprint_shape(sbx_worker *w, int train_rows, int train_cols, char *out,
                                size_t cap, char *msg, size_t msgcap)
{
    if (cap) out[0] = '\0';
    if (!w) {
        dc_fmt(msg, msgcap, "sandbox: no worker");
        return DC_ERROR;
    }
    if (cap < 17) {
        dc_fmt(msg, msgcap, "sandbox: fingerprint buffer needs 17 bytes");
        return DC_ERROR;
    }
    /* The common training batches (fashion trains on 128 rows, sentiment on 16 pairs),
     * both ends, and the task's own. */
    int sizes[8] = {1, 7, 16, 64, 128, 1024}, nsizes = 6;
    if (train_rows > 0) {
        int known = 0;
        for (int i = 0; i < nsizes; i++)
            known |= sizes[i] == train_rows;
        if (!known) sizes[nsizes++] = train_rows;
    }
    // the task's classes (its probe shape) unless the training batch says otherwise
    int k = train_cols > 0 ? train_cols : w->lim.probe.classes > 0 ? w->lim.probe.classes : 10;
    if (k > w->lim.max_cols) k = w->lim.max_cols;
    dc_sb text = {0};
    double *loss = NULL;
    dc_status st = DC_OK;
    for (int s = 0; s < nsizes && st == DC_OK; s++) {
        int n = sizes[s] < w->lim.max_rows ? sizes[s] : w->lim.max_rows;
        loss = dc_realloc(loss, (size_t)n * sizeof *loss);
        for (int extreme = 0; extreme < 2 && st == DC_OK; extreme++) {
            probe p;
            fingerprint_probe(&p, w, n, k, extreme, s);
            char m[512];
            st = probe_eval(w, &p, loss, NULL, m, sizeof m);
            if (st != DC_OK) dc_fmt(msg, msgcap, "%s: %s", p.desc, m);
            probe_free(&p);
            /* 6 significant digits: renamed or reformatted copies (and harmless rounding
             * differences in the last bits) get the same fingerprint. */
            dc_sb_printf(&text, "n=%d:", n);
            for (int i = 0; i < n && st == DC_OK; i++)
                dc_sb_printf(&text, "%.5e;", loss[i] == 0.0 ? 0.0 : loss[i]);
        }
    }
    free(loss);
    if (st == DC_OK) {
        uint64_t hsh = dc_hash64(text.data, text.len, 0x6f626a6563746976ull);
        snprintf(out, cap, "%016llx", (unsigned long long)hsh);
    }
    dc_sb_free(&text);
    return st;
}

dc_status sbx_fingerprint(sbx_worker *w, char *out, size_t cap, char *msg, size_t msgcap)
{
    return sbx_fingerprint_shape(w, 0, 0, out, cap, msg, msgcap);
}

dc_status sbx_check_source(sbx_kind kind, const char *source, size_t len, const sbx_limits *lim,
                           char *msg, size_t msgcap)
{
    sbx_worker *w = NULL;
    dc_status st = sbx_open(kind, source, len, lim, &w, msg, msgcap);
    if (st != DC_OK) return st;
    st = sbx_prescreen(w, msg, msgcap);
    sbx_close(w);
    return st;
}
