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

/* Parses a whole non-negative int from [s, s+n); -1 when it is not one. */
static int parse_int_token(const char *s, size_t n, int *out)
{
    if (n == 0 || n > 10) return -1;
    char buf[16];
    memcpy(buf, s, n);
    buf[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (buf[i] < '0' || buf[i] > '9') return -1;
    errno = 0;
    long v = strtol(buf, NULL, 10);
    if (errno || v > INT_MAX) return -1;
    *out = (int)v;
    return 0;
}

int dc_parse_int_list(const char *text, int *out, int cap, char *err, size_t errcap)
{
    int count = 0;
    const char *p = text;
    if (!text || !*text) {
        snprintf(err, errcap, "empty list; write numbers like 1,2,3 or a range like 1-5");
        return -1;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *dash = memchr(p, '-', len);
        int a, b;
        int bad = dash ? parse_int_token(p, (size_t)(dash - p), &a) ||
                             parse_int_token(dash + 1, len - (size_t)(dash - p) - 1, &b) || b < a
                       : parse_int_token(p, len, &a);
        if (bad) {
            snprintf(err, errcap,
                     "'%.*s' in '%s' is not a whole number >= 0 or a range a-b with "
                     "a <= b; write numbers like 1,2,3 or a range like 1-5",
                     (int)len, p, text);
            return -1;
        }
        if (!dash) b = a;
        for (long v = a; v <= b; v++) {
            if (count == cap) {
                snprintf(err, errcap, "'%s' has more than %d numbers", text, cap);
                return -1;
            }
            out[count++] = (int)v;
        }
        if (!comma) break;
        p = comma + 1;
    }
    return count;
}

int dc_parse_double_list(const char *text, double *out, int cap, char *err, size_t errcap)
{
    int count = 0;
    const char *p = text;
    if (!text || !*text) {
        snprintf(err, errcap, "empty list; write numbers like 0.05,0.1,0.5");
        return -1;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char buf[64];
        int bad = len == 0 || len >= sizeof buf;
        double v = 0;
        if (!bad) {
            memcpy(buf, p, len);
            buf[len] = 0;
            char *end;
            errno = 0;
            v = strtod(buf, &end);
            bad = *end || errno || !isfinite(v);
        }
        if (bad) {
            snprintf(err, errcap,
                     "'%.*s' in '%s' is not a finite number; write numbers like "
                     "0.05,0.1,0.5",
                     (int)len, p, text);
            return -1;
        }
        if (count == cap) {
            snprintf(err, errcap, "'%s' has more than %d numbers", text, cap);
            return -1;
        }
        out[count++] = v;
        if (!comma) break;
        p = comma + 1;
    }
    return count;
}
