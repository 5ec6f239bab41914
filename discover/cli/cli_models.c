/* cli_models.c — per-model statistics of campaigns (`ls --models`, `show`): calls,
 * tokens, cost, the share of calls whose candidate scored ok, the best fitness. */
#include "cli_models.h"

#include "archive/archive_table.h"
#include "common/safe_text.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>

cJSON *cli_model_stats_json(const char *campaign, const arc_model_stat *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "campaign", campaign);
    cJSON_AddStringToObject(o, "model", m->model ? m->model : "");
    cJSON_AddNumberToObject(o, "calls", m->calls);
    cJSON_AddNumberToObject(o, "tokens_in", (double)m->tokens_in);
    cJSON_AddNumberToObject(o, "tokens_out", (double)m->tokens_out);
    cJSON_AddNumberToObject(o, "cost", m->cost);
    cJSON_AddNumberToObject(o, "ok", m->ok);
    cJSON_AddNumberToObject(o, "ok_rate", m->calls ? (double)m->ok / m->calls : 0.0);
    if (m->has_best) cJSON_AddNumberToObject(o, "best_fitness", m->best_fitness);
    else cJSON_AddNullToObject(o, "best_fitness");
    return o;
}

int cli_print_models(archive *a, const arc_campaign *camps, int ncamps, int64_t only_id, int json,
                     char *err, size_t errcap)
{
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    static const char *headers[] = {"campaign", "model",   "calls", "tokens in",
                                    "tokens out", "cost", "ok rate", "best fitness"};
    static const int max_width[] = {24, 32, 0, 0, 0, 0, 0, 0};
    static const int right[] = {0, 0, 1, 1, 1, 1, 1, 1};
    arc_table t;
    arc_table_init(&t, 8, headers, max_width, right);
    int rc = 0;
    for (int c = 0; c < ncamps && rc == 0; c++) {
        if (only_id && camps[c].id != only_id) continue;
        arc_model_stat *ms = NULL;
        int n = 0;
        if (archive_llm_model_stats(a, camps[c].id, &ms, &n, err, errcap) != 0) {
            rc = -1;
            break;
        }
        for (int i = 0; i < n; i++) {
            if (arr) {
                cJSON_AddItemToArray(arr, cli_model_stats_json(camps[c].name, &ms[i]));
                continue;
            }
            char calls[24], tin[24], tout[24], cost[32], rate[16], best[32];
            dc_fmt(calls, sizeof calls, "%d", ms[i].calls);
            dc_fmt(tin, sizeof tin, "%lld", ms[i].tokens_in);
            dc_fmt(tout, sizeof tout, "%lld", ms[i].tokens_out);
            dc_fmt(cost, sizeof cost, "%.4f", ms[i].cost);
            dc_fmt(rate, sizeof rate, "%.2f", ms[i].calls ? (double)ms[i].ok / ms[i].calls : 0.0);
            if (ms[i].has_best) dc_fmt(best, sizeof best, "%.4f", ms[i].best_fitness);
            else dc_fmt(best, sizeof best, "-");
            const char *cells[] = {camps[c].name, ms[i].model, calls, tin, tout, cost, rate, best};
            arc_table_add(&t, cells);
        }
        arc_model_stats_free(ms, n);
    }
    if (rc == 0 && arr) {
        char *s = cJSON_Print(arr);
        if (!s) {
            dc_fmt(err, errcap, "out of memory while writing JSON");
            rc = -1;
        } else {
            char *safe = dc_json_safe(s); /* valid UTF-8 whatever the names hold */
            puts(safe);
            free(safe);
            cJSON_free(s);
        }
    } else if (rc == 0) {
        arc_table_print(&t, stdout, cli_stdout_is_tty());
    }
    cJSON_Delete(arr);
    arc_table_free(&t);
    return rc;
}
