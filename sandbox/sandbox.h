/* sandbox.h — compile and run an untrusted candidate objective in a locked-down worker.
 *
 * The candidate never runs in the calling process. sbx_open() starts the worker binary
 * `discover-sandbox` (exec'd, so it inherits no GPU, SQLite or curl state), the worker
 * compiles the source with libtcc, locks itself down with seccomp and resource limits, and
 * then answers evaluation requests: inputs and outputs travel through shared memory mapped
 * before lock-down, a socketpair is the doorbell. The worker runs the candidate in executor
 * processes that cannot reach either (worker_main.c), restores the candidate's memory before
 * every call, and re-checks its answers with fresh executors at random (worker_audit.c).
 * Every call runs under a watchdog; a worker that dies or hangs is reaped and its fate
 * mapped to a dc_status.
 *
 * Time: until sbx_prescreen has measured the candidate, every request gets
 * call_timeout_s. After it, a request gets SBX_SLOWDOWN_FACTOR times what the pre-screen's
 * probes predict for its batch and gradient path (see sbx_request_prediction), but at least
 * call_timeout_s / 4, the budget of one probe batch; a request that runs past that ends the
 * candidate as DC_TIMEOUT, "slower in training than on the probes". sbx_set_time_budget()
 * adds a wall-clock budget for all later requests together.
 *
 * Gradients are computed inside the worker by central differences in double precision
 * (step scaled to each input's magnitude). Gradient arrays receive d(Σ_i loss_i)/d input,
 * i.e. the derivative of the SUM of the per-row losses: a trainer that averages divides
 * by n itself.
 *
 * Messages (msg) are one or two short sentences meant for a person and for the LLM's
 * feedback: what went wrong and, where possible, where (line number, input, row). */
#ifndef DC_SANDBOX_H
#define DC_SANDBOX_H

#include "common/status.h"
#include "discover_objective.h"

#include <stddef.h>

/* The largest candidate source (bytes) the sandbox compiles: one documented limit for
 * `check`, `eval` and `run` (a file or an LLM's code over it is rejected with a message that
 * names it). 256 KiB is hundreds of times an honest objective. */
#define SBX_SOURCE_LIMIT (256u * 1024u)

typedef enum {
    SBX_PREF = 0, /* void objective(const pref_batch *b, double *loss) */
    SBX_CLS =
        1, /* void objective(int n, int k, const double *logits, const int *labels, double *loss) */
    SBX_TOKEN_PREF = 2, /* void objective(const token_pref_batch *b, double *loss) */
} sbx_kind;

/* The shape of what training sends, as the task describes it (inner_loop/task.h): the
 * pre-screen probes the candidate at that shape. */
typedef struct {
    int classes; /* classification: logits per row (k); 0 = 10 */
    int tokens;  /* token-level pairs: the longest response in tokens; 0 = 32 */
} sbx_probe_shape;

typedef struct {
    double compile_timeout_s; /* wall-clock budget for compile + relocate (default 5 s) */
    double call_timeout_s;    /* wall-clock budget for one request incl. gradient until the
                                 pre-screen has measured the candidate (default 2 s) */
    size_t mem_limit_bytes;   /* RLIMIT_AS of the worker (default 512 MiB) */
    int max_rows;             /* largest batch a request may carry (default 4096); token-level
                                 pairs: also the most tokens per side */
    int max_cols;             /* largest k for classification (default 64) */
    sbx_probe_shape probe;    /* the task's shapes (default: all 0) */
} sbx_limits;

void sbx_limits_default(sbx_limits *lim);

typedef struct sbx_worker sbx_worker;

/* Starts a worker, compiles `source` (len bytes, need not be NUL-terminated) as a candidate
 * of the given kind and locks the worker down. Returns DC_OK with *out set, or a failure
 * status (DC_COMPILE_ERROR, DC_VIOLATION, DC_TIMEOUT, DC_CRASH, DC_INVALID, DC_ERROR) with
 * *out = NULL and msg filled. lim may be NULL for defaults. */
dc_status sbx_open(sbx_kind kind, const char *source, size_t len, const sbx_limits *lim,
                   sbx_worker **out, char *msg, size_t msgcap);

/* Losses (loss[n]) and, when d_chosen/d_rejected are non-NULL, gradients of Σ loss with
 * respect to chosen_logps and rejected_logps. After any failure the worker is dead and
 * every later call returns the same status. */
dc_status sbx_pref_eval(sbx_worker *w, const pref_batch *b, double *loss, double *d_chosen,
                        double *d_rejected, char *msg, size_t msgcap);

