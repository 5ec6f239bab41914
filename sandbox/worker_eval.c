/* worker_eval.c — one request: the candidate's losses and, by central differences, the
 * gradient of Σ loss with respect to the trainable inputs; or, when the candidate defines
 * objective_grad and the host has checked it against central differences (use_grad_fn),
 * both from one call of objective_grad, under the same output and input checks.
 *
 * Every call of the candidate is checked for the contract (no system calls can happen
 * here, so everything is plain memory work):
 *   - the loss array has SBX_GUARD doubles of sentinel either side: a write into them is
 *     "wrote outside loss[0..n-1]";
 *   - every row is pre-filled with a signalling-NaN sentinel: one still there afterwards
 *     was never written (arithmetic cannot produce that exact bit pattern: any operation
 *     on an sNaN yields a quiet NaN);
 *   - the candidate reads the inputs from private copies (w_*), and a second copy (x_*)
 *     holds what they should contain; they are compared after each call, so a write
 *     through a cast-away const is caught. Perturbations for the gradient are applied to
 *     both copies.
 *
 * Before every call the candidate's writable memory is copied back from its pristine copy
 * (worker_compile.c) and the stack below the call is zeroed (SBX_STACK_SCRUB bytes, far more
 * than an objective's frames use), so neither a static variable nor an uninitialised local
 * carries anything from one call to the next. What an actively hostile candidate might keep
 * elsewhere (deeper in the stack, in registers) is for the fresh-process audits of
 * worker_audit.c to find: such state changes its answers, and a fresh process has none.
 *
 * Step: h = SBX_FD_STEP · max(1, |x|) and the divisor is the exact (x+h) − (x−h), which
 * cancels the rounding of h. Central differences have truncation error O(h²·f''') and
 * rounding error O(ε·|loss|/h). The textbook optimum c ≈ ε^(1/3) ≈ 6e-6 assumes the loss
 * varies on the scale of x itself, but summed log-probs are ~-200 while DiscoPOP-style
 * losses bend on the scale of τ/β ≈ 0.1, so the step must be smaller. Measured with
 * tests/sandbox/test_sandbox_objectives.c (DPO, LRML with τ = 0.05, a batch-mean
 * objective, cross-entropy; analytic gradients), largest relative error:
 *   c = 1e-5: 7.5e-6   3e-6: 6.8e-7   1e-6: 7.5e-8   3e-7: 6.8e-9   1e-7: 7.7e-9
 * (rounding takes over below 3e-7). Hence c = 3e-7; the test's tolerance is 1e-7. */
#define _GNU_SOURCE
#include "worker.h"

#include "common/status.h"
#include "discover_objective.h"

#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL_BITS 0x7FF4DEADBEEF0001ull
/* Bytes of stack zeroed below the call (explicit_bzero: a plain memset of a dead array may be
 * optimised away). 16 KiB take 0.12 us a call on the 2-core test machine (median of 2001,
 * 3 runs). */
#define SBX_STACK_SCRUB 16384

typedef void (*pref_fn)(const pref_batch *b, double *loss);
typedef void (*cls_fn)(int n, int k, const double *logits, const int *labels, double *loss);
typedef void (*pref_grad_fn)(const pref_batch *b, double *loss, double *d_chosen,
                             double *d_rejected);
typedef void (*token_fn)(const token_pref_batch *b, double *loss);
typedef void (*token_grad_fn)(const token_pref_batch *b, double *loss, double *d_chosen,
                              double *d_rejected);
typedef void (*cls_grad_fn)(int n, int k, const double *logits, const int *labels, double *loss,
                            double *d_logits);

static fenv_t g_env; /* the worker's floating-point environment: restored before each call */

static const char *const pref_names[6] = {"chosen_logps",     "rejected_logps",
                                          "ref_chosen_logps", "ref_rejected_logps",
                                          "chosen_lens",      "rejected_lens"};
static const char *const token_names[6] = {"chosen_logps",     "rejected_logps",
                                           "ref_chosen_logps", "ref_rejected_logps",
                                           "chosen_sim",       "rejected_sim"};
static const char *const token_int_names[4] = {"chosen_off", "rejected_off", "chosen_len",
                                               "rejected_len"};

