/* worker.h — the pieces of the sandbox worker process (discover-sandbox), shared between
 * its files. Nothing here is linked into the host. */
#ifndef DC_SBX_WORKER_H
#define DC_SBX_WORKER_H

#include "protocol.h"

#include <math.h>
#include <stddef.h>
#include <sys/types.h>

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
/* Largest relocated candidate (code, constants, static variables, tcc's GOT and PLT). Its
 * writable part is copied back from a pristine copy before every call, so this also bounds
 * what that copy costs: memcpy of 1 MiB takes 36 us on the 2-core test machine, of the 8 KiB
 * a typical objective has 0.08 us (medians of 2001, 3 runs). */
#define SBX_MAX_IMAGE (1u << 20)

/* The relocated candidate. tcc lays out its executable sections first and the others after
 * them; the worker makes [base, data) read + execute and keeps a read-only copy of
 * [data, data + data_len) as it was right after relocation (worker_compile.c). */
typedef struct {
    void *fn;      /* objective */
    void *grad_fn; /* objective_grad, or NULL */
    unsigned char *base, *data;
    size_t code_len, data_len;
    const unsigned char *pristine;
} sbx_image;

/* Compiles the candidate in-process (the supervisor compiles; executors only run it) and
 * relocates it into *img. On failure returns the dc_status and a message. */
int sbx_compile(int kind, const char *src, size_t len, sbx_image *img, char *msg, size_t msgcap);

/* Puts the candidate's writable memory back to what it was after relocation: no state
 * survives a call in it. */
static inline void sbx_image_restore(const sbx_image *img)
{
    if (img && img->data_len) __builtin_memcpy(img->data, img->pristine, img->data_len);
}

/* ---- worker_seccomp.c ---- */
/* Installs the SIGSYS handler, which records a trapped system call's number in hdr and
 * exits with SBX_EXIT_VIOLATION; 0 or -1. */
int sbx_sigsys_install(sbx_header *hdr);
/* Where the handler records from now on (an executor's own window after fork). */
void sbx_sigsys_report_to(sbx_header *hdr);
/* Stage 1, before compiling: memory management and what the supervisor needs later; every
 * open fails with EACCES, anything else with EPERM. Returns 0 or -1. */
int sbx_lockdown_compile(void);
/* Stage 2, the supervisor for the rest of its life (it never runs candidate code): the two
 * channels, fork and wait, unmapping and locking down its children, exit. Anything else
 * traps. Returns 0 or -1. */
int sbx_lockdown_supervisor(void);
/* An executor, just before the first candidate call: read/write on descriptor fd (none when
 * fd < 0), exit, exit_group, rt_sigreturn; anything else traps, another ABI kills. A raw
 * filter: loading it allocates nothing. Returns 0 or -1. */
int sbx_lockdown_executor(int fd);

/* ---- worker_eval.c ---- */
/* Step of the central differences for input x; worker_eval.c explains the constant. */
#ifndef SBX_FD_STEP
#define SBX_FD_STEP 3e-7
#endif
static inline double sbx_fd_step(double x)
{
    return SBX_FD_STEP * fmax(1.0, fabs(x));
}
/* The exact distance between the two evaluation points x + h and x - h (cancels the
 * rounding of h). */
static inline double sbx_fd_den(double x)
{
    double h = sbx_fd_step(x);
    return (x + h) - (x - h);
}
/* Derivative from one row's losses at x + h and x - h (the row-separable path). */
static inline double sbx_fd_row(double plus, double minus, double x)
{
    return (plus - minus) / sbx_fd_den(x);
}
/* Derivative of the sum of n rows' losses (the exact path): the sum of per-row
 * differences, more accurate than a difference of sums. */
static inline double sbx_fd_sum(const double *plus, const double *minus, int n, double x)
{
    double s = 0;
    for (int r = 0; r < n; r++)
        s += plus[r] - minus[r];
    return s / sbx_fd_den(x);
}

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
    double *orig;                               /* per-row scratch for the gradient */
    /* (after the fields above: tests/sandbox/fixtures/rogue_server.c finds hdr by the
     * fn, hdr, shm sequence on the worker's stack, as an attacker would) */
    void *grad_fn;           /* the candidate's objective_grad, or NULL */
    double *grad_a, *grad_b; /* objective_grad's outputs, each with SBX_GUARD doubles either side:
                                logits (n*k) or d_chosen (n); d_rejected (n) */
    const sbx_image *img;    /* restored before every call */
} sbx_eval_ctx;

/* Allocates the private buffers; 0 or -1. */
int sbx_eval_init(sbx_eval_ctx *e);
/* Serves the request in hdr: losses into the block's loss array, gradients into its grad
 * array. Returns the dc_status and fills hdr->msg on failure. */
int sbx_eval_request(sbx_eval_ctx *e);

/* ---- worker_exec.c: the executors (processes that run candidate code) ---- */
typedef struct {
    sbx_eval_ctx e; /* the evaluation state every executor starts from */
    sbx_header *h;  /* the host's block: only this process maps it */
    unsigned char *shm;
    unsigned char *ewin; /* the persistent executor's window */
    unsigned char *awin; /* the window of a fresh executor (one per audited call) */
    pid_t exec_pid;
    uint32_t exec_seq;
    uint64_t rng;      /* audit schedule; drawn after the executor was forked */
    size_t *audit_idx; /* 2 * max_rows input indices (worker_audit.c) */
} sbx_super;

/* Forks the persistent executor and waits until it has locked itself down; 0, or -1 with
 * hdr->msg set. */
int sbx_exec_start(sbx_super *s);
/* Copies the host's request (header and inputs; want_grad/use_grad_fn as given) into window
 * win. */
void sbx_exec_copy_request(const sbx_super *s, unsigned char *win, int want_grad, int use_grad_fn);
/* Runs the request now in the persistent executor's window. Returns its status (DC_OK or
 * DC_INVALID, or DC_VIOLATION when its reply is malformed), or -1 when it died: then
 * *wstatus is its wait status. */
int sbx_exec_run(sbx_super *s, int *wstatus);
/* Runs the request now in the fresh window in a new executor forked for this one request,
 * which exits afterwards. Same returns as sbx_exec_run; DC_ERROR when fork fails. */
int sbx_exec_fresh(sbx_super *s, int *wstatus);

/* ---- worker_audit.c ---- */
/* Whether the request just served is re-checked: a random draw the executor cannot see. */
int sbx_audit_due(sbx_super *s);
/* Re-checks the persistent executor's answer (already copied into the host's block) with
 * fresh executors. DC_OK, DC_VIOLATION with the host's msg set, DC_ERROR, or -1 when a fresh
 * executor died (*wstatus). */
int sbx_audit(sbx_super *s, int *wstatus);

#endif
