/* cmd_ls.c — `discover ls`: list archived candidates.
 *
 * On a terminal: an aligned table, long names cut with an ellipsis. Piped: tab-separated
 * values with one header line and whole names, so `discover ls | sort -t$'\t' -k6 -g`
 * works. --json: an array of objects (always whole). */
#include "cli.h"
#include "cli_models.h"

#include "archive/archive.h"
#include "archive/archive_json.h"
#include "archive/archive_table.h"
#include "common/safe_text.h"
#include "common/status.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(
        f, "Usage: discover ls [--archive PATH] [--campaign NAME] [--top K] [--status S] [--json]\n"
           "       discover ls --models [--archive PATH] [--campaign NAME] [--json]\n"
           "\n"
           "Lists the candidates of an archive: id, campaign, generation, island (run\n"
           "--islands), name, status, fitness (validation metric on the search's seeds,\n"
           "higher is better), confirmed (mean validation metric over the fresh seeds of\n"
           "'discover confirm') and n (how many), test metric (held out, the search's\n"
           "seeds), seconds.\n"
           "\n"
           "  --archive PATH   the archive (default: $DISCOVER_ARCHIVE, else ./discover.db)\n"
           "  --campaign NAME  only this campaign ('discover campaigns' lists them)\n"
           "  --top K          the K best by fitness (scored candidates only), best first\n"
           "  --status S       only this status: pending, ok, compile_error, violation, crash,\n"
           "                   timeout, nonfinite, invalid, duplicate, parse_error,\n"
           "                   interrupted, error\n"
           "  --models         per model of each campaign instead: calls, tokens in and\n"
           "                   out, cost, ok rate (calls whose candidate scored ok, of\n"
           "                   all calls), best fitness of its candidates\n"
           "  --json           a JSON array of objects\n"
           "\n"
           "On a terminal the output is an aligned table (long names end in an ellipsis);\n"
           "when piped it is tab-separated with a header line and whole names.\n");
}

static void list_statuses(dc_sb *b)
{
    dc_sb_append(b, dc_status_name(DC_PENDING)); // the one state that is not final, first
    for (int s = 0; s < DC_STATUS_COUNT; s++)
        if (s != DC_PENDING) dc_sb_printf(b, ", %s", dc_status_name((dc_status)s));
}

static void fmt_metric(char *buf, size_t cap, int has, double v)
{
    if (has && v == v)
        dc_fmt(buf, cap, "%.4f", v);
    else
        dc_fmt(buf, cap, "-");
}

/* Resolves --campaign; on an unknown name prints the existing ones. */
static int resolve_campaign(archive *a, const char *name, arc_campaign **camps, int *ncamps,
                            int64_t *id)
{
    char err[1024];
    if (archive_campaign_list(a, camps, ncamps, err, sizeof err)) return cli_error("ls", "%s", err);
    *id = 0;
    if (!name) return 0;
    for (int i = 0; i < *ncamps; i++)
        if (strcmp((*camps)[i].name, name) == 0) *id = (*camps)[i].id;
    if (*id) return 0;
    dc_sb b = {0};
    for (int i = 0; i < *ncamps; i++)
        dc_sb_printf(&b, "%s%s", i ? ", " : "", (*camps)[i].name);
    int rc = *ncamps ? cli_error("ls", "no campaign '%s' in %s; its campaigns: %s", name,
                                 archive_path(a), b.data)
                     : cli_error("ls", "no campaign '%s' in %s; it has no campaigns yet", name,
                                 archive_path(a));
    dc_sb_free(&b);
    return rc;
}

static const char *campaign_name(const arc_campaign *camps, int n, int64_t id)
{
    for (int i = 0; i < n; i++)
        if (camps[i].id == id) return camps[i].name;
    return "?";
}

/* The confirmations (discover confirm) of the listed campaigns, to show beside the search's
 * fitness. */
typedef struct {
    arc_confirmed *c;
    int n;
} confirmed_set;

static int load_confirmed(archive *a, const arc_campaign *camps, int ncamps, int64_t cid,
                          confirmed_set *out)
{
    char err[1024];
    memset(out, 0, sizeof *out);
    for (int i = 0; i < ncamps; i++) {
        if (cid && camps[i].id != cid) continue;
        arc_confirmed *c = NULL;
        int n = 0;
        if (archive_confirmed_list(a, camps[i].id, &c, &n, err, sizeof err) != 0)
            return cli_error("ls", "%s", err);
        out->c = dc_realloc(out->c, (size_t)(out->n + n + 1) * sizeof *out->c);
        if (n > 0) memcpy(out->c + out->n, c, (size_t)n * sizeof *c); /* the names move */
        out->n += n;
        free(c);
    }
    return EXIT_OK;
}

static void confirmed_free(confirmed_set *s)
{
    for (int i = 0; i < s->n; i++)
        arc_confirmed_free(&s->c[i]);
    free(s->c);
    memset(s, 0, sizeof *s);
}

static const arc_confirmed *confirmed_of(const confirmed_set *s, int64_t id)
{
    for (int i = 0; i < s->n; i++)
        if (s->c[i].candidate_id == id) return &s->c[i];
    return NULL;
}

