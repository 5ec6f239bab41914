/* fashion.c — task `fashion`: options, data preparation, the training loop and scoring. */
#include "fashion.h"

#include "inner_loop/backend.h"
#include "fashion_data.h"
#include "mlp.h"
#include "sandbox/sandbox.h"
#include "common/rng.h"
#include "common/util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The validation split must not depend on the run's seed: every candidate and every seed is
 * scored on the same examples, so fitness values are comparable. */
#define SPLIT_SEED 0x46617368696f6eULL /* "Fashion" */
#define K DC_FASHION_CLASSES
#define EVAL_CHUNK 500

typedef struct {
    int steps, batch, hidden, layers, train_size, val_size, eval_every, threads, standardize;
    double lr, noise, weight_decay;
    char data_dir[1024];
    char device[8]; /* auto | cpu | cuda */
} fashion_cfg;

struct dc_task {
    fashion_cfg cfg;
    dc_fashion_data data;
    const dc_backend_ops *be; /* chosen by prepare() from cfg.device */
};

/* ---- options: one table (task_option.h) drives parsing, defaults, --help and the JSON ---- */

#define F(field) offsetof(fashion_cfg, field)
#define INT_OPT(key, def, help, field, lo, hi) {key, def, help, DC_OPT_INT, lo, hi, 0, 0, F(field), 0, 0, NULL, NULL}
#define REAL_OPT(key, def, help, field, lo, hi, hi_open) {key, def, help, DC_OPT_REAL, lo, hi, 0, hi_open, F(field), 0, 0, NULL, NULL}

static const dc_task_option options[] = {
    INT_OPT("steps", "2000", "training steps (minibatches of `batch` examples)", steps, 1, 10000000),
    INT_OPT("batch", "128", "examples per training step", batch, 1, 4096),
    REAL_OPT("lr", "0.001", "Adam learning rate", lr, 1e-8, 1, 0),
    INT_OPT("hidden", "256", "units per hidden layer", hidden, 1, 4096),
    INT_OPT("layers", "1", "hidden layers (1 or 2)", layers, 1, DC_MLP_MAX_HIDDEN_LAYERS),
    INT_OPT("train_size", "0", "training examples used (0 = all left after validation: 50000 by default)",
            train_size, 0, 60000),
    INT_OPT("val_size", "10000",
            "validation examples carved from the training split (fixed split seed); "
            "their accuracy is the fitness",
            val_size, 100, 30000),
    INT_OPT("eval_every", "200", "steps between curve points (train_loss, val_accuracy)", eval_every, 1,
            10000000),
    REAL_OPT("noise", "0", "symmetric label noise on TRAINING labels only: rate in [0, 1), drawn from the seed",
             noise, 0, 1, 1),
    REAL_OPT("weight_decay", "0", "decoupled weight decay (AdamW); 0 = plain Adam", weight_decay, 0, 1, 0),
    INT_OPT("standardize", "0", "1 = standardise pixels with the training mean/std instead of [0, 1]",
            standardize, 0, 1),
    {"data_dir", "", "Fashion-MNIST folder (default: $DISCOVER_FASHION_DIR, else " DC_FASHION_DEFAULT_DIR ")",
     DC_OPT_TEXT, 0, 0, 0, 0, F(data_dir), sizeof(((fashion_cfg *)0)->data_dir), 0, NULL, NULL},
    INT_OPT("threads", "0", "BLAS threads (0 = all cores)", threads, 0, 256),
    {"device", "auto", "compute backend: auto (CUDA when the plugin loads and a GPU works, else CPU), cpu, cuda",
     DC_OPT_CHOICE, 0, 0, 0, 0, F(device), sizeof(((fashion_cfg *)0)->device), 0, "auto,cpu,cuda", NULL},
    {NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, NULL, NULL},
};

#undef INT_OPT
#undef REAL_OPT
#undef F

