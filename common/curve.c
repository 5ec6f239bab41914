#include "curve.h"

#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dc_curve *find_or_add(dc_curves *c, const char *metric)
{
    for (int i = 0; i < c->len; i++)
        if (strcmp(c->items[i].metric, metric) == 0) return &c->items[i];
    if (c->len == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 4;
        c->items = dc_realloc(c->items, (size_t)c->cap * sizeof *c->items);
    }
    dc_curve *cv = &c->items[c->len++];
    memset(cv, 0, sizeof *cv);
    snprintf(cv->metric, sizeof cv->metric, "%s", metric);
    return cv;
}

void dc_curves_add(dc_curves *c, const char *metric, int step, double value)
{
    dc_curve *cv = find_or_add(c, metric);
    if (cv->len == cv->cap) {
        cv->cap = cv->cap ? 2 * cv->cap : 16;
        cv->step = dc_realloc(cv->step, (size_t)cv->cap * sizeof *cv->step);
        cv->value = dc_realloc(cv->value, (size_t)cv->cap * sizeof *cv->value);
    }
    cv->step[cv->len] = step;
    cv->value[cv->len] = value;
    cv->len++;
}

const dc_curve *dc_curves_find(const dc_curves *c, const char *metric)
{
    for (int i = 0; i < c->len; i++)
        if (strcmp(c->items[i].metric, metric) == 0) return &c->items[i];
    return NULL;
}

void dc_curves_free(dc_curves *c)
{
    for (int i = 0; i < c->len; i++) {
        free(c->items[i].step);
        free(c->items[i].value);
    }
    free(c->items);
    memset(c, 0, sizeof *c);
}

void dc_curves_append_all(dc_curves *dst, const dc_curves *src, const char *prefix)
{
    for (int i = 0; i < src->len; i++) {
        const dc_curve *s = &src->items[i];
        char name[sizeof s->metric];
        snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", s->metric);
        for (int j = 0; j < s->len; j++) dc_curves_add(dst, name, s->step[j], s->value[j]);
    }
}

dc_drift dc_curve_drift(const dc_curve *c)
{
    dc_drift d = {0.0, -1};
    if (!c || c->len < 2) return d;
    double first = c->value[0], last = c->value[c->len - 1];
    d.magnitude = last - first;
    if (!(fabs(d.magnitude) > 0)) return d;
    for (int i = 0; i < c->len; i++) {
        if (fabs(c->value[i] - first) >= 0.9 * fabs(d.magnitude)) {
            d.drift_time = c->step[i];
            break;
        }
    }
    return d;
}
