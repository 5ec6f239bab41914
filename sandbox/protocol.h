/* protocol.h — the private wire format between the host (sandbox_host.c) and the worker
 * (worker_main.c). Not part of the public API.
 *
 * One shared-memory block (a sealed memfd, mapped by both before the worker locks itself
 * down) holds a header, the candidate's source and the request/reply arrays. A socketpair
 * is the doorbell both ways: the host writes one byte per request, the worker answers with
 * one byte when the reply in shared memory is complete. A socketpair rather than a pipe
 * because the host must survive a dead worker: send(MSG_NOSIGNAL) cannot raise SIGPIPE in
 * the host, and one descriptor serves both directions (fewer to allow in seccomp).
 *
 * Since version 3 the process the host talks to never runs candidate code: it is the
 * supervisor, and the candidate runs in executor processes it forks, which hold neither
 * this block nor the doorbell (worker_main.c says why and how). The executor gets the same
 * layout in a block of its own (its "window"), so the evaluation code is the same on both
 * sides of that boundary. The host still re-checks sequence numbers, status ranges,
 * message termination and the finiteness of every number: a second line of defence. */
#ifndef DC_SBX_PROTOCOL_H
#define DC_SBX_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#define SBX_MAGIC 0x44435342u /* "DCSB" */
#define SBX_VERSION                                                                                \
    4u /* 2: objective_grad; 3: supervisor + executors (died, child_wstatus);                      \
          4: token-level pairs (SBX_TOKEN_PREF), in_int holds 4 arrays */

/* Descriptor numbers in the worker (the host arranges 3 and 4 before exec; the supervisor
 * makes 5 and 6, the two ends of its socketpair with the executor, before it locks down). */
#define SBX_FD_SOCK 3
#define SBX_FD_SHM 4
#define SBX_FD_EXEC_PARENT 5 /* the supervisor's end */
#define SBX_FD_EXEC 6        /* the executor's end: the only descriptor it may use */

/* Largest candidate source accepted (bytes). DiscoPOP's objectives are under 2 KiB; 256 KiB
 * leaves room for generous comments while keeping compile time and memory bounded. */
#define SBX_MAX_SOURCE (256u * 1024u)

/* Doubles of guard before and after the loss array: catch loss[-1] and loss[n..n+63]. */
#define SBX_GUARD 64

/* Exit code of a worker that caught a forbidden system call (SIGSYS handler); the
 * system-call number is in sbx_header.violation_nr. */
#define SBX_EXIT_VIOLATION 97
/* Exit code for "could not set up" (bad descriptors, mmap failed, ...). */
#define SBX_EXIT_SETUP 98

enum { SBX_OP_EVAL = 1 };

/* Reply statuses use dc_status values (common/status.h). */

typedef struct {
    uint32_t magic, version;
    /* fixed at spawn (host → worker) */
    int32_t kind;     /* sbx_kind */
    int32_t max_rows; /* capacity of every per-row array */
    int32_t max_cols; /* capacity of k */
    uint32_t source_len;
    uint64_t shm_size;
    uint64_t mem_limit;   /* RLIMIT_AS, bytes */
    uint32_t cpu_limit_s; /* RLIMIT_CPU soft limit, a backstop behind the host's watchdog */
    uint32_t pad_;
    /* request (host → worker) */
    uint32_t seq;
    int32_t op;
    int32_t n, k;
    int32_t want_grad; /* 1: also compute gradients */
    int32_t separable; /* 1: use the column-at-once gradient path */
    double beta;
    /* reply (worker → host) */
    uint32_t reply_seq;
    int32_t status;       /* dc_status */
    int32_t violation_nr; /* system call that tripped the SIGSYS handler, -1 if none */
    int32_t phase;        /* 0 starting, 1 compiling, 2 ready (evaluating) */
    char msg[1024];
    /* added in version 2, at the end so that the offsets above stay those of version 1 */
    int32_t use_grad_fn; /* request: gradients from the candidate's objective_grad, one call */
    int32_t has_grad_fn; /* set with the ready reply: the candidate defines objective_grad */
    /* added in version 3: how an executor died (set by the supervisor, which then exits) */
    int32_t died;          /* 1: the reply reports the death of an executor, not a status */
    int32_t child_wstatus; /* its wait status, as waitpid() gives it */
    int32_t died_in_audit; /* 1: it was a fresh executor re-checking a call (worker_audit.c) */
    int32_t pad3_;
} sbx_header;

enum { SBX_PHASE_START = 0, SBX_PHASE_COMPILE = 1, SBX_PHASE_READY = 2 };

/* Offsets of the arrays in the shared block, computed identically by both sides from
 * max_rows and max_cols. PREF uses in_pref[6][max_rows] (chosen, rejected, ref_chosen,
 * ref_rejected, chosen_lens, rejected_lens) and grad[2][max_rows]; CLS uses
 * logits[max_rows*max_cols], labels[max_rows] and grad[max_rows*max_cols]. TOKEN_PREF
 * (kind 2) sends n pairs and k tokens per side (the host pads the shorter side to k):
 * in_real[6][max_rows] per token (chosen, rejected, ref_chosen, ref_rejected, chosen_sim,
 * rejected_sim), in_int[4][max_rows] per pair (chosen_off, rejected_off, chosen_len,
 * rejected_len) and grad[2][max_rows] per token (d_chosen, d_rejected). */
typedef struct {
    size_t source;  /* SBX_MAX_SOURCE + 1 bytes */
    size_t in_real; /* doubles: max(6*max_rows, max_rows*max_cols) */
    size_t in_int;  /* int32: 4 * max_rows */
    size_t loss;    /* doubles: max_rows */
    size_t grad;    /* doubles: max(2*max_rows, max_rows*max_cols) */
    size_t total;
} sbx_layout;

static inline size_t sbx_align64(size_t x)
{
    return (x + 63u) & ~(size_t)63u;
}

static inline size_t sbx_real_cap(int max_rows, int max_cols)
{
    size_t a = 6u * (size_t)max_rows, b = (size_t)max_rows * (size_t)max_cols;
    return a > b ? a : b;
}

static inline sbx_layout sbx_compute_layout(int max_rows, int max_cols)
{
    sbx_layout L;
    size_t off = sbx_align64(sizeof(sbx_header));
    size_t real = sbx_real_cap(max_rows, max_cols);
    L.source = off;
    off = sbx_align64(off + SBX_MAX_SOURCE + 1);
    L.in_real = off;
    off = sbx_align64(off + real * sizeof(double));
    L.in_int = off;
    off = sbx_align64(off + 4u * (size_t)max_rows * sizeof(int32_t));
    L.loss = off;
    off = sbx_align64(off + (size_t)max_rows * sizeof(double));
    L.grad = off;
    off = sbx_align64(off + real * sizeof(double));
    L.total = (off + 4095u) & ~(size_t)4095u;
    return L;
}

/* A token-level request's per-pair arrays are usable: every response has 1..k tokens and
 * lies inside [0, k). Checked by the host, and again by the worker before its own code
 * indexes with them (the ranges of different pairs may not overlap: sandbox_host.c). */
static inline int sbx_token_ranges_ok(const int32_t *ints, int n, int k, int max_rows)
{
    for (int side = 0; side < 2; side++)
        for (int i = 0; i < n; i++) {
            long off = ints[(size_t)side * (size_t)max_rows + (size_t)i];
            long len = ints[(size_t)(2 + side) * (size_t)max_rows + (size_t)i];
            if (off < 0 || len < 1 || off + len > k) return 0;
        }
    return 1;
}

#endif
