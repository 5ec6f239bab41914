/* cmd_export.c — `discover export ID`: a candidate as a standalone objective C file.
 *
 * The file is a header comment (what it is, where it came from, how to use it) followed by
 * the candidate's code byte for byte, so `discover check FILE` accepts it exactly as it
 * accepted the candidate. Text from the archive (the LLM's name and thought) goes into the
 * comment with every comment delimiter defused: a thought that says "*" "/" must not end the
 * comment early and turn the rest of the thought into code. */
#define _GNU_SOURCE /* realpath, PATH_MAX */
#include "cli.h"

#include "archive/archive.h"
#include "common/safe_text.h"
#include "common/util.h"

#include <cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: discover export ID [--archive PATH] [-o|--output FILE] [--force]\n"
               "\n"
               "Writes candidate ID as a standalone C file: a comment with its name, thought,\n"
               "campaign, task, status, scores, metrics and origin, then its code exactly as\n"
               "archived.\n"
               "Use the file with 'discover check FILE --task T', 'discover eval FILE --task T',\n"
               "or in your own trainer after #include \"discover_objective.h\".\n"
               "\n"
               "  --archive PATH  the archive (default: $DISCOVER_ARCHIVE, else ./discover.db)\n"
               "  -o, --output FILE\n"
               "                  write to FILE (default: standard output)\n"
               "  --force         overwrite FILE when it exists\n");
}

/* Appends text for use inside a block comment: "*" "/" and "/" "*" are split with a
 * backslash or space, control characters other than newline become spaces, and every line
 * starts with " * " + indent. */
static void comment_text(dc_sb *b, const char *text, const char *indent)
{
    const char *p = text && *text ? text : "(none)";
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
 * as %.6g like the scores above. Each line goes through comment_text, so a key or value
 * that holds a comment delimiter, even one formed by joining "a*" and "/b", is defused. */
static void metric_lines(dc_sb *b, const cJSON *item, const char *prefix)
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
            metric_lines(b, it, key);
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
        comment_text(b, dc_fmt(line, sizeof line, "%s: %s", key, v), "  ");
    }
}

static void metrics_section(dc_sb *b, const char *metrics_json)
{
    cJSON *m = cJSON_Parse(metrics_json ? metrics_json : "");
    if (cJSON_IsObject(m) && m->child) {
        dc_sb_append(b, " * Metrics:\n");
        metric_lines(b, m, "");
    } else if (cJSON_IsObject(m)) {
        dc_sb_append(b, " * Metrics:    none\n");
    } else { /* not an object: show what the archive holds rather than hide it */
        dc_sb_append(b, " * Metrics (as archived):\n");
        comment_text(b, metrics_json, "  ");
    }
    cJSON_Delete(m);
}

static char *build_file(const arc_candidate *c, const arc_campaign *camp, const char *archive_path,
                        const char *file_name)
{
    char abs[PATH_MAX], line[1024], b1[32], b2[32];
    if (!realpath(archive_path, abs)) dc_fmt(abs, sizeof abs, "%s", archive_path);
    const char *task = camp ? camp->task : "TASK";
    dc_sb b = {0};
    dc_sb_append(&b, "/* discover objective, exported from an archive.\n *\n");
    comment_text(&b, dc_fmt(line, sizeof line, "Name:       %s", c->name), "");
    dc_fmt(line, sizeof line, "Campaign:   %s (task %s), generation %d", camp ? camp->name : "?",
           task, c->generation);
    comment_text(&b, line, "");
    dc_fmt(line, sizeof line, "Status:     %s%s%s", c->status, c->message[0] ? ": " : "",
           c->message);
    comment_text(&b, line, "");
    dc_fmt(line, sizeof line, "Fitness:    %s (validation)   test metric: %s (held out)",
           num(b1, sizeof b1, c->has_fitness, c->fitness), num(b2, sizeof b2, 1, c->test_metric));
    comment_text(&b, line, "");
    metrics_section(&b, c->metrics_json);
    comment_text(
        &b, dc_fmt(line, sizeof line, "Source:     candidate %lld of %s", (long long)c->id, abs),
        "");
    dc_sb_append(&b, " *\n * Thought:\n");
    comment_text(&b, c->thought, "  ");
    dc_sb_append(&b, " *\n * Use it:\n");
    comment_text(&b,
                 dc_fmt(line, sizeof line, "discover check %s --task %s   (compile, pre-screen)",
                        file_name, task),
                 "  ");
    comment_text(&b,
                 dc_fmt(line, sizeof line, "discover eval %s --task %s    (train and score)",
                        file_name, task),
                 "  ");
    dc_sb_append(&b, " * or in your own trainer (C), with the header from discover's sandbox/:\n");
    dc_sb_append(&b, " *   #include \"discover_objective.h\"\n");
    comment_text(&b, dc_fmt(line, sizeof line, "#include \"%s\"", file_name), "  ");
    dc_sb_append(&b, " */\n");
    dc_sb_append(&b, c->code);
    return dc_sb_take(&b);
}

