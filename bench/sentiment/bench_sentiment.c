/* bench_sentiment.c — the `sentiment` task with trusted, native objectives: timings,
 * seed noise, and reward / KL of DPO, SLiC (hinge), LRML and mirrored DPO per β.
 *
 *   bench_sentiment [key=value ...] [--seeds 1,2,3] [--objectives dpo,anti,hinge,lrml]
 *
 * key=value are task options (as `discover eval --set`). Prints how long prepare() took
 * (all stages built, or loaded from the cache under $DISCOVER_CACHE) and then, for every
 * objective and seed, one tab-separated line per β:
 *   objective seed beta ref_reward reward kl pref_accuracy test_reward ref_test_reward
 *   length seconds(whole run, all β) train_tokens_per_second(PO steps of the run)
 * then per objective and β the mean and standard deviation of reward − ref_reward over the
 * seeds. The native objectives are the formulas of examples/objectives/sentiment/{dpo,
 * hinge,lrml}.c with exact gradients (no sandbox: this measures the task, not the sandbox).
 * Build: cmake --build BUILD --target bench_sentiment. Results: bench/RESULTS-sentiment.md. */
#define _DEFAULT_SOURCE /* strsep, strtok_r */
#include "common/util.h"
#include "inner_loop/sentiment/sentiment.h"
#include "sandbox/sandbox.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double sigmoid(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }
static double log1pexp(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }

/* Each returns loss(x) and dloss/dx at x = β·ρ. */
static double f_dpo(double x, double *d)
{
    *d = -sigmoid(-x);
    return log1pexp(-x);
}
static double f_anti(double x, double *d)
{
    double l = f_dpo(-x, d);
    *d = -*d;
    return l;
}
static double f_hinge(double x, double *d)
{
    *d = x < 1 ? -1 : 0;
    return x < 1 ? 1 - x : 0;
}
static double f_lrml(double x, double *d)
{
    const double tau = 0.05;
    double w = sigmoid(x / tau), dw = w * (1 - w) / tau;
    double dd, ld = f_dpo(x, &dd), le = exp(-x);
    *d = dw * (le - ld) + (1 - w) * dd - w * le;
    return (1 - w) * ld + w * le;
}

typedef double (*pair_fn)(double x, double *d);

static dc_status native(void *ctx, const pref_batch *b, double *loss, double *dc, double *dr,
                        char *msg, size_t cap)
{
    (void)msg, (void)cap;
    pair_fn f = (pair_fn)ctx;
    for (int i = 0; i < b->n; i++) {
        double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i]) -
                     (b->rejected_logps[i] - b->ref_rejected_logps[i]);
        double d;
        loss[i] = f(b->beta * rho, &d);
        if (dc) dc[i] = d * b->beta;
        if (dr) dr[i] = -d * b->beta;
    }
    return DC_OK;
}

static const struct {
    const char *name;
    pair_fn f;
} OBJ[] = {{"dpo", f_dpo}, {"anti", f_anti}, {"hinge", f_hinge}, {"lrml", f_lrml}};

/* Stage progress on stderr (pretraining and SFT take minutes at the defaults). */
static void on_step(void *ctx, const char *phase, int step, int total, double loss)
{
    double *t0 = ctx;
    if (strcmp(phase, "train") != 0 && (step % 100 == 1 || step == total))
        fprintf(stderr, "[%.0f s] %s %d/%d loss %.4f\n", dc_now() - *t0, phase, step, total, loss);
}

static double metric(const cJSON *m, const char *name)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(m, name);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

#define MAXN 64