static int set_option(dc_task *t, const char *key, const char *value, char *err, size_t errcap)
{
    if (dc_option_set(options, "fashion", &t->cfg, key, value, err, errcap) != 0) return -1;
    if (!strcmp(key, "device")) t->be = NULL; // chosen again by the next prepare()
    return 0;
}

static dc_task *create(void)
{
    dc_task *t = dc_calloc(1, sizeof *t);
    dc_option_defaults(options, "fashion", &t->cfg);
    return t;
}

static void destroy(dc_task *t)
{
    if (!t) return;
    dc_fashion_data_free(&t->data);
    free(t);
}

static cJSON *config_json(const dc_task *t)
{
    cJSON *o = dc_option_json(options, &t->cfg);
    // the folder actually read, not the option's "" default
    char dir[1024];
    dc_fashion_data_dir(t->cfg.data_dir, dir, sizeof dir);
    cJSON_ReplaceItemInObjectCaseSensitive(o, "data_dir", cJSON_CreateString(dir));
    cJSON_AddStringToObject(o, "model", "mlp-relu");
    cJSON_AddStringToObject(o, "optimizer", t->cfg.weight_decay > 0 ? "adamw" : "adam");
    // the backend that runs: known once prepare() has chosen it
    if (t->be) cJSON_AddStringToObject(o, "backend", t->be->name());
    return o;
}

/* The number of training examples the configuration asks for, or -1 (message) when the
 * training split cannot hold both it and the validation split. */
static int effective_train_size(const dc_task *t, char *err, size_t errcap)
{
    long avail = t->data.n_train - t->cfg.val_size;
    long n = t->cfg.train_size ? t->cfg.train_size : avail;
    if (avail < 1 || n > avail) {
        snprintf(err, errcap,
                 "options train_size=%d and val_size=%d need %ld examples but the "
                 "training split has %d; lower one of them",
                 t->cfg.train_size, t->cfg.val_size, n + t->cfg.val_size, t->data.n_train);
        return -1;
    }
    return (int)n;
}

static int prepare(dc_task *t, const dc_progress *prog, char *err, size_t errcap)
{
    (void)prog;
    char dir[1024];
    dc_fashion_data_dir(t->cfg.data_dir, dir, sizeof dir);
    if (!t->data.train_x || strcmp(dir, t->data.dir) != 0) {
        dc_fashion_data_free(&t->data);
        if (dc_fashion_data_load(&t->data, dir, err, errcap)) return -1;
    }
    if (effective_train_size(t, err, errcap) < 0) return -1;
    // the backend now, so `device cuda` on a machine without one fails before any training
    char why[768];
    if (dc_backend_select(t->cfg.device, &t->be, why, sizeof why)) {
        snprintf(err, errcap, "option device=%s: %s", t->cfg.device, why);
        return -1;
    }
    return 0;
}

/* ---- training ---- */

/* Everything one run allocates, so every exit path frees it in one place.
 *
 * Data path (the same on every backend): each batch is gathered and scaled on the host and
 * uploaded per step (x_dev); the training set stays on the host as uint8. The logits come
 * back to the host for the sandboxed objective (in double) and d(loss)/d(logits) goes back
 * up (dlogits_dev). On the CPU backend upload/download are plain copies. */
typedef struct {
    const dc_backend_ops *be;
    dc_mlp mlp;
    int *perm, *train_idx, *val_idx;
    unsigned char *train_y;              /* labels after noise, indexed like train_idx */
    float *xb;                           /* host (max_batch, pixels) input batch */
    int *yb;                             /* host (max_batch) */
    float *logits;                       /* host (batch, K): the model's logits */
    double *logits_d, *dlogits_d, *loss; /* host (batch, K), (batch, K), (batch) */
    float *dlogits;                      /* host (batch, K) */
    float *x_dev;                        /* backend (max_batch, pixels) */
    int *y_dev;                          /* backend (max_batch): labels for scoring */
    float *dlogits_dev;                  /* backend (batch, K) */
    float mean, inv_std;
    int ntrain;       /* training rows used */
    int pixels;       /* inputs per example */
    int *order;       /* (ntrain) positions into train_idx, reshuffled every epoch */
    int cursor;       /* next position in order */
    dc_rng order_rng; /* the seed's batch order */
    double obj_seconds; /* time in the objective (sandbox calls) */
} run_state;

