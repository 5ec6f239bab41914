/* bench_value_drift.c — the Value Drifts comparison on the `sentiment` task: SFT, then PPO,
 * DPO and SimPO from the same π_ref, at several value gaps and seeds.
 *
 *   bench_value_drift [key=value ...] [--seeds 1,2,3] [--gaps 0,0.15,0.3,0.5]
 *                     [--objectives dpo,simpo]
 *
 * key=value are task options (as `discover eval --set`); PPO runs when ppo=STEPS is among
 * them (the task's baseline: computed once per seed and gap, it rides along in the first
 * objective's run). For every gap (the pairs stage is rebuilt; pretraining and SFT, hence
 * π_ref, come from the cache) and seed, each objective trains from π_ref and prints one
 * JSON object per line on stdout:
 *   {"gap": G, "seed": S, "objective": NAME, "seconds": ..., "metrics": {...every metric of
 *    the run...}, "curves": {NAME: [[step, value], ...], ...}}
 * bench/sentiment/value_drift.py runs this and turns the lines into
 * bench/RESULTS-value-drift.md's table and plot.
 *
 * The objectives are native, with exact gradients (no sandbox: this measures the methods):
 *   dpo    −log σ(β·((log π − log π_ref)(y_w) − (log π − log π_ref)(y_l)))
 *   simpo  −log σ(β_s·(log π(y_w)/|y_w| − log π(y_l)/|y_l|) − γ), β_s = 2.5, γ = 1.375
 *          (Meng et al. 2024's setting, as examples/objectives/sentiment/simpo.c)
 *   simpo_g0  the same with γ = 0 (Value Drifts: SimPO's γ barely matters)
 *   none   loss 0: with steps=0, a run that only carries the PPO baseline (another
 *          ppo_kl_coef, say); value_drift.py drops its own rows
 * Build: cmake --build BUILD --target bench_value_drift. */
#define _DEFAULT_SOURCE /* strsep, strtok_r */
#include "common/util.h"
#include "inner_loop/sentiment/sentiment.h"
#include "sandbox/sandbox.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double sigmoid(double x)
{
    return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}
static double log1pexp(double z)
{
    return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
}

static dc_status dpo(void *ctx, const pref_batch *b, double *loss, double *dc, double *dr,
                     char *msg, size_t cap)
{
    (void)ctx, (void)msg, (void)cap;
    for (int i = 0; i < b->n; i++) {
        double x = b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -
                              (b->rejected_logps[i] - b->ref_rejected_logps[i]));
        loss[i] = log1pexp(-x);
        double d = -sigmoid(-x) * b->beta;
        if (dc) dc[i] = d;
        if (dr) dr[i] = -d;
    }
    return DC_OK;
}

/* ctx points at γ. β is SimPO's own 2.5, not the task's β (SimPO has no reference). */
static dc_status simpo(void *ctx, const pref_batch *b, double *loss, double *dc, double *dr,
                       char *msg, size_t cap)
{
    (void)msg, (void)cap;
    const double beta_s = 2.5, gamma = *(const double *)ctx;
    for (int i = 0; i < b->n; i++) {
        double lw = fmax(b->chosen_lens[i], 1.0), ll = fmax(b->rejected_lens[i], 1.0);
        double z = beta_s * (b->chosen_logps[i] / lw - b->rejected_logps[i] / ll) - gamma;
        loss[i] = log1pexp(-z);
        double d = -sigmoid(-z) * beta_s; // d loss / d u
        if (dc) dc[i] = d / lw;
        if (dr) dr[i] = -d / ll;
    }
    return DC_OK;
}

static dc_status none(void *ctx, const pref_batch *b, double *loss, double *dc, double *dr,
                      char *msg, size_t cap)
{
    (void)ctx, (void)msg, (void)cap;
    for (int i = 0; i < b->n; i++) {
        loss[i] = 0;
        if (dc) dc[i] = 0;
        if (dr) dr[i] = 0;
    }
    return DC_OK;
}

static const double GAMMA_SIMPO = 1.375, GAMMA_ZERO = 0.0;

static const struct {
    const char *name;
    dc_status (*fn)(void *, const pref_batch *, double *, double *, double *, char *, size_t);
    const void *ctx;
} OBJ[] = {{"dpo", dpo, NULL},
           {"simpo", simpo, &GAMMA_SIMPO},
           {"simpo_g0", simpo, &GAMMA_ZERO},
           {"none", none, NULL}};

/* Stage progress on stderr (pretraining, SFT and PPO take minutes at the defaults). */
static void on_step(void *ctx, const char *phase, int step, int total, double loss)
{
    double *t0 = ctx;
    if (strcmp(phase, "train") != 0 && (step % 50 == 1 || step == total))
        fprintf(stderr, "[%.0f s] %s %d/%d %.4f\n", dc_now() - *t0, phase, step, total, loss);
}

