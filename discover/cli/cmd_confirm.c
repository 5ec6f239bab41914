/* cmd_confirm.c — `discover confirm`: re-train a campaign's top candidates on fresh seeds
 * and name the winner by mean confirmed validation fitness (discover/campaign/confirm.h). */
#include "cli.h"

#include "archive/archive.h"
#include "common/safe_text.h"
#include "common/util.h"
#include "discover/campaign/campaign.h"
#include "discover/campaign/confirm.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void confirm_help(void)
{
    printf("Usage: discover confirm --campaign C [--top K] [--seeds LIST] [OPTIONS]\n\n"
           "Re-trains the K best candidates of campaign C by search fitness on training seeds\n"
           "the search never used, records each run as an evaluation with purpose 'confirm',\n"
           "and names the winner: the best by mean confirmed validation fitness (the held-out\n"
           "test metric is shown, never used to choose). A candidate already confirmed on a\n"
           "seed is not trained on it again.\n\n"
           "  --campaign C     the campaign (required; 'discover campaigns' lists them)\n"
           "  --top K          how many of the best to confirm (default %d)\n"
           "  --seeds LIST     fresh training seeds, e.g. 1001,1002 or 1001-1005 (default the\n"
           "                   campaign seed + %d, + %d, + %d)\n"
           "  --archive PATH   archive (default $DISCOVER_ARCHIVE or ./discover.db)\n"
           "  --quiet          no line per training run on stderr\n"
           "  --json           the confirmed candidates and the winner as JSON on stdout\n\n"
           "Exit status: 0 confirmed, 1 usage or archive error.\n",
           DC_CONFIRM_DEFAULT_TOP, DC_CONFIRM_SEED_OFFSET, DC_CONFIRM_SEED_OFFSET + 1,
           DC_CONFIRM_SEED_OFFSET + 2);
}

static cJSON *num_or_null(double v)
{
    return v == v ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

int cli_confirm_print(const char *cmd, const char *archive_path, const char *campaign, int json)
{
    char e[1024];
    archive *a = NULL;
    if (archive_open(archive_path, ARC_READONLY, &a, e, sizeof e) != 0) return cli_error(cmd, "%s", e);
    arc_campaign camp;
    int got = archive_campaign_by_name(a, campaign, &camp, e, sizeof e);
    if (got != 0) {
        archive_close(a);
        return got > 0 ? cli_error(cmd, "no campaign '%s' in %s", campaign, archive_path)
                       : cli_error(cmd, "%s", e);
    }
    arc_confirmed *cs = NULL;
    int n = 0;
    int rc = archive_confirmed_list(a, camp.id, &cs, &n, e, sizeof e);
    archive_close(a);
    arc_campaign_free(&camp);
    if (rc != 0) return cli_error(cmd, "%s", e);
    dc_safe_pool sp = {0};
    if (json) {
        cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "confirmed");
        for (int i = 0; i < n; i++) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "id", (double)cs[i].candidate_id);
            cJSON_AddStringToObject(c, "name", cs[i].name);
            cJSON_AddItemToObject(c, "search_fitness", num_or_null(cs[i].search_fitness));
            cJSON_AddItemToObject(c, "confirmed_fitness", num_or_null(cs[i].fitness));
            cJSON_AddNumberToObject(c, "confirmed_n", cs[i].n);
            cJSON_AddNumberToObject(c, "confirmed_failed", cs[i].nfailed);
            cJSON_AddItemToObject(c, "confirmed_test_metric", num_or_null(cs[i].test_metric));
            cJSON_AddItemToArray(arr, c);
        }
        if (n > 0 && cs[0].n > 0) cJSON_AddNumberToObject(o, "winner_id", (double)cs[0].candidate_id);
        else cJSON_AddNullToObject(o, "winner_id");
        char *t = cJSON_Print(o);
        char *safe = t ? dc_json_safe(t) : NULL; // valid UTF-8 whatever the names hold
        if (safe) printf("%s\n", safe);
        free(safe);
        cJSON_free(t);
        cJSON_Delete(o);
    } else {
        printf("%-6s %-32s %10s %10s %4s %10s\n", "id", "name", "search", "confirmed", "n",
               "test");
        for (int i = 0; i < n; i++)
            printf("%-6lld %-32.32s %10.4f %10.4f %4d %10.4f%s\n", (long long)cs[i].candidate_id,
                   dc_safe(&sp, cs[i].name, DC_SAFE_LINE), cs[i].search_fitness, cs[i].fitness,
                   cs[i].n, cs[i].test_metric, cs[i].nfailed ? "  (some seeds failed)" : "");
        if (n > 0 && cs[0].n > 0)
            printf("winner by confirmed fitness: #%lld '%s' %.4f over %d seed%s (held-out test "
                   "%.4f)\n",
                   (long long)cs[0].candidate_id, dc_safe(&sp, cs[0].name, DC_SAFE_LINE),
                   cs[0].fitness, cs[0].n, cs[0].n == 1 ? "" : "s", cs[0].test_metric);
        else
            printf("no candidate is confirmed yet\n");
    }
    dc_safe_free(&sp);
    for (int i = 0; i < n; i++)
        arc_confirmed_free(&cs[i]);
    free(cs);
    return EXIT_OK;
}

int cmd_confirm(int argc, char **argv)
{
    const char *cmd = "confirm", *path = archive_default_path(), *campaign = NULL;
    long top = DC_CONFIRM_DEFAULT_TOP;
    int seeds[DC_MAX_SEEDS], nseeds = 0, json = 0, quiet = 0;
    char e[1024];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            confirm_help();
            return EXIT_OK;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (strncmp(a, "--", 2)) return cli_usage_error(cmd, "unexpected argument '%s'", a);
        if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--archive")) path = v;
        else if (!strcmp(a, "--campaign")) campaign = v;
        else if (!strcmp(a, "--top")) {
            if (dc_parse_long(v, 1, 1000, &top) != 0)
                return cli_usage_error(cmd, "--top needs a whole number from 1 to 1000, got '%s'", v);
        } else if (!strcmp(a, "--seeds")) {
            nseeds = dc_parse_int_list(v, seeds, DC_MAX_SEEDS, e, sizeof e);
            if (nseeds <= 0)
                return cli_usage_error(cmd, "--seeds: %s", nseeds ? e : "give at least one seed, e.g. 1001,1002");
        } else {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        }
    }
    if (!campaign)
        return cli_usage_error(cmd, "which campaign? give --campaign NAME ('discover campaigns' lists them)");
    if (dc_confirm_campaign(path, campaign, (int)top, nseeds ? seeds : NULL, nseeds, quiet, e,
                            sizeof e) != 0)
        return cli_error(cmd, "%s", e);
    return cli_confirm_print(cmd, path, campaign, json);
}
