/* evaluate.h — the glue between a candidate's source, the sandbox and an inner-loop task,
 * shared by `discover eval`, `discover replay` and the campaign loop.
 *
 *   code ──dc_screen──▶ open sandbox worker (compiled, pre-screened, fingerprinted)
 *        ──dc_train_and_score──▶ dc_task_result (fitness, test metric, curves, per seed)
 */
#ifndef DC_EVALUATE_H
#define DC_EVALUATE_H

#include "inner_loop/task.h"
#include "sandbox/sandbox.h"

#include <stddef.h>

/* Reads a candidate's source file for check, eval and run: NULL with a message when it
 * cannot be read or is larger than SBX_SOURCE_LIMIT (the message names the file, its size
 * and the limit). */
char *dc_read_source(const char *path, size_t *len, char *err, size_t errcap);

/* A batch exactly as a task's trainer passes it to the objective at its first training step
 * (the initial model of one seed): the real inputs that behavioural de-duplication is
 * confirmed on. */
typedef struct {
    int kind; /* SBX_PREF or SBX_CLS; -1 when nothing was captured */
    int n, k; /* rows; logits per row (classification) */
    double beta;
    double *col[6]; /* preference: chosen, rejected, ref_chosen, ref_rejected, chosen_lens,
                       rejected_lens */
    double *logits; /* classification: n * k */
    int *labels;
} dc_train_batch;

/* Starts ops->run for seed with an objective that records the first batch it is asked to
 * train on and then stops the run (calls without gradients, if any come first, get zero
 * losses). prepare() must have succeeded. 0 with *out filled, or -1 with a message (out
 * has kind -1). Costs what the task does before its first step (model set-up, and for
 * sentiment scoring the reference policy). */
int dc_capture_train_batch(const dc_task_ops *ops, dc_task *task, int seed, dc_train_batch *out,
                           char *err, size_t errcap);
void dc_train_batch_free(dc_train_batch *b);

/* The one check pipeline (`discover check`, `eval`, `replay`, the campaign and the tests):
 * compiles + pre-screens + fingerprints code in a sandbox worker under the task's interface,
 * limits and probe shape, the fingerprint also covering the shape of train (NULL: the
 * task's probe shape; see sbx_fingerprint_shape). On DC_OK *worker is open (the caller
 * closes it with sbx_close); on failure *worker is NULL and msg says why. fingerprint and
 * separable may be NULL. */
dc_status dc_screen(const dc_task_ops *ops, const char *code, size_t len,
                    const dc_train_batch *train, sbx_worker **worker, char fingerprint[17],
                    int *separable, char *msg, size_t msgcap);

/* Confirms a behavioural match before a fitness is copied: both sources, each in a fresh
 * worker, on the real training batch and on a copy moved the way training moves it (the
 * policy away from its reference; logits grown more confident), must give the same losses
 * (to 6 significant digits) and gradients (to 1e-5 of the largest). 1 same; 0 not, or not
 * checkable (why says which); the candidate then trains. */
int dc_confirm_same(const dc_task_ops *ops, const char *code, const char *orig_code,
                    const dc_train_batch *train, char *why, size_t whycap);

/* Trains and scores an open worker's objective over the seeds (dc_task_eval_seeds through
 * the sandbox adapter). Adds "sandbox_seconds" (time inside sandbox calls) and
 * "sandbox_share" (that time over the training time) to out->metrics. out must have been
 * initialised with dc_task_result_init. */
void dc_train_and_score(const dc_task_ops *ops, dc_task *task, sbx_worker *worker, const int *seeds,
                        int nseeds, const dc_progress *prog, dc_task_result *out);

/* Applies "key=value" task options from a flag/config: helper shared by commands. Returns 0,
 * or -1 with a message naming the option and listing the task's options when unknown. */
int dc_task_apply_option(const dc_task_ops *ops, dc_task *t, const char *key, const char *value,
                         char *err, size_t cap);

/* Splits "key=value" (as given to --set) and applies it; -1 with a message when malformed. */
int dc_task_apply_assignment(const dc_task_ops *ops, dc_task *t, const char *assignment, char *err,
                             size_t cap);

#endif
