/* worker.h — the pieces of the sandbox worker process (discover-sandbox), shared between
 * its files. Nothing here is linked into the host. */
#ifndef DC_SBX_WORKER_H
#define DC_SBX_WORKER_H

#include "protocol.h"

#include <stddef.h>

/* ---- worker_runtime.c: what a candidate may call ---- */
typedef struct {
    const char *name;
    const void *addr;
} sbx_symbol;
/* The math allow-list (discover_objective.h) plus the helpers tcc emits calls to. */
extern const sbx_symbol sbx_symbols[];
extern const size_t sbx_symbol_count;
/* Comma-separated public names (the math functions) for messages. */
const char *sbx_allowed_names(void);

/* ---- sandbox_header_text.c (generated from discover_objective.h at build time) ---- */
extern const char sbx_header_text[];

/* ---- worker_compile.c ---- */
/* Compiles the candidate in-process (the worker IS the sandbox). On success returns 0 and
 * sets *fn to the relocated `objective` and *grad_fn to `objective_grad` (NULL when the
 * candidate defines none). On failure returns the dc_status and a message. */
int sbx_compile(int kind, const char *src, size_t len, void **fn, void **grad_fn, char *msg,
                size_t msgcap);

/* ---- worker_seccomp.c ---- */
/* Stage 1, before compiling: installs the SIGSYS handler (reports into hdr), then a filter
 * allowing memory syscalls and the doorbell only; open/openat fail with EACCES, anything
 * else with EPERM. Returns 0 or -1. */
int sbx_lockdown_compile(sbx_header *hdr);
/* Stage 2, before the first call: read/write on the doorbell, exit, exit_group,
 * rt_sigreturn; anything else raises SIGSYS (the handler reports the number and exits). */
int sbx_lockdown_eval(void);

/* ---- worker_eval.c ---- */
typedef struct {
    int kind;
    void *fn; /* the candidate's objective */
    sbx_header *hdr;
    unsigned char *shm;
    sbx_layout layout;
    /* private buffers (allocated before lock-down) */
    double *w_real, *x_real; /* what the candidate sees / what it should still see */
    int *w_int, *x_int;
    double *loss_base, *loss_plus, *loss_minus; /* each with SBX_GUARD doubles either side */
    double *orig, *den;                         /* per-row scratch for the gradient */
    /* (after the fields above: tests/sandbox/fixtures/rogue_server.c finds hdr by the
     * fn, hdr, shm sequence on the worker's stack, as an attacker would) */
    void *grad_fn;                              /* the candidate's objective_grad, or NULL */
    double *grad_a, *grad_b; /* objective_grad's outputs, each with SBX_GUARD doubles either side:
                                logits (n*k) or d_chosen (n); d_rejected (n) */
} sbx_eval_ctx;

/* Allocates the private buffers; 0 or -1. */
int sbx_eval_init(sbx_eval_ctx *e);
/* Serves the request in hdr: losses into shm loss, gradients into shm grad. Returns the
 * dc_status and fills hdr->msg on failure. */
int sbx_eval_request(sbx_eval_ctx *e);

#endif
