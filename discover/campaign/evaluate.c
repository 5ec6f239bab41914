/* evaluate.c — screen a candidate in the sandbox, then train and score it on a task. */
#include "evaluate.h"

#include "sandbox/objective_adapter.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

void dc_train_batch_free(dc_train_batch *b)
{
    for (int i = 0; i < 6; i++)
        free(b->col[i]);
    free(b->logits);
    free(b->labels);
    memset(b, 0, sizeof *b);
    b->kind = -1;
}

static double *copy_doubles(const double *x, size_t n)
{
    double *d = dc_malloc(n * sizeof *d);
    memcpy(d, x, n * sizeof *d);
    return d;
}

/* The recording objective: the first call that asks for gradients is a training step. */
static dc_status capture_cls(void *ctx, int n, int k, const double *logits, const int *labels,
                             double *loss, double *d_logits, char *msg, size_t msgcap)
{
    dc_train_batch *b = ctx;
    if (!d_logits) {
        for (int i = 0; i < n; i++)
            loss[i] = 0.0;
        return DC_OK;
    }
    b->kind = SBX_CLS;
    b->n = n;
    b->k = k;
    b->logits = copy_doubles(logits, (size_t)n * (size_t)k);
    b->labels = dc_malloc((size_t)n * sizeof *b->labels);
    memcpy(b->labels, labels, (size_t)n * sizeof *b->labels);
    snprintf(msg, msgcap, "training batch captured");
    return DC_INTERRUPTED;
}

static dc_status capture_pref(void *ctx, const pref_batch *pb, double *loss, double *d_chosen,
                              double *d_rejected, char *msg, size_t msgcap)
{
    dc_train_batch *b = ctx;
    if (!d_chosen && !d_rejected) {
        for (int i = 0; i < pb->n; i++)
            loss[i] = 0.0;
        return DC_OK;
    }
    const double *src[6] = {pb->chosen_logps,       pb->rejected_logps, pb->ref_chosen_logps,
                            pb->ref_rejected_logps, pb->chosen_lens,    pb->rejected_lens};
    b->kind = SBX_PREF;
    b->n = pb->n;
    b->beta = pb->beta;
    for (int i = 0; i < 6; i++)
        b->col[i] = copy_doubles(src[i], (size_t)pb->n);
    snprintf(msg, msgcap, "training batch captured");
    return DC_INTERRUPTED;
}

int dc_capture_train_batch(const dc_task_ops *ops, dc_task *task, int seed, dc_train_batch *out,
                           char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    out->kind = -1;
    dc_objective obj = {.ctx = out, .cls = capture_cls, .pref = capture_pref};
    dc_task_result res;
    dc_task_result_init(&res);
    ops->run(task, &obj, seed, NULL, &res);
    int ok = out->kind == (int)ops->kind;
    if (!ok)
        snprintf(err, errcap, "task %s did not reach a training step (%s: %s)", ops->name,
                 dc_status_name(res.status), res.message[0] ? res.message : "no message");
    dc_task_result_free(&res);
    if (!ok) dc_train_batch_free(out);
    return ok ? 0 : -1;
}

/* Losses and gradients of code on one batch, in a fresh worker (screened first, so it
 * takes the same gradient path as in training). */
static dc_status eval_on(const dc_task_ops *ops, const char *code, const dc_train_batch *b,
                         double *loss, double *grad, char *msg, size_t msgcap)
{
    sbx_worker *w = NULL;
    dc_status st = dc_screen(ops, code, strlen(code), NULL, &w, NULL, NULL, msg, msgcap);
    if (st != DC_OK) return st;
    if (ops->kind == SBX_PREF) {
        pref_batch pb = {b->n,      b->beta,   b->col[0], b->col[1],
                         b->col[2], b->col[3], b->col[4], b->col[5]};
        st = sbx_pref_eval(w, &pb, loss, grad, grad + b->n, msg, msgcap);
    } else {
        st = sbx_cls_eval(w, b->n, b->k, b->logits, b->labels, loss, grad, msg, msgcap);
    }
    sbx_close(w);
    return st;
}

/* 1 when both answers agree (losses to 6 significant digits, gradients to 1e-5 of the
 * largest gradient); else 0 with where in why. */
