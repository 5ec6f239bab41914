/* cmd_campaigns.c — `discover campaigns`: the campaigns of an archive with their counts. */
#include "cli.h"

#include "archive/archive.h"
#include "archive/archive_json.h"
#include "archive/archive_table.h"
#include "common/safe_text.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: discover campaigns [--archive PATH] [--json]\n"
               "\n"
               "Lists the campaigns of an archive, oldest first: name, task, proposer, model,\n"
               "status, number of candidates, best fitness, creation time (UTC).\n"
               "\n"
               "  --archive PATH  the archive (default: $DISCOVER_ARCHIVE, else ./discover.db)\n"
               "  --json          a JSON array of objects\n"
               "\n"
               "On a terminal the output is an aligned table; when piped it is tab-separated\n"
               "with a header line.\n");
}

int cmd_campaigns(int argc, char **argv)
{
    const char *path = archive_default_path();
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--archive")) {
            if (i + 1 >= argc) return cli_usage_error("campaigns", "--archive needs a path");
            path = argv[++i];
        } else {
            return cli_usage_error("campaigns", "unexpected argument '%s'", a);
        }
    }
    char err[1024];
    archive *a;
    if (archive_open(path, ARC_READONLY, &a, err, sizeof err))
        return cli_error("campaigns", "%s", err);
    arc_campaign *cs = NULL;
    int n = 0, rc = EXIT_OK;
    if (archive_campaign_list(a, &cs, &n, err, sizeof err)) {
        rc = cli_error("campaigns", "%s", err);
        n = 0;
    }
    arc_campaign_stats *st = dc_calloc((size_t)n + 1, sizeof *st);
    for (int i = 0; i < n && rc == EXIT_OK; i++)
        if (archive_campaign_summary(a, cs[i].id, &st[i], err, sizeof err))
            rc = cli_error("campaigns", "%s", err);

    if (rc == EXIT_OK && json) {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < n; i++) {
            cJSON *o = arc_campaign_json(&cs[i]);
            cJSON_AddNumberToObject(o, "candidates", st[i].candidates);
            cJSON_AddNumberToObject(o, "scored", st[i].scored);
            arc_json_add_number(o, "best_fitness", st[i].best_fitness);
            cJSON_AddItemToArray(arr, o);
        }
        char *s = cJSON_Print(arr);
        cJSON_Delete(arr);
        if (s) {
            char *safe = dc_json_safe(s); // valid UTF-8 whatever the names hold
            puts(safe);
            free(safe);
            cJSON_free(s);
        } else {
            rc = cli_error("campaigns", "out of memory while writing JSON");
        }
    } else if (rc == EXIT_OK) {
        static const char *headers[] = {"name",   "task",       "proposer", "model",
                                        "status", "candidates", "best",     "created"};
        static const int max_width[] = {24, 0, 24, 24, 0, 0, 0, 0};
        static const int right[] = {0, 0, 0, 0, 0, 1, 1, 0};
        arc_table t;
        arc_table_init(&t, 8, headers, max_width, right);
        for (int i = 0; i < n; i++) {
            char count[16], best[32];
            dc_fmt(count, sizeof count, "%d", st[i].candidates);
            if (isfinite(st[i].best_fitness))
                dc_fmt(best, sizeof best, "%.4f", st[i].best_fitness);
            else
                dc_fmt(best, sizeof best, "-");
            const char *cells[] = {
                cs[i].name,   cs[i].task, cs[i].proposer, cs[i].model[0] ? cs[i].model : "-",
                cs[i].status, count,      best,           cs[i].created_at};
            arc_table_add(&t, cells);
        }
        arc_table_print(&t, stdout, cli_stdout_is_tty());
        arc_table_free(&t);
    }
    for (int i = 0; i < n; i++)
        arc_campaign_free(&cs[i]);
    free(cs);
    free(st);
    archive_close(a);
    return rc;
}
