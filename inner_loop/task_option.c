/* task_option.c — parsing, defaults, JSON and help text generated from a task's option table. */
#include "task_option.h"

#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const dc_task_option *dc_option_find(const dc_task_option *table, const char *key)
{
    for (const dc_task_option *o = table; o && o->key; o++)
        if (strcmp(o->key, key) == 0) return o;
    return NULL;
}

void dc_option_names(const dc_task_option *table, char *buf, size_t cap)
{
    dc_sb names = {0};
    for (const dc_task_option *o = table; o && o->key; o++)
        dc_sb_printf(&names, "%s%s", o == table ? "" : ", ", o->key);
    dc_fmt(buf, cap, "%s", names.data ? names.data : "");
    dc_sb_free(&names);
}

static int in_range(const dc_task_option *o, double v)
{
    if (v < o->min || v > o->max) return 0;
    if (o->min_open && v <= o->min) return 0;
    if (o->max_open && v >= o->max) return 0;
    return 1;
}

static void range_text(const dc_task_option *o, char *buf, size_t cap)
{
    dc_fmt(buf, cap, "%s%g, %g%s", o->min_open ? "(" : "[", o->min, o->max, o->max_open ? ")" : "]");
}

static int set_real_list(const dc_task_option *o, void *cfg, const char *value, char *err,
                         size_t errcap)
{
    double vals[64];
    int cap = o->size < 64 ? (int)o->size : 64;
    int n = dc_parse_double_list(value, vals, cap, err, errcap);
    if (n < 0) return -1;
    if (n == 0) {
        dc_fmt(err, errcap, "option %s: give at least one value, e.g. %s", o->key, o->def);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (!in_range(o, vals[i])) {
            char r[96];
            range_text(o, r, sizeof r);
            dc_fmt(err, errcap, "option %s: %g is out of range; use values in %s", o->key, vals[i], r);
            return -1;
        }
    memcpy((char *)cfg + o->offset, vals, (size_t)n * sizeof *vals);
    *(int *)((char *)cfg + o->count_offset) = n;
    return 0;
}

static int set_choice(const dc_task_option *o, void *cfg, const char *value, char *err,
                      size_t errcap)
{
    size_t len = strlen(value);
    for (const char *c = o->choices; c && *c;) {
        const char *end = strchr(c, ',');
        size_t n = end ? (size_t)(end - c) : strlen(c);
        if (n == len && strncmp(c, value, n) == 0 && len < o->size) {
            memcpy((char *)cfg + o->offset, value, len + 1);
            return 0;
        }
        c = end ? end + 1 : c + n;
    }
    dc_fmt(err, errcap, "option %s: '%s' is not accepted; give one of %s", o->key, value, o->choices);
    return -1;
}

int dc_option_set(const dc_task_option *table, const char *task, void *cfg, const char *key,
                  const char *value, char *err, size_t errcap)
{
    const dc_task_option *o = dc_option_find(table, key);
    if (!o) {
        char names[1024];
        dc_option_names(table, names, sizeof names);
        dc_fmt(err, errcap, "task %s has no option '%s'; its options are: %s", task, key, names);
        return -1;
    }
    char *field = (char *)cfg + o->offset;
    switch (o->kind) {
    case DC_OPT_INT: {
        long v;
        if (dc_parse_long(value, (long)o->min, (long)o->max, &v) != 0) {
            dc_fmt(err, errcap, "option %s: '%s' is not accepted; give a whole number in %.0f..%.0f",
                   key, value, o->min, o->max);
            return -1;
        }
        if (o->check) {
            char why[256];
            if (o->check(v, why, sizeof why) != 0) {
                dc_fmt(err, errcap, "option %s: %s", key, why);
                return -1;
            }
        }
        *(int *)field = (int)v;
        return 0;
    }
    case DC_OPT_REAL: {
        double v;
        if (dc_parse_double(value, o->min, o->max, &v) != 0 || !in_range(o, v)) {
            char r[96];
            range_text(o, r, sizeof r);
            dc_fmt(err, errcap, "option %s: '%s' is not accepted; give a number in %s", key, value, r);
            return -1;
        }
        *(double *)field = v;
        return 0;
    }
    case DC_OPT_REAL_LIST:
        return set_real_list(o, cfg, value, err, errcap);
    case DC_OPT_TEXT:
        if (strlen(value) >= o->size) {
            dc_fmt(err, errcap, "option %s: the value is longer than %zu characters", key, o->size - 1);
            return -1;
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case DC_OPT_CHOICE:
        return set_choice(o, cfg, value, err, errcap);
    }
    dc_fmt(err, errcap, "option %s: internal error: unknown option kind", key);
    return -1;
}

void dc_option_defaults(const dc_task_option *table, const char *task, void *cfg)
{
    char err[512];
    for (const dc_task_option *o = table; o && o->key; o++)
        if (dc_option_set(table, task, cfg, o->key, o->def, err, sizeof err) != 0) {
            fprintf(stderr, "%s: bad default in the option table: %s\n", task, err);
            abort(); // a bug in the table: every test would catch it
        }
}

cJSON *dc_option_json(const dc_task_option *table, const void *cfg)
{
    cJSON *o = cJSON_CreateObject();
    for (const dc_task_option *op = table; op && op->key; op++) {
        const char *field = (const char *)cfg + op->offset;
        if (op->kind == DC_OPT_INT) {
            cJSON_AddNumberToObject(o, op->key, *(const int *)field);
        } else if (op->kind == DC_OPT_REAL) {
            cJSON_AddNumberToObject(o, op->key, *(const double *)field);
        } else if (op->kind == DC_OPT_REAL_LIST) {
            cJSON *a = cJSON_AddArrayToObject(o, op->key);
            int n = *(const int *)((const char *)cfg + op->count_offset);
            for (int i = 0; i < n; i++)
                cJSON_AddItemToArray(a, cJSON_CreateNumber(((const double *)field)[i]));
        }
    }
    for (const dc_task_option *op = table; op && op->key; op++)
        if (op->kind == DC_OPT_TEXT || op->kind == DC_OPT_CHOICE)
            cJSON_AddStringToObject(o, op->key, (const char *)cfg + op->offset);
    return o;
}

void dc_option_print_help(const dc_task_option *table, FILE *f)
{
    for (const dc_task_option *o = table; o && o->key; o++)
        fprintf(f, "  %-14s %s (default %s)\n", o->key, o->help, o->def && *o->def ? o->def : "none");
}
