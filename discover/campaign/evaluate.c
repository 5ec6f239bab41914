/* evaluate.c — screen a candidate in the sandbox, then train and score it on a task. */
#include "evaluate.h"

#include "sandbox/objective_adapter.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

char *dc_read_source(const char *path, size_t *len, char *err, size_t errcap)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (size_t)sb.st_size > SBX_SOURCE_LIMIT) {
        snprintf(err, errcap,
                 "'%s' is %lld bytes; one objective's source may be at most %u bytes (256 KiB) "
                 "in check, eval and run: submit one objective, not a library",
                 path, (long long)sb.st_size, SBX_SOURCE_LIMIT);
        return NULL;
    }
    // the limit again while reading: the file may grow, or not be a regular file
    return dc_read_file(path, SBX_SOURCE_LIMIT, len, err, errcap);
}

dc_status dc_screen(const dc_task_ops *ops, const char *code, size_t len, sbx_worker **worker,
                    char fingerprint[17], int *separable, char *msg, size_t msgcap)
{
    *worker = NULL;
    if (fingerprint) fingerprint[0] = 0;
    if (separable) *separable = 0;
    sbx_limits lim; // the defaults, probing at the task's own shapes
    sbx_limits_default(&lim);
    lim.probe = ops->probe;
    sbx_worker *w = NULL;
    // cheap checks first: compile, then the probe batches, then the behaviour fingerprint
    dc_status st = sbx_open(ops->kind, code, len, &lim, &w, msg, msgcap);
    if (st != DC_OK) return st;
    st = sbx_prescreen(w, msg, msgcap);
    if (st == DC_OK && fingerprint) st = sbx_fingerprint(w, fingerprint, 17, msg, msgcap);
    if (st != DC_OK) {
        sbx_close(w);
        return st;
    }
    if (separable) *separable = sbx_is_separable(w);
    *worker = w;
    return DC_OK;
}

void dc_train_and_score(const dc_task_ops *ops, dc_task *task, sbx_worker *worker, const int *seeds,
                        int nseeds, const dc_progress *prog, dc_task_result *out)
{
    dc_objective obj;
    sbx_objective(worker, &obj);
    double before = sbx_seconds_in_calls(worker);
    dc_task_eval_seeds(ops, task, &obj, seeds, nseeds, prog, out);
    double in_sandbox = sbx_seconds_in_calls(worker) - before;
    if (!out->metrics) out->metrics = cJSON_CreateObject();
    cJSON_AddNumberToObject(out->metrics, "sandbox_seconds", in_sandbox);
    cJSON_AddNumberToObject(out->metrics, "sandbox_share",
                            out->seconds > 0 ? in_sandbox / out->seconds : 0.0);
    // where the gradients came from: the candidate's checked objective_grad, or central
    // differences in the worker
    cJSON_AddStringToObject(out->metrics, "gradient",
                            sbx_uses_grad_fn(worker) ? "analytic" : "numerical");
}

int dc_task_apply_option(const dc_task_ops *ops, dc_task *t, const char *key, const char *value,
                         char *err, size_t cap)
{
    if (dc_option_find(ops->options, key)) return ops->set_option(t, key, value, err, cap);
    char names[1024];
    dc_option_names(ops->options, names, sizeof names);
    dc_fmt(err, cap, "task %s has no option '%s'; its options are: %s", ops->name, key,
           names[0] ? names : "(none)");
    return -1;
}

int dc_task_apply_assignment(const dc_task_ops *ops, dc_task *t, const char *assignment, char *err,
                             size_t cap)
{
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) {
        snprintf(err, cap, "'%s' is not key=value (for example steps=500)", assignment);
        return -1;
    }
    char key[64];
    size_t klen = (size_t)(eq - assignment);
    if (klen >= sizeof key) {
        snprintf(err, cap, "option name in '%s' is too long", assignment);
        return -1;
    }
    memcpy(key, assignment, klen);
    key[klen] = 0;
    return dc_task_apply_option(ops, t, key, eq + 1, err, cap);
}