static int print_json(const arc_candidate *cs, int n, const confirmed_set *conf)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = arc_candidate_json(&cs[i], 0);
        const arc_confirmed *c = confirmed_of(conf, cs[i].id);
        if (c && c->n > 0) {
            cJSON_AddNumberToObject(o, "confirmed_fitness", c->fitness);
            cJSON_AddNumberToObject(o, "confirmed_test_metric", c->test_metric);
        } else {
            cJSON_AddNullToObject(o, "confirmed_fitness");
            cJSON_AddNullToObject(o, "confirmed_test_metric");
        }
        cJSON_AddNumberToObject(o, "confirmed_n", c ? c->n : 0);
        cJSON_AddItemToArray(arr, o);
    }
    char *s = cJSON_Print(arr);
    cJSON_Delete(arr);
    if (!s) return cli_error("ls", "out of memory while writing JSON");
    char *safe = dc_json_safe(s); // valid UTF-8 whatever the names hold
    puts(safe);
    free(safe);
    cJSON_free(s);
    return EXIT_OK;
}

static void print_table(const arc_candidate *cs, int n, const arc_campaign *camps, int ncamps,
                        const confirmed_set *conf)
{
    static const char *headers[] = {"id",      "campaign",  "gen", "island", "name", "status",
                                    "fitness", "confirmed", "n",   "test",   "seconds"};
    static const int max_width[] = {0, 16, 0, 0, 32, 0, 0, 0, 0, 0, 0};
    static const int right[] = {1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1};
    arc_table t;
    arc_table_init(&t, 11, headers, max_width, right);
    for (int i = 0; i < n; i++) {
        const arc_candidate *c = &cs[i];
        const arc_confirmed *cf = confirmed_of(conf, c->id);
        char id[24], gen[16], isl[16], fit[32], test[32], secs[32], cfit[32], cn[16];
        fmt_metric(cfit, sizeof cfit, cf && cf->n > 0, cf ? cf->fitness : 0);
        dc_fmt(cn, sizeof cn, "%d", cf ? cf->n : 0);
        dc_fmt(id, sizeof id, "%lld", (long long)c->id);
        dc_fmt(gen, sizeof gen, "%d", c->generation);
        dc_fmt(isl, sizeof isl, "%d", c->island);
        fmt_metric(fit, sizeof fit, c->has_fitness, c->fitness);
        fmt_metric(test, sizeof test, c->has_fitness, c->test_metric);
        dc_fmt(secs, sizeof secs, "%.1f", c->seconds);
        const char *cells[] = {
            id,   campaign_name(camps, ncamps, c->campaign_id), gen, isl, c->name, c->status, fit,
            cfit, cn, test, secs};
        arc_table_add(&t, cells);
    }
    int tty = cli_stdout_is_tty();
    arc_table_print(&t, stdout, tty);
    if (tty && n == 0) fprintf(stderr, "(no candidates match)\n");
    arc_table_free(&t);
}

int cmd_ls(int argc, char **argv)
{
    const char *path = archive_default_path(), *campaign = NULL, *status = NULL;
    long top = 0;
    int json = 0, models = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--models")) {
            models = 1;
        } else if (!strcmp(a, "--archive") || !strcmp(a, "--campaign") || !strcmp(a, "--top") ||
                   !strcmp(a, "--status")) {
            if (i + 1 >= argc) return cli_usage_error("ls", "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--archive"))
                path = v;
            else if (!strcmp(a, "--campaign"))
                campaign = v;
            else if (!strcmp(a, "--status"))
                status = v;
            else if (dc_parse_long(v, 1, 1000000, &top))
                return cli_usage_error("ls", "--top needs a whole number from 1, got '%s'", v);
        } else {
            return cli_usage_error("ls", "unexpected argument '%s'", a);
        }
    }
    if (status && dc_status_parse(status) < 0) {
        dc_sb b = {0};
        list_statuses(&b);
        cli_usage_error("ls", "unknown status '%s'; use one of: %s", status, b.data);
        dc_sb_free(&b);
        return EXIT_USAGE;
    }

    char err[1024];
    archive *a;
    if (archive_open(path, ARC_READONLY, &a, err, sizeof err)) return cli_error("ls", "%s", err);
    arc_campaign *camps = NULL;
    int ncamps = 0, rc;
    int64_t cid = 0;
    rc = resolve_campaign(a, campaign, &camps, &ncamps, &cid);
    arc_candidate *cs = NULL;
    int n = 0;
    confirmed_set conf = {0};
    if (rc == EXIT_OK && models) {
        if (cli_print_models(a, camps, ncamps, cid, json, err, sizeof err) != 0)
            rc = cli_error("ls", "%s", err);
    } else if (rc == EXIT_OK && (rc = load_confirmed(a, camps, ncamps, cid, &conf)) == EXIT_OK) {
        arc_filter f = {.campaign_id = cid, .status = status, .top_k = (int)top, .with_code = 0};
        if (archive_candidate_list(a, &f, &cs, &n, err, sizeof err))
            rc = cli_error("ls", "%s", err);
        else if (json)
            rc = print_json(cs, n, &conf);
        else
            print_table(cs, n, camps, ncamps, &conf);
    }
    confirmed_free(&conf);
    for (int i = 0; i < n; i++)
        arc_candidate_free(&cs[i]);
    free(cs);
    for (int i = 0; i < ncamps; i++)
        arc_campaign_free(&camps[i]);
    free(camps);
    archive_close(a);
    return rc;
}
