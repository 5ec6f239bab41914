/* task_metric.c — matching metric names against a task's schema (task_metric.h). */
#include "task_metric.h"

#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int dc_metric_match(const char *pattern, const char *name, double *param, char *ptext,
                    size_t cap)
{
    if (param) *param = NAN;
    if (ptext && cap) ptext[0] = 0;
    const char *hole = strstr(pattern, "{}");
    size_t plen = strlen(pattern);
    int star = plen > 0 && pattern[plen - 1] == '*';
    const char *rest = name;
    if (hole) {
        size_t pre = (size_t)(hole - pattern);
        if (strncmp(name, pattern, pre) != 0) return 0;
        char *end;
        double v = strtod(name + pre, &end);
        if (end == name + pre) return 0;
        if (ptext && dc_fmt_exact(ptext, cap, "%.*s", (int)(end - (name + pre)), name + pre) != 0)
            return 0;
        if (param) *param = v;
        pattern = hole + 2;
        rest = end;
    }
    size_t tail = strlen(pattern) - (size_t)star;
    if (strncmp(rest, pattern, tail) != 0) return 0;
    if (!star) return rest[tail] == '\0';
    // "*": one field name, not empty, without '/'
    return rest[tail] != '\0' && strchr(rest + tail, '/') == NULL;
}

int dc_metric_name(const char *pattern, const char *ptext, const char *field, char *buf,
                   size_t cap)
{
    dc_sb s = {0};
    for (const char *p = pattern; *p; p++) {
        if (p[0] == '{' && p[1] == '}') {
            dc_sb_append(&s, ptext ? ptext : "");
            p++;
        } else if (p[0] == '*' && p[1] == '\0') {
            dc_sb_append(&s, field ? field : "");
        } else {
            dc_sb_printf(&s, "%c", *p);
        }
    }
    int rc = dc_fmt_exact(buf, cap, "%s", s.data ? s.data : "");
    dc_sb_free(&s);
    return rc;
}

const dc_metric_def *dc_metric_axis_def(const dc_metric_def *schema, const char *frontier,
                                        dc_metric_axis axis)
{
    for (const dc_metric_def *d = schema; d && d->pattern; d++)
        if (d->frontier && !strcmp(d->frontier, frontier) && d->axis == axis) return d;
    return NULL;
}

/* The first entry of the schema that matches name: the one that decides its meaning. */
static const dc_metric_def *first_match(const dc_metric_def *schema, const char *name)
{
    for (const dc_metric_def *d = schema; d && d->pattern; d++)
        if (dc_metric_match(d->pattern, name, NULL, NULL, 0)) return d;
    return NULL;
}

void dc_metric_group_json(const dc_metric_def *schema, const cJSON *metrics, cJSON *out)
{
    for (const dc_metric_def *d = schema; d && d->pattern; d++) {
        if (!d->group) continue;
        int has_param = strstr(d->pattern, "{}") != NULL;
        const cJSON *m;
        cJSON_ArrayForEach(m, metrics)
        {
            char ptext[64];
            if (!m->string || !cJSON_IsNumber(m) ||
                !dc_metric_match(d->pattern, m->string, NULL, ptext, sizeof ptext))
                continue;
            if (first_match(schema, m->string) != d) continue; // an earlier entry decides

            if (!d->group[0]) { // the metric itself, at the top level
                cJSON_AddNumberToObject(out, m->string, m->valuedouble);
                continue;
            }
            const char *slash = strrchr(m->string, '/');
            const char *field = slash ? slash + 1 : m->string;
            cJSON *g = cJSON_GetObjectItemCaseSensitive(out, d->group);
            if (!g) g = cJSON_AddObjectToObject(out, d->group);
            if (has_param) {
                cJSON *b = cJSON_GetObjectItemCaseSensitive(g, ptext);
                if (!b) b = cJSON_AddObjectToObject(g, ptext);
                g = b;
            }
            cJSON_AddNumberToObject(g, field, m->valuedouble);
        }
    }
}

static double number(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

int dc_metric_frontier_points(const dc_metric_def *schema, const char *frontier,
                              const cJSON *metrics,
                              void (*fn)(void *ctx, double param, double reward, double kl),
                              void *ctx)
{
    const dc_metric_def *y = dc_metric_axis_def(schema, frontier, DC_AXIS_REWARD);
    const dc_metric_def *x = dc_metric_axis_def(schema, frontier, DC_AXIS_KL);
    if (!y || !x || !cJSON_IsObject(metrics)) return 0;
    const dc_metric_def *pdef = dc_metric_axis_def(schema, frontier, DC_AXIS_PARAM);
    int n = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, metrics)
    {
        char ptext[64], kl_name[160], pname[160];
        double param;
        if (!m->string || !cJSON_IsNumber(m) ||
            !dc_metric_match(y->pattern, m->string, &param, ptext, sizeof ptext))
            continue;
        if (dc_metric_name(x->pattern, ptext, NULL, kl_name, sizeof kl_name) != 0) continue;
        if (!strstr(y->pattern, "{}")) { // the parameter is a metric of its own
            if (!pdef || dc_metric_name(pdef->pattern, ptext, NULL, pname, sizeof pname) != 0)
                continue;
            param = number(metrics, pname);
        }
        double kl = number(metrics, kl_name);
        if (!isfinite(param) || !isfinite(m->valuedouble) || !isfinite(kl)) continue;
        fn(ctx, param, m->valuedouble, kl);
        n++;
    }
    return n;
}