static double *alloc_doubles(size_t n)
{
    return calloc(n ? n : 1, sizeof(double));
}

int sbx_eval_init(sbx_eval_ctx *e)
{
    size_t mr = (size_t)e->hdr->max_rows;
    size_t real = sbx_real_cap(e->hdr->max_rows, e->hdr->max_cols);
    size_t lb = mr + 2 * SBX_GUARD;
    e->w_real = alloc_doubles(real);
    e->x_real = alloc_doubles(real);
    e->w_int = calloc(4 * mr, sizeof(int)); /* token-level pairs: four per-pair arrays */
    e->x_int = calloc(4 * mr, sizeof(int));
    e->loss_base = alloc_doubles(lb);
    e->loss_plus = alloc_doubles(lb);
    e->loss_minus = alloc_doubles(lb);
    e->orig = alloc_doubles(mr);
    e->grad_a = alloc_doubles(real + 2 * SBX_GUARD);
    e->grad_b = alloc_doubles(lb);
    if (fegetenv(&g_env) != 0) return -1;
    return (e->w_real && e->x_real && e->w_int && e->x_int && e->loss_base && e->loss_plus &&
            e->loss_minus && e->orig && e->grad_a && e->grad_b)
               ? 0
               : -1;
}

static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static void fill_sentinel(double *p, size_t n)
{
    const uint64_t s = SENTINEL_BITS;
    for (size_t i = 0; i < n; i++)
        memcpy(&p[i], &s, sizeof s);
}

/* First index where the two arrays differ, or -1. */
static long first_diff(const void *a, const void *b, size_t elem, size_t n)
{
    if (memcmp(a, b, elem * n) == 0) return -1;
    const unsigned char *pa = a, *pb = b;
    for (size_t i = 0; i < n; i++)
        if (memcmp(pa + i * elem, pb + i * elem, elem) != 0) return (long)i;
    return -1;
}

/* The batch the candidate sees (preference tasks): views of the w_* copies. */
static pref_batch batch_view(const sbx_eval_ctx *e)
{
    const sbx_header *h = e->hdr;
    size_t mr = (size_t)h->max_rows;
    pref_batch b = {h->n,
                    h->beta,
                    e->w_real,
                    e->w_real + mr,
                    e->w_real + 2 * mr,
                    e->w_real + 3 * mr,
                    e->w_real + 4 * mr,
                    e->w_real + 5 * mr};
    return b;
}

/* The token-level batch the candidate sees: views of the w_* copies. */
static token_pref_batch token_view(const sbx_eval_ctx *e)
{
    const sbx_header *h = e->hdr;
    size_t mr = (size_t)h->max_rows;
    token_pref_batch b = {h->n,
                          h->beta,
                          e->w_int,
                          e->w_int + mr,
                          e->w_int + 2 * mr,
                          e->w_int + 3 * mr,
                          e->w_real,
                          e->w_real + mr,
                          e->w_real + 2 * mr,
                          e->w_real + 3 * mr,
                          e->w_real + 4 * mr,
                          e->w_real + 5 * mr};
    return b;
}

static int check_outputs(sbx_eval_ctx *e, const double *buf);
static int check_inputs(sbx_eval_ctx *e);

/* Zeroes the stack a candidate call is about to use: called from the frame that then makes
 * the call, its own frame lies where the candidate's will. */
static __attribute__((noinline)) void scrub_stack(void)
{
    unsigned char pad[SBX_STACK_SCRUB];
    explicit_bzero(pad, sizeof pad);
}

/* Everything a call starts from: pristine statics, a zeroed stack, the worker's FP state. */
static void fresh_call_state(const sbx_eval_ctx *e)
{
    sbx_image_restore(e->img);
    scrub_stack();
    fesetenv(&g_env);
}

/* Calls the candidate once on the w_* inputs, losses into buf + SBX_GUARD. */
static int call_once(sbx_eval_ctx *e, double *buf)
{
    sbx_header *h = e->hdr;
    int n = h->n, k = h->k;
    double *loss = buf + SBX_GUARD;
    fill_sentinel(buf, (size_t)n + 2 * SBX_GUARD);
    fresh_call_state(e);
    if (e->kind == 0) {
        pref_batch b = batch_view(e);
        ((pref_fn)e->fn)(&b, loss);
    } else if (e->kind == 2) {
        token_pref_batch b = token_view(e);
        ((token_fn)e->fn)(&b, loss);
    } else {
        ((cls_fn)e->fn)(n, k, e->w_real, e->w_int, loss);
    }
    fesetenv(&g_env);
    int st = check_outputs(e, buf);
    return st != DC_OK ? st : check_inputs(e);
}