int cmd_export(int argc, char **argv)
{
    const char *path = archive_default_path(), *id_text = NULL, *out = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "--archive") || !strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= argc) return cli_usage_error("export", "%s needs a value", a);
            if (!strcmp(a, "--archive"))
                path = argv[++i];
            else
                out = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("export", "unknown option '%s'", a);
        } else if (id_text) {
            return cli_usage_error("export", "one candidate id only (got '%s' and '%s')", id_text,
                                   a);
        } else {
            id_text = a;
        }
    }
    long id;
    if (!id_text) return cli_usage_error("export", "which candidate? give its id ('discover ls')");
    if (dc_parse_long(id_text, 1, 0x7fffffffL, &id))
        return cli_usage_error("export", "a candidate id is a whole number from 1, got '%s'",
                               id_text);
    struct stat sb;
    if (out && stat(out, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cli_error("export", "%s is a directory; give a file name, e.g. %s/objective.c", out,
                         out);
    if (out && !force && stat(out, &sb) == 0)
        return cli_error("export", "%s already exists; pass --force to overwrite it", out);

    char err[1024];
    archive *a;
    if (archive_open(path, ARC_READONLY, &a, err, sizeof err))
        return cli_error("export", "%s", err);
    arc_candidate c;
    int found = archive_candidate_get(a, id, &c, err, sizeof err);
    if (found != 0) {
        int rc = found < 0 ? cli_error("export", "%s", err)
                           : cli_error("export", "no candidate %ld in %s; 'discover ls' lists them",
                                       id, path);
        archive_close(a);
        return rc;
    }
    arc_campaign camp;
    int have_camp = archive_campaign_by_id(a, c.campaign_id, &camp, err, sizeof err) == 0;
    char *base = dc_strdup(out ? out : "FILE");
    char *text = build_file(&c, have_camp ? &camp : NULL, path, basename(base));
    free(base);
    int rc = EXIT_OK;
    if (!out) {
        /* The file as archived when piped; escaped when a person reads it on a terminal
         * (the code and the thought in its comment are the candidate's). */
        if (cli_stdout_is_tty()) {
            char *safe = dc_safe_text(text, DC_SAFE_BLOCK);
            free(text);
            text = safe;
        }
        if (fputs(text, stdout) == EOF || fflush(stdout) != 0)
            rc = cli_error("export", "cannot write to standard output: %s", strerror(errno));
    } else if (dc_write_file(out, text, strlen(text), err, sizeof err)) {
        rc = cli_error("export", "%s", err);
    } else {
        dc_safe_pool sp = {0};
        fprintf(stderr, "discover export: wrote candidate %ld (%s) to %s\n", id,
                dc_safe(&sp, c.name, DC_SAFE_LINE), dc_safe(&sp, out, DC_SAFE_LINE));
        dc_safe_free(&sp);
    }
    if (rc == EXIT_OK && strcmp(c.status, "ok") != 0)
        fprintf(stderr,
                "discover export: note: candidate %ld has status '%s'; the file carries its code "
                "as archived\n",
                id, c.status);
    free(text);
    if (have_camp) arc_campaign_free(&camp);
    arc_candidate_free(&c);
    archive_close(a);
    return rc;
}