/* Losses (loss[n]) and, when d_logits is non-NULL, d(Σ loss)/d logits (n*k, row-major). */
dc_status sbx_cls_eval(sbx_worker *w, int n, int k, const double *logits, const int *labels,
                       double *loss, double *d_logits, char *msg, size_t msgcap);

/* Token-level pairs: losses (loss[n]) and, when d_chosen/d_rejected are non-NULL, d(Σ loss)
 * per token, indexed like b->chosen_logps / b->rejected_logps (tokens_chosen and
 * tokens_rejected elements: the flat arrays' lengths). Every response needs 1 or more
 * tokens inside its flat array and the responses of different pairs must not overlap. The
 * row-separable path moves token t of every pair at once: 1 + 2 · (longest chosen +
 * longest rejected) calls. */
dc_status sbx_token_eval(sbx_worker *w, const token_pref_batch *b, int tokens_chosen,
                         int tokens_rejected, double *loss, double *d_chosen, double *d_rejected,
                         char *msg, size_t msgcap);

/* The cheap checks before any training: probe batches (random, extreme magnitudes, ties,
 * n = 1, large n); outputs finite, written for every row, deterministic, not constant (a
 * non-zero gradient somewhere), time per batch under budget. Also decides whether the
 * objective is row-separable (each row's loss depends only on that row's inputs), which
 * enables the fast gradient path for every later call; and, when the candidate defines
 * objective_grad, whether its losses and gradients agree with objective's losses and with
 * central differences on the probes: then every later call takes them from one call of
 * objective_grad. A disagreeing objective_grad is not an error: it is left unused and
 * sbx_grad_note says why. */
dc_status sbx_prescreen(sbx_worker *w, char *msg, size_t msgcap);

/* 1 when the pre-screen found the objective row-separable. */
int sbx_is_separable(const sbx_worker *w);

/* 1 when gradients come from the candidate's objective_grad (checked by the pre-screen). */
int sbx_uses_grad_fn(const sbx_worker *w);
/* Why the candidate's objective_grad is not used ("" when it is, or when there is none). */
const char *sbx_grad_note(const sbx_worker *w);

/* Behaviour fingerprint: the objective's losses on fixed probe batches, rounded to 6
 * significant digits and hashed, as 16 hex digits into out (>= 17 bytes). The probes cover
 * the batch sizes training uses (1, 7, 16, 64, 128, 1024 and train_rows when given) and,
 * at each size, ordinary and extreme inputs (the ranges of the pre-screen's random and
 * extreme probes), classification rows of train_cols logits (when 0: the worker's probe
 * shape, lim.probe.classes, else 10). Two objectives
 * with the same fingerprint behave the same on all of them (renamed or reformatted
 * copies); a copy made only of the probes' own batch size no longer passes. A match is
 * still only a hint: the campaign confirms it on a real training batch before it copies a
 * fitness. A non-finite loss on a probe fails like any sandbox call (DC_NONFINITE). */
dc_status sbx_fingerprint_shape(sbx_worker *w, int train_rows, int train_cols, char *out,
                                size_t cap, char *msg, size_t msgcap);
/* sbx_fingerprint_shape with the default shape (train_rows 0, train_cols 0). */
dc_status sbx_fingerprint(sbx_worker *w, char *out, size_t cap, char *msg, size_t msgcap);

/* A request may take this many times what the probes predict (machine load, cache effects,
 * an objective whose cost varies with its inputs). */
#define SBX_SLOWDOWN_FACTOR 20.0

/* Seconds the pre-screen's measurements predict for one request of n rows (k logits per row;
 * with gradients when want_grad) on the gradient path the worker now takes; 0 before
 * sbx_prescreen has measured. */
double sbx_request_prediction(const sbx_worker *w, int n, int k, int want_grad);

/* A budget of `seconds` of wall-clock time from now for every later request together
 * (0: none). A request that would run past it is stopped and the candidate ends as
 * DC_TIMEOUT, "used up its time budget". */
void sbx_set_time_budget(sbx_worker *w, double seconds);

/* Seconds spent inside sbx_*_eval calls so far (for the "share of step time" benchmark). */
double sbx_seconds_in_calls(const sbx_worker *w);

/* Kills the worker (if alive) and frees everything. NULL is allowed. */
void sbx_close(sbx_worker *w);

/* Convenience for `discover check`: open + pre-screen + close. */
dc_status sbx_check_source(sbx_kind kind, const char *source, size_t len, const sbx_limits *lim,
                           char *msg, size_t msgcap);

#endif
