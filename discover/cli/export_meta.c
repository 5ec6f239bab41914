/* export_meta.c — the metadata header of an exported candidate, as C block-comment lines or
 * as Python comment lines.
 *
 * Text from the archive (the LLM's name and thought, metric keys) goes into the comment
 * defused: in C a thought that says "*" "/" must not end the comment early and turn the
 * rest of the thought into code; in Python a carriage return would end the comment line,
 * and a byte that is not UTF-8 would make the whole module fail to import, so each line is
 * written through dc_sb_append_safe (visible escapes, plain ASCII where it matters). */
#include "export.h"

#include "common/safe_text.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void export_line(dc_sb *b, export_style st, const char *text)
{
    if (st == EXPORT_C)
        dc_sb_printf(b, *text ? " * %s\n" : " *\n", text);
    else
        dc_sb_printf(b, *text ? "# %s\n" : "#\n", text);
}

/* One line of Python comment: the escaped text (no newline in it). */
static void py_comment_line(dc_sb *b, const char *line, size_t len, const char *indent)
{
    char *copy = dc_malloc(len + 1);
    memcpy(copy, line, len);
    copy[len] = '\0';
    dc_sb_printf(b, len || *indent ? "# %s" : "#", indent);
    dc_sb_append_safe(b, copy, DC_SAFE_LINE);
    dc_sb_append(b, "\n");
    free(copy);
}

void export_comment(dc_sb *b, export_style st, const char *text, const char *indent)
{
    const char *p = text && *text ? text : "(none)";
    if (st == EXPORT_PY) {
        for (;;) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            py_comment_line(b, p, len, indent);
            if (!nl) break;
            p = nl + 1;
        }
        return;
    }
    /* C: "*" "/" and "/" "*" are split with a backslash, control characters other than
     * newline become spaces, and every line starts with " * " + indent. */
    dc_sb_printf(b, " * %s", indent);
    for (; *p; p++) {
        if (p[0] == '*' && p[1] == '/') {
            dc_sb_append(b, "*\\/");
            p++;
        } else if (p[0] == '/' && p[1] == '*') {
            dc_sb_append(b, "/\\*");
            p++;
        } else if (*p == '\n') {
            dc_sb_printf(b, "\n * %s", indent);
        } else if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            dc_sb_append(b, " ");
        } else {
            dc_sb_appendn(b, p, 1);
        }
    }
    dc_sb_append(b, "\n");
}

static const char *num(char *buf, size_t cap, int has, double v)
{
    return has && isfinite(v) ? dc_fmt(buf, cap, "%.6g", v) : "none";
}

/* One "key: value" line per metric, nested objects (and arrays) flattened to "a/b"; numbers
 * as %.6g like the scores above. Each line goes through export_comment, so a key or value
 * that holds a comment delimiter, even one formed by joining "a*" and "/b", is defused. */
static void metric_lines(dc_sb *b, export_style st, const cJSON *item, const char *prefix)
{
    char line[1024], key[512];
    const cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, item)
    {
        if (cJSON_IsArray(item))
            dc_fmt(key, sizeof key, "%s%s%d", prefix, *prefix ? "/" : "", i);
        else
            dc_fmt(key, sizeof key, "%s%s%s", prefix, *prefix ? "/" : "", it->string);
        i++;
        if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
            metric_lines(b, st, it, key);
            continue;
        }
        const char *v;
        char nb[64];
        if (cJSON_IsNumber(it))
            v = dc_fmt(nb, sizeof nb, "%.6g", it->valuedouble);
        else if (cJSON_IsString(it))
            v = it->valuestring;
        else if (cJSON_IsBool(it))
            v = cJSON_IsTrue(it) ? "true" : "false";
        else
            v = "none"; /* null: a NaN or missing value (JSON has no NaN) */
        export_comment(b, st, dc_fmt(line, sizeof line, "%s: %s", key, v), "  ");
    }
}

static void metrics_section(dc_sb *b, export_style st, const char *metrics_json)
{
    cJSON *m = cJSON_Parse(metrics_json ? metrics_json : "");
    if (cJSON_IsObject(m) && m->child) {
        export_line(b, st, "Metrics:");
        metric_lines(b, st, m, "");
    } else if (cJSON_IsObject(m)) {
        export_line(b, st, "Metrics:    none");
    } else { /* not an object: show what the archive holds rather than hide it */
        export_line(b, st, "Metrics (as archived):");
        export_comment(b, st, metrics_json, "  ");
    }
    cJSON_Delete(m);
}

void export_metadata(dc_sb *b, export_style st, const export_source *e)
{
    char line[1024], b1[32], b2[32];
    const arc_candidate *c = e->c;
    const char *task = e->camp ? e->camp->task : "TASK";
    export_comment(b, st, dc_fmt(line, sizeof line, "Name:       %s", c->name), "");
    dc_fmt(line, sizeof line, "Campaign:   %s (task %s), generation %d",
           e->camp ? e->camp->name : "?", task, c->generation);
    export_comment(b, st, line, "");
    dc_fmt(line, sizeof line, "Status:     %s%s%s", c->status, c->message[0] ? ": " : "",
           c->message);
    export_comment(b, st, line, "");
    dc_fmt(line, sizeof line, "Fitness:    %s (validation)   test metric: %s (held out)",
           num(b1, sizeof b1, c->has_fitness, c->fitness), num(b2, sizeof b2, 1, c->test_metric));
    export_comment(b, st, line, "");
    metrics_section(b, st, c->metrics_json);
    export_comment(
        b, st,
        dc_fmt(line, sizeof line, "Source:     candidate %lld of %s", (long long)c->id, e->archive),
        "");
    export_line(b, st, "");
    export_line(b, st, "Thought:");
    export_comment(b, st, c->thought, "  ");
}
