/* task_util.c — what every task shares: result bookkeeping, multi-seed aggregation and the
 * list parsing behind flags such as --seeds 1,2,3 and --betas 0.05,0.1. */
#include "task.h"

#include "common/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dc_task_result_init(dc_task_result *r)
{
    memset(r, 0, sizeof *r);
    r->status = DC_OK;
    r->failed_step = -1;
    r->metrics = cJSON_CreateObject();
}

void dc_task_result_free(dc_task_result *r)
{
    cJSON_Delete(r->metrics);
    dc_curves_free(&r->curves);
    memset(r, 0, sizeof *r);
    r->failed_step = -1;
}

/* Adds the numeric fields of a per-seed metrics object to running sums (creating them). */
static void accumulate(cJSON *sums, const cJSON *metrics)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, metrics)
    {
        if (!cJSON_IsNumber(it) || !it->string) continue;
        cJSON *s = cJSON_GetObjectItemCaseSensitive(sums, it->string);
        if (!s)
            cJSON_AddNumberToObject(sums, it->string, it->valuedouble);
        else
            cJSON_SetNumberValue(s, s->valuedouble + it->valuedouble);
    }
}

void dc_task_eval_seeds(const dc_task_ops *ops, dc_task *t, const dc_objective *obj,
                        const int *seeds, int nseeds, const dc_progress *prog, dc_task_result *out)
{
    if (!out->metrics) out->metrics = cJSON_CreateObject();
    out->status = DC_OK;
    out->failed_step = -1;
    out->message[0] = 0;
    cJSON *per_seed = cJSON_CreateArray();
    cJSON *sums = cJSON_CreateObject();
    double fit = 0, test = 0, secs = 0;
    int done = 0;
    for (int i = 0; i < nseeds; i++) {
        dc_task_result r;
        dc_task_result_init(&r);
        ops->run(t, obj, seeds[i], prog, &r);
        secs += r.seconds;
        cJSON *m = cJSON_Duplicate(r.metrics, 1);
        cJSON_AddNumberToObject(m, "seed", seeds[i]);
        cJSON_AddStringToObject(m, "status", dc_status_name(r.status));
        cJSON_AddItemToArray(per_seed, m);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "seed%d/", seeds[i]);
        dc_curves_append_all(&out->curves, &r.curves, nseeds > 1 ? prefix : NULL);
        if (r.status != DC_OK) {
            out->status = r.status;
            out->failed_step = r.failed_step;
            if (nseeds > 1)
                dc_fmt(out->message, sizeof out->message, "seed %d: %s", seeds[i], r.message);
            else
                dc_fmt(out->message, sizeof out->message, "%s", r.message);
            dc_task_result_free(&r);
            break;
        }
        fit += r.fitness;
        test += r.test_metric;
        accumulate(sums, r.metrics);
        done++;
        dc_task_result_free(&r);
    }
    // a failed evaluation has no fitness: the status says why (0 keeps the JSON numeric)
    out->fitness = out->status == DC_OK && done ? fit / done : 0;
    out->test_metric = out->status == DC_OK && done ? test / done : 0;
    out->seconds = secs;
    if (out->status == DC_OK && done) {
        const cJSON *it;
        cJSON_ArrayForEach(it, sums)
        {
            if (!strcmp(it->string, "seed")) continue;
            cJSON *prev = cJSON_GetObjectItemCaseSensitive(out->metrics, it->string);
            if (prev)
                cJSON_SetNumberValue(prev, it->valuedouble / done);
            else
                cJSON_AddNumberToObject(out->metrics, it->string, it->valuedouble / done);
        }
    }
    // "seconds" is the total over seeds, like out->seconds (per-seed times are in per_seed)
    cJSON_DeleteItemFromObjectCaseSensitive(out->metrics, "seconds");
    cJSON_AddNumberToObject(out->metrics, "seconds", out->seconds);
    // fitness and test_metric are always present and agree with the struct fields
    cJSON_DeleteItemFromObjectCaseSensitive(out->metrics, "fitness");
    cJSON_DeleteItemFromObjectCaseSensitive(out->metrics, "test_metric");
    cJSON_AddNumberToObject(out->metrics, "fitness", out->fitness);
    cJSON_AddNumberToObject(out->metrics, "test_metric", out->test_metric);
    cJSON_DeleteItemFromObjectCaseSensitive(out->metrics, "per_seed");
    cJSON_AddItemToObject(out->metrics, "per_seed", per_seed);
    cJSON_Delete(sums);
}