static void run_state_free(run_state *s)
{
    dc_mlp_free(&s->mlp);
    if (s->be) {
        s->be->free(s->x_dev);
        s->be->free(s->y_dev);
        s->be->free(s->dlogits_dev);
    }
    free(s->logits);
    free(s->perm);
    free(s->train_idx);
    free(s->val_idx);
    free(s->train_y);
    free(s->xb);
    free(s->yb);
    free(s->logits_d);
    free(s->dlogits_d);
    free(s->loss);
    free(s->dlogits);
}

static uint64_t stream_seed(const char *stream, int seed)
{
    return dc_hash64(stream, strlen(stream), (uint64_t)(int64_t)seed);
}

/* x (n, pixels) floats from rows idx[0..n) of images (NULL idx: rows first..first+n). */
static void gather(const run_state *s, const unsigned char *images, int pixels, const int *idx,
                   int first, int n, float *x)
{
    for (int b = 0; b < n; b++) {
        int row = idx ? idx[first + b] : first + b;
        const unsigned char *src = images + (size_t)row * pixels;
        float *dst = x + (size_t)b * pixels;
        for (int p = 0; p < pixels; p++)
            dst[p] = ((float)src[p] * (1.0f / 255.0f) - s->mean) * s->inv_std;
    }
}

/* Accuracy of the current model on n rows (idx NULL: the first n rows of images) into
 * *acc; 0, or -1 when the backend failed (its error says why). */
static int accuracy(run_state *s, const unsigned char *images, const unsigned char *labels,
                    int pixels, const int *idx, int n, double *acc)
{
    long correct = 0;
    for (int first = 0; first < n; first += EVAL_CHUNK) {
        int m = n - first < EVAL_CHUNK ? n - first : EVAL_CHUNK;
        gather(s, images, pixels, idx, first, m, s->xb);
        for (int b = 0; b < m; b++)
            s->yb[b] = labels[idx ? idx[first + b] : first + b];
        s->be->upload(s->x_dev, s->xb, (size_t)m * pixels * sizeof(float));
        s->be->upload(s->y_dev, s->yb, (size_t)m * sizeof(int));
        const float *logits = dc_mlp_forward(&s->mlp, s->x_dev, m); // (m, K)
        int c = s->be->argmax_correct(logits, s->y_dev, m, K);
        if (c < 0) return -1;
        correct += c;
    }
    *acc = (double)correct / n;
    return 0;
}