static int check_array(sbx_eval_ctx *e, const double *buf, size_t n, const char *what);

/* A token-level gradient of objective_grad (side 0 chosen, 1 rejected): the guards intact,
 * every token of every response written; what no response covers (the host's padding) is
 * set to 0, as the central-difference path leaves it. */
static int check_token_grad(sbx_eval_ctx *e, double *buf, int side, const char *what)
{
    const sbx_header *h = e->hdr;
    size_t mr = (size_t)h->max_rows, k = (size_t)h->k;
    const int *off = e->x_int + (size_t)side * mr, *len = e->x_int + (size_t)(2 + side) * mr;
    double *v = buf + SBX_GUARD;
    for (int i = 0; i < h->n; i++)
        for (int t = 0; t < len[i]; t++)
            if (bits_of(v[off[i] + t]) == SENTINEL_BITS) {
                snprintf(e->hdr->msg, sizeof e->hdr->msg,
                         "objective_grad returned without writing %s[%d] (pair %d, token %d); it "
                         "must write every token of every response",
                         what, off[i] + t, i, t);
                return DC_INVALID;
            }
    for (size_t j = 0; j < k; j++)
        if (bits_of(v[j]) == SENTINEL_BITS) v[j] = 0;
    return check_array(e, buf, k, what);
}

/* One array of n outputs of objective_grad at buf + SBX_GUARD, sentinel-filled before the
 * call: the guards must be intact and every element written. `what` names it. */