static int answers_agree(const double *la, const double *ga, const double *lb, const double *gb,
                         int n, size_t ng, const char *what, char *why, size_t whycap)
{
    for (int i = 0; i < n; i++)
        if (!(fabs(la[i] - lb[i]) <= 1e-6 * fmax(fabs(la[i]), fabs(lb[i])) + 1e-12)) {
            snprintf(why, whycap, "on %s the loss of row %d is %.9g, not %.9g", what, i, la[i],
                     lb[i]);
            return 0;
        }
    double scale = 0;
    for (size_t i = 0; i < ng; i++)
        scale = fmax(scale, fmax(fabs(ga[i]), fabs(gb[i])));
    for (size_t i = 0; i < ng; i++)
        if (!(fabs(ga[i] - gb[i]) <= 1e-5 * scale + 1e-12)) {
            snprintf(why, whycap, "on %s gradient %zu is %.9g, not %.9g", what, i, ga[i], gb[i]);
            return 0;
        }
    return 1;
}

/* The batch moved the way training moves it: the policy's log-probabilities away from the
 * reference's (at the first step of a preference task they are equal), a classifier's
 * logits grown more confident. Deterministic. */
static void moved_copy(const dc_train_batch *b, dc_train_batch *m)
{
    *m = *b;
    memset(m->col, 0, sizeof m->col);
    m->logits = NULL;
    m->labels = NULL;
    if (b->kind == SBX_PREF) {
        for (int c = 0; c < 6; c++)
            m->col[c] = copy_doubles(b->col[c], (size_t)b->n);
        for (int i = 0; i < b->n; i++) {
            m->col[0][i] = fmin(b->col[0][i] + 3.0 * sin(1.0 + i), 0.0);
            m->col[1][i] = fmin(b->col[1][i] - 3.0 * cos(1.0 + i), 0.0);
        }
    } else {
        size_t cnt = (size_t)b->n * (size_t)b->k;
        m->logits = copy_doubles(b->logits, cnt);
        for (size_t i = 0; i < cnt; i++)
            m->logits[i] *= 6.0;
        m->labels = dc_malloc((size_t)b->n * sizeof *m->labels);
        memcpy(m->labels, b->labels, (size_t)b->n * sizeof *m->labels);
    }
}

int dc_confirm_same(const dc_task_ops *ops, const char *code, const char *orig_code,
                    const dc_train_batch *train, char *why, size_t whycap)
{
    if (!train || train->kind != (int)ops->kind || train->n < 1) {
        snprintf(why, whycap, "no training batch of the task to confirm it on");
        return 0;
    }
    size_t ng = ops->kind == SBX_PREF ? 2u * (size_t)train->n : (size_t)train->n * train->k;
    double *la = dc_calloc((size_t)train->n, sizeof *la),
           *lb = dc_calloc((size_t)train->n, sizeof *lb);
    double *ga = dc_calloc(ng, sizeof *ga), *gb = dc_calloc(ng, sizeof *gb);
    dc_train_batch moved;
    moved_copy(train, &moved);
    const dc_train_batch *batches[2] = {train, &moved};
    const char *names[2] = {"a real training batch", "a training batch moved as training moves it"};
    int same = 1;
    for (int i = 0; i < 2 && same; i++) {
        char m[512];
        dc_status st = eval_on(ops, code, batches[i], la, ga, m, sizeof m);
        if (st != DC_OK) {
            snprintf(why, whycap, "on %s it fails (%s: %s)", names[i], dc_status_name(st), m);
            same = 0;
            break;
        }
        st = eval_on(ops, orig_code, batches[i], lb, gb, m, sizeof m);
        if (st != DC_OK) {
            snprintf(why, whycap, "on %s the earlier candidate fails (%s: %s)", names[i],
                     dc_status_name(st), m);
            same = 0;
            break;
        }
        same = answers_agree(la, ga, lb, gb, train->n, ng, names[i], why, whycap);
    }
    dc_train_batch_free(&moved);
    free(la);
    free(lb);
    free(ga);
    free(gb);
    return same;
}

dc_status dc_screen(const dc_task_ops *ops, const char *code, size_t len,
                    const dc_train_batch *train, sbx_worker **worker, char fingerprint[17],
                    int *separable, char *msg, size_t msgcap)
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
    int rows = train && train->kind == (int)ops->kind ? train->n : 0;
    int cols = train && train->kind == SBX_CLS ? train->k : 0;
    if (st == DC_OK && fingerprint)
        st = sbx_fingerprint_shape(w, rows, cols, fingerprint, 17, msg, msgcap);
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
