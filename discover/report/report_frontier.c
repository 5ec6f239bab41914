/* report_frontier.c — reward-vs-KL points from archived metrics.
 *
 * A β sweep is archived as evaluations (one per seed, `discover replay --beta ...`) whose
 * metrics carry one reward and one KL per β. The sentiment task names them
 * "beta_<β>/reward" and "beta_<β>/kl" (β printed by %g); a flat {"reward", "kl"} with the
 * β in the evaluation's params is accepted too. Points of the same β are averaged over
 * evaluations (seeds). */
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

int rp_frontier_add(rp_frontier *f, const char *metrics_json, const char *params_json)
{
    cJSON *m = cJSON_Parse(metrics_json ? metrics_json : "");
    if (!cJSON_IsObject(m)) {
        cJSON_Delete(m);
        return 0;
    }
    int added = 0;
    /* Per-β names: pair each "beta_<β>/reward" with its "beta_<β>/kl". */
    const cJSON *it;
    cJSON_ArrayForEach(it, m)
    {
        const char *k = it->string;
        if (!k || strncmp(k, "beta_", 5) != 0 || !cJSON_IsNumber(it)) continue;
        char *end;
        double beta = strtod(k + 5, &end);
        if (end == k + 5 || strcmp(end, "/reward") != 0) continue;
        char kl_key[96];
        size_t plen = (size_t)(end - k);
        if (plen + 4 >= sizeof kl_key) continue;
        memcpy(kl_key, k, plen);
        strcpy(kl_key + plen, "/kl");
        added += add_point(f, beta, it->valuedouble, num_item(m, kl_key));
    }
    if (!added) {
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

int rp_frontier_add_bon(rp_frontier *f, const char *metrics_json)
{
    cJSON *m = cJSON_Parse(metrics_json ? metrics_json : "");
    if (!cJSON_IsObject(m)) {
        cJSON_Delete(m);
        return 0;
    }
    int added = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, m)
    {
        const char *k = it->string;
        if (!k || strncmp(k, "bon_", 4) != 0 || !cJSON_IsNumber(it)) continue;
        char *end;
        long n = strtol(k + 4, &end, 10);
        if (end == k + 4 || strcmp(end, "/reward") != 0 || n < 2) continue;
        char kl_key[48];
        snprintf(kl_key, sizeof kl_key, "bon_%ld/kl", n);
        added += add_point(f, (double)n, it->valuedouble, num_item(m, kl_key));
    }
    cJSON_Delete(m);
    return added;
}

int rp_frontier_add_tq(rp_frontier *f, const char *metrics_json)
{
    cJSON *m = cJSON_Parse(metrics_json ? metrics_json : "");
    int added = 0;
    if (cJSON_IsObject(m))
        added = add_point(f, num_item(m, "tq/alpha"), num_item(m, "tq/reward"), num_item(m, "tq/kl"));
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
