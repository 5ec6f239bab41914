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

/* The one check pipeline (`discover check`, `eval`, `replay`, the campaign and the tests):
 * compiles + pre-screens + fingerprints code in a sandbox worker under the task's interface,
 * limits and probe shape. On DC_OK *worker is open (the caller closes it with sbx_close);
 * on failure *worker is NULL and msg says why. fingerprint and separable may be NULL. */
dc_status dc_screen(const dc_task_ops *ops, const char *code, size_t len, sbx_worker **worker,
                    char fingerprint[17], int *separable, char *msg, size_t msgcap);

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