static int check_array(sbx_eval_ctx *e, const double *buf, size_t n, const char *what)
{
    sbx_header *h = e->hdr;
    const double *v = buf + SBX_GUARD;
    for (size_t i = 0; i < SBX_GUARD; i++) {
        if (bits_of(buf[i]) != SENTINEL_BITS || bits_of(v[n + i]) != SENTINEL_BITS) {
            long at = bits_of(buf[i]) != SENTINEL_BITS ? (long)i - SBX_GUARD : (long)(n + i);
            snprintf(h->msg, sizeof h->msg,
                     "objective_grad wrote outside %s[0..%zu] (at %s[%ld]); write exactly the "
                     "elements the batch has",
                     what, n - 1, what, at);
            return DC_INVALID;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (bits_of(v[i]) == SENTINEL_BITS) {
            snprintf(h->msg, sizeof h->msg,
                     "objective_grad returned without writing %s[%zu]; it must write every element",
                     what, i);
            return DC_INVALID;
        }
    return DC_OK;
}

/* The candidate's objective_grad once on the w_* inputs: losses into loss_base, gradients
 * into grad_a (and grad_b for pairs), all + SBX_GUARD, checked like objective's outputs. */
static int call_grad_once(sbx_eval_ctx *e)
{
    sbx_header *h = e->hdr;
    int n = h->n, k = h->k;
    /* pairs: one per row; token-level pairs: one per token (k per side); logits: n*k */
    size_t ng = e->kind == 0 ? (size_t)n : e->kind == 2 ? (size_t)k : (size_t)n * (size_t)k;
    int two = e->kind != 1; /* d_chosen and d_rejected */
    fill_sentinel(e->loss_base, (size_t)n + 2 * SBX_GUARD);
    fill_sentinel(e->grad_a, ng + 2 * SBX_GUARD);
    if (two) fill_sentinel(e->grad_b, ng + 2 * SBX_GUARD);
    double *loss = e->loss_base + SBX_GUARD, *ga = e->grad_a + SBX_GUARD,
           *gb = e->grad_b + SBX_GUARD;
    fresh_call_state(e);
    if (e->kind == 0) {
        pref_batch b = batch_view(e);
        ((pref_grad_fn)e->grad_fn)(&b, loss, ga, gb);
    } else if (e->kind == 2) {
        token_pref_batch b = token_view(e);
        ((token_grad_fn)e->grad_fn)(&b, loss, ga, gb);
    } else {
        ((cls_grad_fn)e->grad_fn)(n, k, e->w_real, e->w_int, loss, ga);
    }
    fesetenv(&g_env);
    int st = check_array(e, e->loss_base, (size_t)n, "loss");
    if (st == DC_OK && e->kind == 2) {
        st = check_token_grad(e, e->grad_a, 0, "d_chosen");
        if (st == DC_OK) st = check_token_grad(e, e->grad_b, 1, "d_rejected");
        return st != DC_OK ? st : check_inputs(e);
    }
    if (st == DC_OK) st = check_array(e, e->grad_a, ng, two ? "d_chosen" : "d_logits");
    if (st == DC_OK && two) st = check_array(e, e->grad_b, ng, "d_rejected");
    return st != DC_OK ? st : check_inputs(e);
}

static int check_outputs(sbx_eval_ctx *e, const double *buf)
{
    sbx_header *h = e->hdr;
    int n = h->n;
    const double *loss = buf + SBX_GUARD;
    for (int i = 0; i < SBX_GUARD; i++) {
        if (bits_of(buf[i]) != SENTINEL_BITS) {
            snprintf(h->msg, sizeof h->msg,
                     "wrote outside loss[0..n-1] (at loss[%d], n = %d); write exactly one loss "
                     "per row",
                     i - SBX_GUARD, n);
            return DC_INVALID;
        }
        if (bits_of(loss[n + i]) != SENTINEL_BITS) {
            snprintf(h->msg, sizeof h->msg,
                     "wrote outside loss[0..n-1] (at loss[%d], n = %d); write exactly one loss "
                     "per row",
                     n + i, n);
            return DC_INVALID;
        }
    }
    for (int i = 0; i < n; i++) {
        if (bits_of(loss[i]) == SENTINEL_BITS) {
            snprintf(h->msg, sizeof h->msg,
                     "returned without writing loss[%d] (n = %d); every row needs a loss", i, n);
            return DC_INVALID;
        }
    }
    return DC_OK;
}

/* The inputs must still be what the host sent (a write through a cast-away const). */
static int check_inputs(sbx_eval_ctx *e)
{
    sbx_header *h = e->hdr;
    int n = h->n, k = h->k;
    size_t mr = (size_t)h->max_rows;
    if (e->kind == 0) {
        for (int a = 0; a < 6; a++) {
            long d = first_diff(e->w_real + a * mr, e->x_real + a * mr, sizeof(double), (size_t)n);
            if (d >= 0) {
                snprintf(h->msg, sizeof h->msg,
                         "wrote into its input b->%s[%ld]; the inputs are read-only", pref_names[a],
                         d);
                return DC_INVALID;
            }
        }
    } else if (e->kind == 2) {
        for (int a = 0; a < 6; a++) {
            long d = first_diff(e->w_real + a * mr, e->x_real + a * mr, sizeof(double), (size_t)k);
            if (d >= 0) {
                snprintf(h->msg, sizeof h->msg,
                         "wrote into its input b->%s[%ld]; the inputs are read-only",
                         token_names[a], d);
                return DC_INVALID;
            }
        }
        for (int a = 0; a < 4; a++) {
            long d = first_diff(e->w_int + a * mr, e->x_int + a * mr, sizeof(int), (size_t)n);
            if (d >= 0) {
                snprintf(h->msg, sizeof h->msg,
                         "wrote into its input b->%s[%ld]; the inputs are read-only",
                         token_int_names[a], d);
                return DC_INVALID;
            }
        }
    } else {
        long d = first_diff(e->w_real, e->x_real, sizeof(double), (size_t)n * (size_t)k);
        if (d >= 0) {
            snprintf(h->msg, sizeof h->msg,
                     "wrote into its input logits[%ld]; the inputs are read-only", d);
            return DC_INVALID;
        }
        d = first_diff(e->w_int, e->x_int, sizeof(int), (size_t)n);
        if (d >= 0) {
            snprintf(h->msg, sizeof h->msg,
                     "wrote into its input labels[%ld]; the inputs are read-only", d);
            return DC_INVALID;
        }
    }
    return DC_OK;
}

static inline void set_both(sbx_eval_ctx *e, size_t idx, double v)
{
    e->w_real[idx] = v;
    e->x_real[idx] = v;
}

/* Gradient column = one trainable input per row: element of row i at base + i*stride. */
static int grad_column(sbx_eval_ctx *e, size_t base, size_t stride, double *grad, int separable)
{
    int n = e->hdr->n, st;
    double *plus = e->loss_plus + SBX_GUARD, *minus = e->loss_minus + SBX_GUARD;
    if (separable) {
        /* Row i's loss depends only on row i: move the whole column at once. */
        for (int i = 0; i < n; i++) {
            size_t idx = base + (size_t)i * stride;
            double x = e->x_real[idx];
            e->orig[i] = x;
            set_both(e, idx, x + sbx_fd_step(x));
        }
        if ((st = call_once(e, e->loss_plus)) != DC_OK) return st;
        for (int i = 0; i < n; i++) {
            double x = e->orig[i];
            set_both(e, base + (size_t)i * stride, x - sbx_fd_step(x));
        }
        if ((st = call_once(e, e->loss_minus)) != DC_OK) return st;
        for (int i = 0; i < n; i++) {
            size_t idx = base + (size_t)i * stride;
            set_both(e, idx, e->orig[i]);
            grad[idx] = sbx_fd_row(plus[i], minus[i], e->orig[i]);
        }
        return DC_OK;
    }
    /* Batch statistics: one input at a time through the whole batch; the derivative of the
     * sum is the sum of per-row differences (more accurate than a difference of sums). */
    for (int i = 0; i < n; i++) {
        size_t idx = base + (size_t)i * stride;
        double x = e->x_real[idx], hh = sbx_fd_step(x);
        set_both(e, idx, x + hh);
        if ((st = call_once(e, e->loss_plus)) != DC_OK) return st;
        set_both(e, idx, x - hh);
        if ((st = call_once(e, e->loss_minus)) != DC_OK) return st;
        set_both(e, idx, x);
        grad[idx] = sbx_fd_sum(plus, minus, n, x);
    }
    return DC_OK;
}

/* Token-level pairs, one side (0 chosen, 1 rejected) of the gradient. Row-separable: token
 * position t of every pair that has one moves at once (pair i's loss depends only on pair
 * i's tokens), so the side costs 2 calls per position of its longest response. Otherwise
 * one token at a time through the whole batch. Indices no response covers (the host's
 * padding) keep gradient 0. */
static int grad_token_side(sbx_eval_ctx *e, int side, double *grad, int separable)
{
    const sbx_header *h = e->hdr;
    int n = h->n, k = h->k, st;
    size_t mr = (size_t)h->max_rows, base = (size_t)side * mr;
    const int *off = e->x_int + (size_t)side * mr, *len = e->x_int + (size_t)(2 + side) * mr;
    double *plus = e->loss_plus + SBX_GUARD, *minus = e->loss_minus + SBX_GUARD;
    for (int j = 0; j < k; j++)
        grad[base + (size_t)j] = 0;
    if (separable) {
        int longest = 0;
        for (int i = 0; i < n; i++)
            if (len[i] > longest) longest = len[i];
        for (int t = 0; t < longest; t++) {
            for (int i = 0; i < n; i++)
                if (t < len[i]) {
                    size_t idx = base + (size_t)(off[i] + t);
                    double x = e->x_real[idx];
                    e->orig[i] = x;
                    set_both(e, idx, x + sbx_fd_step(x));
                }
            if ((st = call_once(e, e->loss_plus)) != DC_OK) return st;
            for (int i = 0; i < n; i++)
                if (t < len[i]) {
                    double x = e->orig[i];
                    set_both(e, base + (size_t)(off[i] + t), x - sbx_fd_step(x));
                }
            if ((st = call_once(e, e->loss_minus)) != DC_OK) return st;
            for (int i = 0; i < n; i++)
                if (t < len[i]) {
                    size_t idx = base + (size_t)(off[i] + t);
                    set_both(e, idx, e->orig[i]);
                    grad[idx] = sbx_fd_row(plus[i], minus[i], e->orig[i]);
                }
        }
        return DC_OK;
    }
    for (int i = 0; i < n; i++)
        for (int t = 0; t < len[i]; t++) {
            size_t idx = base + (size_t)(off[i] + t);
            double x = e->x_real[idx], hh = sbx_fd_step(x);
            set_both(e, idx, x + hh);
            if ((st = call_once(e, e->loss_plus)) != DC_OK) return st;
            set_both(e, idx, x - hh);
            if ((st = call_once(e, e->loss_minus)) != DC_OK) return st;
            set_both(e, idx, x);
            grad[idx] = sbx_fd_sum(plus, minus, n, x);
        }
    return DC_OK;
}

int sbx_eval_request(sbx_eval_ctx *e)
{
    sbx_header *h = e->hdr;
    int n = h->n, k = h->k;
    size_t mr = (size_t)h->max_rows;
    const int32_t *in_int = (const int32_t *)(e->shm + e->layout.in_int);
    if (h->op != SBX_OP_EVAL || n < 1 || n > h->max_rows ||
        (e->kind == 1 && (k < 1 || k > h->max_cols)) ||
        (e->kind == 2 &&
         (k < 1 || k > h->max_rows || !sbx_token_ranges_ok(in_int, n, k, h->max_rows)))) {
        snprintf(h->msg, sizeof h->msg, "malformed request (op %d, n %d, k %d)", h->op, n, k);
        return DC_ERROR;
    }
    const double *in_real = (const double *)(e->shm + e->layout.in_real);
    double *out_loss = (double *)(e->shm + e->layout.loss);
    double *out_grad = (double *)(e->shm + e->layout.grad);
    if (e->kind == 0) {
        for (size_t a = 0; a < 6; a++) {
            memcpy(e->w_real + a * mr, in_real + a * mr, (size_t)n * sizeof(double));
            memcpy(e->x_real + a * mr, in_real + a * mr, (size_t)n * sizeof(double));
        }
    } else if (e->kind == 2) {
        for (size_t a = 0; a < 6; a++) {
            memcpy(e->w_real + a * mr, in_real + a * mr, (size_t)k * sizeof(double));
            memcpy(e->x_real + a * mr, in_real + a * mr, (size_t)k * sizeof(double));
        }
        for (size_t a = 0; a < 4; a++)
            for (int i = 0; i < n; i++)
                e->w_int[a * mr + (size_t)i] = e->x_int[a * mr + (size_t)i] =
                    in_int[a * mr + (size_t)i];
    } else {
        size_t cnt = (size_t)n * (size_t)k;
        memcpy(e->w_real, in_real, cnt * sizeof(double));
        memcpy(e->x_real, in_real, cnt * sizeof(double));
        for (int i = 0; i < n; i++)
            e->w_int[i] = e->x_int[i] = in_int[i];
    }
    if (h->want_grad && h->use_grad_fn && e->grad_fn) {
        /* The analytic gradient the host has checked against central differences: one call */
        int st = call_grad_once(e);
        if (st != DC_OK) return st;
        memcpy(out_loss, e->loss_base + SBX_GUARD, (size_t)n * sizeof(double));
        if (e->kind != 1) {
            size_t per = e->kind == 0 ? (size_t)n : (size_t)k;
            memcpy(out_grad, e->grad_a + SBX_GUARD, per * sizeof(double));
            memcpy(out_grad + mr, e->grad_b + SBX_GUARD, per * sizeof(double));
        } else {
            memcpy(out_grad, e->grad_a + SBX_GUARD, (size_t)n * (size_t)k * sizeof(double));
        }
        return DC_OK;
    }
    int st = call_once(e, e->loss_base);
    if (st != DC_OK) return st;
    memcpy(out_loss, e->loss_base + SBX_GUARD, (size_t)n * sizeof(double));
    if (!h->want_grad) return DC_OK;
    if (e->kind == 0) {
        for (size_t a = 0; a < 2; a++)
            if ((st = grad_column(e, a * mr, 1, out_grad, h->separable)) != DC_OK) return st;
    } else if (e->kind == 2) {
        for (int side = 0; side < 2; side++)
            if ((st = grad_token_side(e, side, out_grad, h->separable)) != DC_OK) return st;
    } else {
        for (int j = 0; j < k; j++)
            if ((st = grad_column(e, (size_t)j, (size_t)k, out_grad, h->separable)) != DC_OK)
                return st;
    }
    return DC_OK;
}