static int parse_list(const char *text, double *out, int cap)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    int n = 0;
    char *s = buf, *tok;
    while ((tok = strsep(&s, ",")) && n < cap)
        out[n++] = atof(tok);
    return n;
}

#define MAXN 16

int main(int argc, char **argv)
{
    const dc_task_ops *ops = &dc_task_sentiment;
    dc_task *t = ops->create();
    char err[1024], objs[256] = "dpo,simpo";
    double seeds_d[MAXN], gaps[MAXN] = {0, 0.15, 0.3, 0.5};
    int nseeds = 0, ngaps = 4;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seeds") && i + 1 < argc) {
            nseeds = parse_list(argv[++i], seeds_d, MAXN);
        } else if (!strcmp(argv[i], "--gaps") && i + 1 < argc) {
            ngaps = parse_list(argv[++i], gaps, MAXN);
        } else if (!strcmp(argv[i], "--objectives") && i + 1 < argc) {
            snprintf(objs, sizeof objs, "%s", argv[++i]);
        } else {
            char *eq = strchr(argv[i], '=');
            if (!eq) {
                fprintf(stderr,
                        "bench_value_drift: expected key=value, --seeds, --gaps or "
                        "--objectives, got '%s'\n",
                        argv[i]);
                return 1;
            }
            *eq = '\0';
            if (ops->set_option(t, argv[i], eq + 1, err, sizeof err) != 0) {
                fprintf(stderr, "bench_value_drift: %s\n", err);
                return 1;
            }
        }
    }
    if (nseeds == 0) seeds_d[nseeds++] = 1;
    double t0 = dc_now();
    dc_progress prog = {&t0, on_step, NULL};
    for (int gi = 0; gi < ngaps; gi++) {
        char gv[32];
        snprintf(gv, sizeof gv, "%.9g", gaps[gi]);
        if (ops->set_option(t, "gap", gv, err, sizeof err) != 0 ||
            ops->prepare(t, &prog, err, sizeof err) != 0) {
            fprintf(stderr, "bench_value_drift: gap %s: %s\n", gv, err);
            return 1;
        }
        fprintf(stderr, "[%.0f s] gap %s prepared (stages built: mask %d)\n", dc_now() - t0, gv,
                dc_sentiment_stages_built(t));
        char list[256], *save = NULL;
        snprintf(list, sizeof list, "%s", objs);
        for (char *name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
            int k = -1;
            for (size_t j = 0; j < sizeof OBJ / sizeof OBJ[0]; j++)
                if (!strcmp(OBJ[j].name, name)) k = (int)j;
            if (k < 0) {
                fprintf(stderr,
                        "bench_value_drift: unknown objective '%s' (dpo, simpo, simpo_g0, none)\n",
                        name);
                return 1;
            }
            dc_objective obj = {(void *)OBJ[k].ctx, NULL, OBJ[k].fn};
            for (int si = 0; si < nseeds; si++) {
                int seed = (int)seeds_d[si];
                dc_task_result r;
                dc_task_result_init(&r);
                ops->run(t, &obj, seed, &prog, &r);
                if (r.status != DC_OK) {
                    fprintf(stderr, "bench_value_drift: %s seed %d gap %s: %s\n", name, seed, gv,
                            r.message);
                    return 1;
                }
                cJSON *o = cJSON_CreateObject(), *cv = cJSON_CreateObject();
                cJSON_AddNumberToObject(o, "gap", gaps[gi]);
                cJSON_AddNumberToObject(o, "seed", seed);
                cJSON_AddStringToObject(o, "objective", name);
                cJSON_AddNumberToObject(o, "seconds", r.seconds);
                cJSON_AddItemToObject(o, "metrics", cJSON_Duplicate(r.metrics, 1));
                for (int c = 0; c < r.curves.len; c++) {
                    const dc_curve *cu = &r.curves.items[c];
                    cJSON *pts = cJSON_AddArrayToObject(cv, cu->metric);
                    for (int p = 0; p < cu->len; p++) {
                        cJSON *pt = cJSON_CreateArray();
                        cJSON_AddItemToArray(pt, cJSON_CreateNumber(cu->step[p]));
                        cJSON_AddItemToArray(pt, cJSON_CreateNumber(cu->value[p]));
                        cJSON_AddItemToArray(pts, pt);
                    }
                }
                cJSON_AddItemToObject(o, "curves", cv);
                char *txt = cJSON_PrintUnformatted(o);
                if (!txt) return 1;
                printf("%s\n", txt);
                fflush(stdout);
                free(txt);
                cJSON_Delete(o);
                fprintf(stderr, "[%.0f s] gap %s %s seed %d: %.1f s\n", dc_now() - t0, gv, name,
                        seed, r.seconds);
                dc_task_result_free(&r);
            }
        }
    }
    ops->destroy(t);
    return 0;
}