int main(int argc, char **argv)
{
    const dc_task_ops *ops = &dc_task_sentiment;
    dc_task *t = ops->create();
    char err[1024];
    int seeds[MAXN], nseeds = 0;
    char objs[256] = "dpo,anti";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
            char *s = argv[++i], *tok;
            while ((tok = strsep(&s, ",")) && nseeds < MAXN) seeds[nseeds++] = atoi(tok);
        } else if (!strcmp(argv[i], "--objectives") && i + 1 < argc) {
            snprintf(objs, sizeof objs, "%s", argv[++i]);
        } else {
            char *eq = strchr(argv[i], '=');
            if (!eq) {
                fprintf(stderr, "bench_sentiment: expected key=value, --seeds or --objectives, "
                        "got '%s'\n", argv[i]);
                return 1;
            }
            *eq = '\0';
            if (ops->set_option(t, argv[i], eq + 1, err, sizeof err) != 0) {
                fprintf(stderr, "bench_sentiment: %s\n", err);
                return 1;
            }
        }
    }
    if (nseeds == 0) seeds[nseeds++] = 1;
    double t0 = dc_now();
    dc_progress prog = {&t0, on_step, NULL};
    if (ops->prepare(t, &prog, err, sizeof err) != 0) {
        fprintf(stderr, "bench_sentiment: %s\n", err);
        return 1;
    }
    printf("# prepare %.2f s (stages built: mask %d)\n", dc_now() - t0,
           dc_sentiment_stages_built(t));
    cJSON *cfg = ops->config_json(t);
    const cJSON *betas = cJSON_GetObjectItem(cfg, "beta");
    int nb = cJSON_GetArraySize(betas);
    printf("objective\tseed\tbeta\tref_reward\treward\tkl\tpref_acc\ttest_reward\tref_test\tlength\tseconds\ttok/s\n");
    char *save = NULL;
    for (char *name = strtok_r(objs, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        pair_fn f = NULL;
        for (size_t k = 0; k < sizeof OBJ / sizeof OBJ[0]; k++)
            if (!strcmp(OBJ[k].name, name)) f = OBJ[k].f;
        if (!f) {
            fprintf(stderr, "bench_sentiment: unknown objective '%s' (dpo, anti, hinge, lrml)\n", name);
            return 1;
        }
        dc_objective obj = {.ctx = (void *)f, .pref = native};
        double diff[MAXN][16];
        for (int si = 0; si < nseeds; si++) {
            dc_task_result r;
            dc_task_result_init(&r);
            ops->run(t, &obj, seeds[si], NULL, &r);
            if (r.status != DC_OK) {
                printf("%s\t%d\tfailed: %s\n", name, seeds[si], r.message);
                dc_task_result_free(&r);
                continue;
            }
            for (int bi = 0; bi < nb && bi < 16; bi++) {
                char key[96], bn[32];
                snprintf(bn, sizeof bn, "%g", cJSON_GetArrayItem(betas, bi)->valuedouble);
#define M(x) (snprintf(key, sizeof key, "beta_%s/%s", bn, x), metric(r.metrics, key))
                double ref = metric(r.metrics, "ref_reward");
                diff[si][bi] = M("reward") - ref;
                printf("%s\t%d\t%s\t%.4f\t%.4f\t%.4f\t%.3f\t%.4f\t%.4f\t%.2f\t%.2f\t%.0f\n", name,
                       seeds[si], bn, ref, M("reward"), M("kl"), M("pref_accuracy"),
                       M("test_reward"), metric(r.metrics, "ref_test_reward"), M("length"),
                       r.seconds, metric(r.metrics, "train_tokens_per_second"));
#undef M
            }
            fflush(stdout);
            dc_task_result_free(&r);
        }
        for (int bi = 0; bi < nb && bi < 16; bi++) {
            double m = 0, v = 0;
            for (int si = 0; si < nseeds; si++) m += diff[si][bi];
            m /= nseeds;
            for (int si = 0; si < nseeds; si++) v += (diff[si][bi] - m) * (diff[si][bi] - m);
            printf("# %s beta %g: reward - ref mean %+.4f sd %.4f over %d seeds\n", name,
                   cJSON_GetArrayItem(betas, bi)->valuedouble, m,
                   nseeds > 1 ? sqrt(v / (nseeds - 1)) : 0.0, nseeds);
        }
    }
    cJSON_Delete(cfg);
    ops->destroy(t);
    return 0;
}
