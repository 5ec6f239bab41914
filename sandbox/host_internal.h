/* host_internal.h — what the host-side files of dc_sandbox share (not public API). */
#ifndef DC_SBX_HOST_INTERNAL_H
#define DC_SBX_HOST_INTERNAL_H

#include "protocol.h"
#include "sandbox.h"

#include <stdint.h>
#include <sys/types.h>

struct sbx_worker {
    pid_t pid;          /* > 0 while the process exists (not yet reaped) */
    int sock;           /* doorbell, -1 once closed */
    unsigned char *shm; /* the shared block */
    sbx_layout layout;
    sbx_header *h;
    sbx_kind kind;
    sbx_limits lim;
    int separable;       /* decided by sbx_prescreen; selects the fast gradient path */
    int has_grad_fn;     /* the candidate defines objective_grad (the worker says so) */
    int use_grad_fn;     /* sbx_prescreen found it agrees with central differences */
    char grad_note[384]; /* why an objective_grad is not used, "" otherwise */
    int probing_grad;    /* sbx_prescreen is testing objective_grad: a non-finite answer is a
                            disagreement, not the candidate's failure */
    long grad_calls;     /* gradient requests served by objective_grad (audit schedule) */
    int audited_n[16];   /* batch sizes whose objective_grad answer was audited */
    int naudited;
    uint64_t rng; /* objective_grad's audit draws: seeded here, never in the worker */
    /* time bounds: what sbx_prescreen measured, and the limit of the request in flight */
    int timed;         /* 1 once the pre-screen has measured (predictions apply) */
    double cost_small; /* fastest loss-only request seen (fixed overheads) */
    double cost_large; /* fastest loss-only request of the largest batch seen */
    double size_large; /* that batch's size: rows (PREF), rows x k (CLS), tokens (TOKEN) */
    int tok_positions; /* TOKEN request in flight: longest chosen + longest rejected response
                          (the separable path's columns) */
    double deadline;   /* dc_now() by which all requests must be done; 0: none */
    double budget_s;   /* the budget behind it, for the message */
    int limit_kind;    /* what bounds the request in flight (sandbox_host.c) */
    double limit_s, limit_predicted;
    int limit_n;
    dc_status dead; /* DC_OK while usable; the sticky failure afterwards */
    char dead_msg[512];
    uint32_t seq;
    double seconds; /* inside sbx_*_eval */
};

/* Gradient elements of a request: 2n (pairs), 2k (token-level pairs: k tokens per side) or
 * n*k (logits). */
static inline size_t sbx_grad_len(sbx_kind kind, int n, int k)
{
    return kind == SBX_PREF         ? 2u * (size_t)n
           : kind == SBX_TOKEN_PREF ? 2u * (size_t)k
                                    : (size_t)n * (size_t)k;
}

/* Copies src into dst (cap bytes), always terminated. */
void sbx_copy_msg(char *dst, size_t cap, const char *src);

/* Compares objective_grad's losses la and gradients ga with objective's losses ln and the
 * central differences gn on a batch of n rows (k logits per row; k = 0 for preference
 * pairs, whose gradients are laid out d_chosen[n] then d_rejected[n]). 0 when they agree;
 * else 1 with note saying where, `what` naming the batch. */
int sbx_grads_disagree(sbx_kind kind, int n, int k, const double *ln, const double *gn,
                       const double *la, const double *ga, const char *what, char *note,
                       size_t cap);

#endif
