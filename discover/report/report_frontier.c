/* report_frontier.c — reward-vs-KL points from archived metrics.
 *
 * Which metrics are a frontier's reward, KL and parameter is the task's metric schema
 * (inner_loop/task_metric.h): the report parses no metric names of its own. A β sweep is
 * archived as evaluations (one per seed, `discover replay --beta ...`) whose metrics carry
 * one reward and one KL per β; a flat {"reward", "kl"} with the β in the evaluation's
 * params is accepted too. Points of the same parameter are averaged over evaluations. */
#include "report.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Slot of β in f (β values equal to 1e-9 relative are the same), adding one when new;
 * -1 when f is full. */
static int beta_slot(rp_frontier *f, double beta)
{
    for (int i = 0; i < f->n; i++)
        if (fabs(f->beta[i] - beta) <= 1e-9 * fmax(1.0, fabs(beta))) return i;
    if (f->n >= RP_MAX_BETAS) return -1;
    f->beta[f->n] = beta;
    f->reward[f->n] = f->kl[f->n] = 0;
    f->samples[f->n] = 0;
    return f->n++;
}

static int add_point(rp_frontier *f, double beta, double reward, double kl)
{
    if (!isfinite(beta) || !isfinite(reward) || !isfinite(kl) || beta <= 0) return 0;
    int s = beta_slot(f, beta);
    if (s < 0) return 0;
    f->reward[s] += reward;
    f->kl[s] += kl;
    f->samples[s]++;
    return 1;
}

static double num_item(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void on_point(void *ctx, double param, double reward, double kl)
{
    int *added = ((void **)ctx)[1];
    *added += add_point(((void **)ctx)[0], param, reward, kl);
}

int rp_frontier_add(rp_frontier *f, const dc_metric_def *schema, const char *series,
                    const char *metrics_json, const char *params_json)
{
    cJSON *m = cJSON_Parse(metrics_json ? metrics_json : "");
    if (!cJSON_IsObject(m)) {
        cJSON_Delete(m);
        return 0;
    }
    int added = 0;
    void *ctx[2] = {f, &added};
    dc_metric_frontier_points(schema, series, m, on_point, ctx);
    if (!added && !strcmp(series, "trained")) {
        double beta = num_item(m, "beta");
        if (!isfinite(beta) && params_json) {
            cJSON *p = cJSON_Parse(params_json);
            if (cJSON_IsObject(p)) beta = num_item(p, "beta");
            cJSON_Delete(p);
        }
        added += add_point(f, beta, num_item(m, "reward"), num_item(m, "kl"));
    }
    cJSON_Delete(m);
    return added;
}

void rp_frontier_finish(rp_frontier *f)
{
    for (int i = 0; i < f->n; i++)
        if (f->samples[i] > 0) {
            f->reward[i] /= f->samples[i];
            f->kl[i] /= f->samples[i];
        }
    /* Insertion sort by β: at most RP_MAX_BETAS entries. */
    for (int i = 1; i < f->n; i++)
        for (int j = i; j > 0 && f->beta[j - 1] > f->beta[j]; j--) {
            double t;
            int s;
            t = f->beta[j], f->beta[j] = f->beta[j - 1], f->beta[j - 1] = t;
            t = f->reward[j], f->reward[j] = f->reward[j - 1], f->reward[j - 1] = t;
            t = f->kl[j], f->kl[j] = f->kl[j - 1], f->kl[j - 1] = t;
            s = f->samples[j], f->samples[j] = f->samples[j - 1], f->samples[j - 1] = s;
        }
}