static void fail(dc_task_result *out, dc_status st, int step, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(dc_task_result *out, dc_status st, int step, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    out->status = st;
    out->failed_step = step;
    vsnprintf(out->message, sizeof out->message, fmt, ap);
    va_end(ap);
}

/* A backend failure (GPU out of memory, a failed kernel, ...): the environment's fault, not
 * the candidate's, so DC_ERROR with the backend's own message. */
static void fail_backend(dc_task_result *out, const run_state *s, int step, const char *when)
{
    char why[400] = "";
    s->be->error(why, sizeof why);
    fail(out, DC_ERROR, step, "the %s backend failed %s: %s", s->be->name(), when,
         why[0] ? why : "unknown error");
}

/* The data of one run: the fixed split, the pixel scaling, the seed's label noise, the model
 * and the batch buffers. 0, or -1 with the failure recorded in out. */
static int run_setup(dc_task *t, int seed, run_state *s, dc_task_result *out)
{
    const fashion_cfg *c = &t->cfg;
    const dc_fashion_data *d = &t->data;
    char err[512];
    int ntrain = effective_train_size(t, err, sizeof err);
    if (ntrain < 0) {
        fail(out, DC_ERROR, -1, "%s", err);
        return -1;
    }
    const int B = c->batch, P = d->pixels, nval = c->val_size;
    const int max_batch = B > EVAL_CHUNK ? B : EVAL_CHUNK;
    s->ntrain = ntrain;
    s->pixels = P;
    s->be->set_threads(c->threads);

    s->perm = malloc((size_t)d->n_train * sizeof *s->perm);
    s->train_idx = malloc((size_t)ntrain * sizeof *s->train_idx);
    s->val_idx = malloc((size_t)nval * sizeof *s->val_idx);
    s->train_y = malloc((size_t)ntrain);
    s->xb = malloc((size_t)max_batch * P * sizeof *s->xb);
    s->yb = malloc((size_t)max_batch * sizeof *s->yb);
    s->logits_d = malloc((size_t)B * K * sizeof *s->logits_d);
    s->dlogits_d = malloc((size_t)B * K * sizeof *s->dlogits_d);
    s->loss = malloc((size_t)B * sizeof *s->loss);
    s->dlogits = malloc((size_t)B * K * sizeof *s->dlogits);
    s->logits = malloc((size_t)B * K * sizeof *s->logits);
    if (!s->perm || !s->train_idx || !s->val_idx || !s->train_y || !s->xb || !s->yb ||
        !s->logits_d || !s->dlogits_d || !s->loss || !s->dlogits || !s->logits) {
        fail(out, DC_ERROR, -1, "task fashion: out of memory");
        return -1;
    }
    s->x_dev = s->be->alloc((size_t)max_batch * P * sizeof *s->x_dev);
    s->y_dev = s->be->alloc((size_t)max_batch * sizeof *s->y_dev);
    s->dlogits_dev = s->be->alloc((size_t)B * K * sizeof *s->dlogits_dev);
    if (!s->x_dev || !s->y_dev || !s->dlogits_dev) {
        fail_backend(out, s, -1, "allocating the batch buffers");
        return -1;
    }

    // fixed split: validation first, then the training subset, from one permutation
    for (int i = 0; i < d->n_train; i++)
        s->perm[i] = i;
    dc_rng rng;
    dc_rng_seed(&rng, SPLIT_SEED);
    dc_rng_shuffle_int(&rng, s->perm, d->n_train);
    memcpy(s->val_idx, s->perm, (size_t)nval * sizeof *s->val_idx);
    memcpy(s->train_idx, s->perm + nval, (size_t)ntrain * sizeof *s->train_idx);

    // pixel scaling: [0,1], or standardised with the training subset's statistics
    s->mean = 0.0f;
    s->inv_std = 1.0f;
    if (c->standardize) {
        double sum = 0, sq = 0;
        for (int i = 0; i < ntrain; i++) {
            const unsigned char *px = d->train_x + (size_t)s->train_idx[i] * P;
            for (int p = 0; p < P; p++) {
                double v = px[p] / 255.0;
                sum += v;
                sq += v * v;
            }
        }
        double n = (double)ntrain * P, mu = sum / n, var = sq / n - mu * mu;
        s->mean = (float)mu;
        s->inv_std = (float)(1.0 / sqrt(var > 1e-12 ? var : 1e-12));
    }

    // symmetric label noise: a noisy label is a uniformly drawn OTHER class, so the share of
    // wrong training labels is exactly the rate in expectation
    dc_rng_seed(&rng, stream_seed("noise", seed));
    for (int i = 0; i < ntrain; i++) {
        int y = d->train_y[s->train_idx[i]];
        if (c->noise > 0 && dc_rng_uniform(&rng) < c->noise)
            y = (y + 1 + (int)dc_rng_below(&rng, K - 1)) % K;
        s->train_y[i] = (unsigned char)y;
    }

    if (dc_mlp_init(&s->mlp, s->be, P, c->hidden, c->layers, K, max_batch,
                    stream_seed("init", seed), err, sizeof err)) {
        fail(out, DC_ERROR, -1, "task fashion: %s", err);
        return -1;
    }

    // batches: walk a per-seed shuffle of the training subset, reshuffled every epoch
    dc_rng_seed(&s->order_rng, stream_seed("order", seed));
    s->order = s->perm; // reuse: the first ntrain entries hold positions into train_idx
    for (int i = 0; i < ntrain; i++)
        s->order[i] = i;
    dc_rng_shuffle_int(&s->order_rng, s->order, ntrain);
    s->cursor = 0;
    return 0;
}

/* The next B training rows into xb (scaled pixels) and yb (noisy labels). */
static void next_batch(run_state *s, const dc_fashion_data *d, int B)
{
    const int P = d->pixels;
    for (int b = 0; b < B; b++) {
        if (s->cursor == s->ntrain) {
            dc_rng_shuffle_int(&s->order_rng, s->order, s->ntrain);
            s->cursor = 0;
        }
        int pos = s->order[s->cursor++];
        s->yb[b] = s->train_y[pos];
        const unsigned char *src = d->train_x + (size_t)s->train_idx[pos] * P;
        float *dst = s->xb + (size_t)b * P;
        for (int p = 0; p < P; p++)
            dst[p] = ((float)src[p] * (1.0f / 255.0f) - s->mean) * s->inv_std;
    }
}

/* One training step on the batch in xb/yb: forward, the candidate objective (per-row
 * losses and d(Σ loss)/d logits, in double, through the sandbox), backward, Adam. The sum
 * of the batch's losses into *batch_loss. 0, or -1 with the failure recorded in out. */
static int train_step(run_state *s, const fashion_cfg *c, const dc_objective *obj, int step,
                      double *batch_loss, dc_task_result *out)
{
    const int B = c->batch, P = s->pixels;
    s->be->upload(s->x_dev, s->xb, (size_t)B * P * sizeof *s->xb);
    const float *logits_dev = dc_mlp_forward(&s->mlp, s->x_dev, B); // (B, K)
    if (s->be->download(s->logits, logits_dev, (size_t)B * K * sizeof *s->logits)) {
        fail_backend(out, s, step, "in the forward pass");
        return -1;
    }
    const float *logits = s->logits; // (B, K) on the host
    if (!dc_all_finite(logits, (size_t)B * K)) {
        fail(out, DC_NONFINITE, step,
             "training diverged: the model's logits became non-finite at step %d", step);
        return -1;
    }
    for (int i = 0; i < B * K; i++)
        s->logits_d[i] = logits[i];
    char msg[400] = "";
    double tc = dc_now();
    dc_status st = obj->cls(obj->ctx, B, K, s->logits_d, s->yb, s->loss, s->dlogits_d, msg, sizeof msg);
    s->obj_seconds += dc_now() - tc;
    if (st != DC_OK) {
        fail(out, st, step, "training step %d: %s", step, msg[0] ? msg : dc_status_name(st));
        return -1;
    }
    *batch_loss = 0;
    for (int b = 0; b < B; b++) {
        if (!isfinite(s->loss[b])) {
            fail(out, DC_NONFINITE, step,
                 "training step %d: the objective returned a non-finite loss (%g) for row %d",
                 step, s->loss[b], b);
            return -1;
        }
        *batch_loss += s->loss[b];
    }
    // the trainer averages over the batch: scale the gradient of the sum by 1/B
    for (int i = 0; i < B * K; i++) {
        s->dlogits[i] = (float)(s->dlogits_d[i] / B);
        if (!isfinite(s->dlogits[i])) {
            if (isfinite(s->dlogits_d[i]))
                fail(out, DC_NONFINITE, step,
                     "training step %d: the objective's gradient (%g at row %d, class %d) "
                     "overflows the float32 model",
                     step, s->dlogits_d[i], i / K, i % K);
            else
                fail(out, DC_NONFINITE, step,
                     "training step %d: the objective's gradient is non-finite (%g) at row "
                     "%d, class %d",
                     step, s->dlogits_d[i], i / K, i % K);
            return -1;
        }
    }
    s->be->upload(s->dlogits_dev, s->dlogits, (size_t)B * K * sizeof *s->dlogits);
    dc_mlp_backward(&s->mlp, s->dlogits_dev, B);
    dc_mlp_adam(&s->mlp, (float)c->lr, (float)c->weight_decay);
    return 0;
}

/* A curve point: the mean training loss of the interval and the validation accuracy (the
 * fitness at the last step, whose parameters are checked here: every other update is
 * checked by the next step's logits). 0, or -1 with the failure recorded in out. */
static int checkpoint(run_state *s, const dc_task *t, int step, int last, double train_loss,
                      dc_task_result *out)
{
    const dc_fashion_data *d = &t->data;
    if (last) {
        int fin = s->be->all_finite(s->mlp.params, s->mlp.nparams);
        if (fin < 0) {
            fail_backend(out, s, step, "checking the parameters");
            return -1;
        }
        if (!fin) {
            fail(out, DC_NONFINITE, step,
                 "training diverged: the model's parameters became non-finite at step %d", step);
            return -1;
        }
    }
    double va;
    if (accuracy(s, d->train_x, d->train_y, d->pixels, s->val_idx, t->cfg.val_size, &va)) {
        fail_backend(out, s, step, "scoring the validation split");
        return -1;
    }
    dc_curves_add(&out->curves, "train_loss", step, train_loss);
    dc_curves_add(&out->curves, "val_accuracy", step, va);
    if (last) out->fitness = va;
    return 0;
}

/* The metrics of a run, finished or failed at `step`. */
static void finish_metrics(const run_state *s, int steps, int step, double train_loss,
                           dc_task_result *out)
{
    if (out->status != DC_OK) {
        out->fitness = 0;
        out->test_metric = 0;
    }
    cJSON_AddNumberToObject(out->metrics, "fitness", out->fitness);
    cJSON_AddNumberToObject(out->metrics, "test_metric", out->test_metric);
    if (out->status == DC_OK) {
        cJSON_AddNumberToObject(out->metrics, "val_accuracy", out->fitness);
        cJSON_AddNumberToObject(out->metrics, "test_accuracy", out->test_metric);
        cJSON_AddNumberToObject(out->metrics, "train_loss", train_loss);
    }
    cJSON_AddNumberToObject(out->metrics, "steps",
                            out->status == DC_OK ? steps : (step > 0 ? step - 1 : 0));
    cJSON_AddNumberToObject(out->metrics, "seconds", out->seconds);
    cJSON_AddNumberToObject(out->metrics, "objective_seconds", s->obj_seconds);
    if (s->be) cJSON_AddStringToObject(out->metrics, "backend", s->be->name());
}

static void run(dc_task *t, const dc_objective *obj, int seed, const dc_progress *prog,
                dc_task_result *out)
{
    double t0 = dc_now();
    const fashion_cfg *c = &t->cfg;
    run_state s = {0};
    double interval_loss = 0, last_interval_loss = NAN;
    long interval_rows = 0;
    int steps = c->steps, step = 0;
    if (!out->metrics) out->metrics = cJSON_CreateObject();
    out->status = DC_OK;
    out->failed_step = -1;
    out->message[0] = 0;
    if (!t->data.train_x || !t->be) {
        fail(out, DC_ERROR, -1, "task fashion: prepare() was not called or failed");
        goto done;
    }
    s.be = t->be;
    s.be->clear_error(); // a failure of an earlier run (e.g. out of GPU memory) is not ours
    if (!obj || !obj->cls) {
        fail(out, DC_ERROR, -1, "task fashion needs a classification objective (SBX_CLS)");
        goto done;
    }
    if (run_setup(t, seed, &s, out) != 0) goto done;

    for (step = 1; step <= steps; step++) {
        if (prog && prog->stop && *prog->stop) {
            fail(out, DC_INTERRUPTED, step, "interrupted at training step %d of %d", step, steps);
            goto done;
        }
        next_batch(&s, &t->data, c->batch);
        double batch_loss;
        if (train_step(&s, c, obj, step, &batch_loss, out) != 0) goto done;
        interval_loss += batch_loss;
        interval_rows += c->batch;
        if (step % c->eval_every == 0 || step == steps) {
            last_interval_loss = interval_loss / interval_rows;
            interval_loss = 0;
            interval_rows = 0;
            if (checkpoint(&s, t, step, step == steps, last_interval_loss, out) != 0) goto done;
        }
        if (prog && prog->on_step && (step % 10 == 0 || step == steps))
            prog->on_step(prog->ctx, "train", step, steps, batch_loss / c->batch);
    }
    if (prog && prog->on_step) prog->on_step(prog->ctx, "score", 0, 1, last_interval_loss);
    if (accuracy(&s, t->data.test_x, t->data.test_y, t->data.pixels, NULL, t->data.n_test,
                 &out->test_metric)) {
        fail_backend(out, &s, -1, "scoring the test split");
        goto done;
    }
    if (prog && prog->on_step) prog->on_step(prog->ctx, "score", 1, 1, last_interval_loss);

done:
    out->seconds = dc_now() - t0;
    finish_metrics(&s, steps, step, last_interval_loss, out);
    run_state_free(&s);
}

/* DiscoPOP's classification case study started from cross-entropy and its common variants;
 * the offline proposer (and random, its control, at an equal budget) starts from the same
 * losses written in its grammar. */
static const dc_task_baselines baselines[] = {
    {"evolve", "grammar"},
    {"random", "grammar"},
    {"*", "cross_entropy,label_smoothing,squared_error,focal"},
    {NULL, NULL},
};

static const dc_metric_def metrics[] = {
    {"val_accuracy", "accuracy on the validation split (the fitness)", 0, NULL, NULL, DC_AXIS_NONE},
    {"test_accuracy", "accuracy on the held-out test split", 1, NULL, NULL, DC_AXIS_NONE},
    {"train_loss", "mean candidate loss over the last training steps", 0, NULL, NULL, DC_AXIS_NONE},
    {"steps", "training steps taken", 0, NULL, NULL, DC_AXIS_NONE},
    {"objective_seconds", "seconds spent in the objective (sandbox calls)", 0, NULL, NULL, DC_AXIS_NONE},
    {NULL, NULL, 0, NULL, NULL, DC_AXIS_NONE},
};

/* The teaching demo: noisy labels, so the choice of loss matters and the search has
 * something to find; small enough to finish within about three minutes on two cores
 * (bench/RESULTS-outer.md). */
static const char *const demo_options[] = {"train_size=4000", "val_size=5000", "steps=1000",
                                           "noise=0.4", NULL};

const dc_task_ops dc_task_fashion = {
    .name = "fashion",
    .summary = "Fashion-MNIST classification: an MLP trained from scratch with the candidate loss; "
               "fitness = validation accuracy",
    .kind = SBX_CLS,
    .fitness_name = "val_accuracy",
    .test_name = "test_accuracy",
    .fitness_description = "the validation accuracy of the trained classifier",
    .system_prompt = "system_fashion.txt",
    .baselines = baselines,
    .probe = {.classes = K},
    .options = options,
    .metrics = metrics,
    .demo_options = demo_options,
    .demo_intro = "Task: classify Fashion-MNIST clothing images with a small neural network whose\n"
                  "training labels are 40% wrong. Cross-entropy memorises wrong labels; can the\n"
                  "search find a loss that is more robust? Each candidate loss is C code, compiled\n"
                  "at run time and run in a sandboxed worker process.\n",
    .create = create,
    .set_option = set_option,
    .config_json = config_json,
    .prepare = prepare,
    .run = run,
    .destroy = destroy,
};
