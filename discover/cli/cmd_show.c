/* cmd_show.c — `discover show ID`: everything the archive knows about one candidate. */
#include "cli.h"
#include "cli_models.h"

#include "archive/archive.h"
#include "archive/archive_json.h"
#include "common/curve.h"
#include "common/safe_text.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The LLM exchange is long (the prompt carries the history); this much of each side is
 * enough to recognise it, --full shows all. */
#define SHOW_EXCHANGE_CHARS 2000

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: discover show ID [--archive PATH] [--json] [--full]\n"
            "\n"
            "Shows one candidate: name, thought, code, status and message, metrics, a summary\n"
            "of each training curve (points, first, last, min, max, value drift magnitude and\n"
            "drift time), its parents, its evaluations and the LLM exchange that produced it.\n"
            "\n"
            "  --archive PATH  the archive (default: $DISCOVER_ARCHIVE, else ./discover.db)\n"
            "  --full          the whole LLM request and response (else the first %d\n"
            "                  characters of each)\n"
            "  --json          one JSON object (always complete)\n"
            "\n"
            "'discover ls' lists the candidates and their ids.\n",
            SHOW_EXCHANGE_CHARS);
}

/* Text from the candidate or the LLM (thought, code, the exchange), indented and escaped:
 * its lines and tabs are kept, escape sequences and bidi overrides are shown, not obeyed. */
static void print_indented(const char *text)
{
    char *safe = dc_safe_text(text && *text ? text : "(none)", DC_SAFE_BLOCK);
    const char *p = safe;
    fputs("  ", stdout);
    for (; *p; p++) {
        putchar(*p);
        if (*p == '\n' && p[1]) fputs("  ", stdout);
    }
    if (p[-1] != '\n') putchar('\n');
    free(safe);
}

static void print_clipped(const char *label, const char *text, int full)
{
    size_t len = strlen(text);
    printf("%s (%zu bytes):\n", label, len);
    if (full || len <= SHOW_EXCHANGE_CHARS) {
        print_indented(text);
        return;
    }
    char *head = dc_malloc(SHOW_EXCHANGE_CHARS + 1);
    memcpy(head, text, SHOW_EXCHANGE_CHARS);
    head[SHOW_EXCHANGE_CHARS] = '\0';
    print_indented(head);
    free(head);
    printf("  [... %zu more bytes; --full shows all]\n", len - SHOW_EXCHANGE_CHARS);
}

static const char *num(char *buf, size_t cap, double v)
{
    return isfinite(v) ? dc_fmt(buf, cap, "%.6g", v) : dc_fmt(buf, cap, "-");
}

static void print_curves(const dc_curves *cv)
{
    dc_safe_pool sp = {0};
    if (cv->len == 0) {
        printf("curves: none recorded\n");
        return;
    }
    printf("curves:\n  %-24s %6s %11s %11s %11s %11s %11s %10s\n", "metric", "points", "first",
           "last", "min", "max", "drift", "drift_time");
    for (int i = 0; i < cv->len; i++) {
        const dc_curve *c = &cv->items[i];
        double lo = INFINITY, hi = -INFINITY;
        for (int j = 0; j < c->len; j++) {
            lo = fmin(lo, c->value[j]);
            hi = fmax(hi, c->value[j]);
        }
        dc_drift d = dc_curve_drift(c);
        char b1[32], b2[32], b3[32], b4[32], b5[32], b6[16];
        printf("  %-24s %6d %11s %11s %11s %11s %11s %10s\n", dc_safe(&sp, c->metric, DC_SAFE_LINE),
               c->len, num(b1, sizeof b1, c->len ? c->value[0] : NAN),
               num(b2, sizeof b2, c->len ? c->value[c->len - 1] : NAN), num(b3, sizeof b3, lo),
               num(b4, sizeof b4, hi), num(b5, sizeof b5, d.magnitude),
               d.drift_time < 0 ? "-" : dc_fmt(b6, sizeof b6, "%d", d.drift_time));
    }
    dc_safe_free(&sp);
}

/* Parents as "#3 dpo, #5 hinge" (the ids alone when a parent is gone). */
static void print_parents(archive *a, const char *parents_json, cJSON *json_out)
{
    cJSON *ids = cJSON_Parse(parents_json ? parents_json : "[]");
    if (!json_out) printf("parents:   ");
    int k = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, ids)
    {
        if (!cJSON_IsNumber(it)) continue;
        arc_candidate p;
        char err[512];
        int found = archive_candidate_get(a, (int64_t)it->valuedouble, &p, err, sizeof err);
        if (json_out) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "id", it->valuedouble);
            if (found == 0)
                cJSON_AddStringToObject(o, "name", p.name);
            else
                cJSON_AddNullToObject(o, "name");
            cJSON_AddItemToArray(json_out, o);
        } else {
            printf("%s#%lld ", k ? ", " : "", (long long)it->valuedouble);
            dc_safe_fputs(found == 0 ? p.name : "(not in this archive)", DC_SAFE_LINE, stdout);
        }
        if (found == 0) arc_candidate_free(&p);
        k++;
    }
    if (!json_out) printf("%s\n", k ? "" : "none (a seed or a first proposal)");
    cJSON_Delete(ids);
}

/* The candidate's confirmations (discover confirm) that trained: how many, and their mean
 * validation fitness and test metric (NaN when none). */
static int confirmed_mean(const arc_evaluation *ev, int n, double *fitness, double *test)
{
    int k = 0;
    double f = 0, t = 0;
    for (int i = 0; i < n; i++)
        if (ev[i].purpose && !strcmp(ev[i].purpose, "confirm") && !strcmp(ev[i].status, "ok")) {
            f += ev[i].fitness;
            t += ev[i].test_metric;
            k++;
        }
    *fitness = k ? f / k : NAN;
    *test = k ? t / k : NAN;
    return k;
}

static void print_evaluations(const arc_evaluation *ev, int n)
{
    if (n == 0) return;
    printf("evaluations:\n  %5s %-10s %-8s %6s %-12s %10s %10s %8s  %s\n", "id", "task",
           "purpose", "seed", "status", "fitness", "test", "seconds", "params");
    dc_safe_pool sp = {0};
    for (int i = 0; i < n; i++) {
        char b1[32], b2[32];
        printf("  %5lld %-10s %-8s %6lld %-12s %10s %10s %8.1f  %s\n", (long long)ev[i].id,
               dc_safe(&sp, ev[i].task, DC_SAFE_LINE),
               ev[i].purpose && ev[i].purpose[0] ? dc_safe(&sp, ev[i].purpose, DC_SAFE_LINE) : "-",
               (long long)ev[i].seed,
               dc_safe(&sp, ev[i].status, DC_SAFE_LINE), num(b1, sizeof b1, ev[i].fitness),
               num(b2, sizeof b2, ev[i].test_metric), ev[i].seconds,
               dc_safe(&sp, ev[i].params_json, DC_SAFE_LINE));
        if (ev[i].message[0]) printf("        %s\n", dc_safe(&sp, ev[i].message, DC_SAFE_LINE));
    }
    dc_safe_free(&sp);
}

static void print_text(archive *a, const arc_candidate *c, const arc_campaign *camp,
                       const arc_evaluation *ev, int nev, const arc_llm_call *call, int full)
{
    char b1[32], b2[32];
    /* Every archived text may come from the proposer or the candidate: escaped. */
    dc_safe_pool sp = {0};
#define SAFE(s) dc_safe(&sp, (s), DC_SAFE_LINE)
    printf("candidate %lld: %s\n", (long long)c->id, SAFE(c->name));
    printf("campaign:  %s (task %s), generation %d, island %d\n", camp ? SAFE(camp->name) : "?",
           camp ? SAFE(camp->task) : "?", c->generation, c->island);
    printf("status:    %s", SAFE(c->status));
    if (c->duplicate_of) printf(" (of candidate %lld)", (long long)c->duplicate_of);
    printf("\n");
    if (c->message[0]) printf("message:   %s\n", SAFE(c->message));
    printf("fitness:   %s (validation)   test metric: %s (held out)   %.1f s\n",
           c->has_fitness ? num(b1, sizeof b1, c->fitness) : "-",
           c->has_fitness ? num(b2, sizeof b2, c->test_metric) : "-", c->seconds);
    double t0;
    if (c->evaluator >= 0 && dc_utc_parse(c->eval_started_at, &t0) == 0) {
        char fin[40];
        dc_utc_iso_at(t0 + (isfinite(c->seconds) ? c->seconds : 0), fin, sizeof fin);
        printf("evaluator: %d   started %s   finished %s\n", c->evaluator, SAFE(c->eval_started_at),
               fin);
    } else {
        printf("evaluator: - (not recorded: never evaluated, or archived by an older discover)\n");
    }
    double cf, ct;
    int cn = confirmed_mean(ev, nev, &cf, &ct);
    if (cn)
        printf("confirmed: %s (mean validation over %d fresh seed%s)   test metric: %s\n",
               num(b1, sizeof b1, cf), cn, cn == 1 ? "" : "s", num(b2, sizeof b2, ct));
    printf("metrics:   %s\n", SAFE(c->metrics_json));
    printf("code hash: %s   fingerprint: %s\n", SAFE(c->code_hash),
           c->fingerprint[0] ? SAFE(c->fingerprint) : "-");
    printf("created:   %s\n", SAFE(c->created_at));
    print_parents(a, c->parents_json, NULL);
    printf("\nthought:\n");
    print_indented(c->thought);
    printf("\ncode:\n");
    print_indented(c->code);
    printf("\n");
    print_curves(&c->curves);
    print_evaluations(ev, nev);
    if (call) {
        printf("\nLLM exchange (call %lld, generation %d%s%s): HTTP %d, %d tokens in, %d out, "
               "%.2f s, cost %.4g%s%s\n",
               (long long)call->id, call->generation, call->model && call->model[0] ? ", model " : "",
               call->model ? SAFE(call->model) : "", call->http_status, call->tokens_in,
               call->tokens_out, call->latency_s, call->cost, call->error[0] ? ", error: " : "",
               SAFE(call->error));
        print_clipped("request", call->request_json, full);
        print_clipped("response", call->response_raw, full);
    } else {
        printf("\nLLM exchange: none (a seed baseline or an offline proposal)\n");
    }
    /* several models: how each did in this campaign (ls --models has the same) */
    arc_model_stat *ms = NULL;
    int nms = 0;
    char e[512];
    if (camp && archive_llm_model_stats(a, camp->id, &ms, &nms, e, sizeof e) != 0)
        fprintf(stderr, "discover show: no per-model statistics: %s\n", e);
    else if (nms > 1) {
        printf("\nModels of campaign %s:\n", SAFE(camp->name));
        for (int i = 0; i < nms; i++) {
            printf("  %s: %d calls, %lld tokens in, %lld out, cost %.4g, ok rate %.2f, best ",
                   SAFE(ms[i].model), ms[i].calls, ms[i].tokens_in, ms[i].tokens_out,
                   ms[i].cost, ms[i].calls ? (double)ms[i].ok / ms[i].calls : 0.0);
            if (ms[i].has_best) printf("%.4f\n", ms[i].best_fitness);
            else printf("-\n");
        }
    }
    arc_model_stats_free(ms, nms);
#undef SAFE
    dc_safe_free(&sp);
}

static int print_json(archive *a, const arc_candidate *c, const arc_campaign *camp,
                      const arc_evaluation *ev, int nev, const arc_llm_call *call)
{
    cJSON *o = arc_candidate_json(c, 1);
    if (camp) {
        cJSON_AddStringToObject(o, "campaign", camp->name);
        cJSON_AddStringToObject(o, "task", camp->task);
    }
    cJSON *parents = cJSON_CreateArray();
    print_parents(a, c->parents_json, parents);
    cJSON_ReplaceItemInObject(o, "parents", parents);
    cJSON_AddItemToObject(o, "curves", arc_curves_summary_json(&c->curves));
    double cf, ct;
    int cn = confirmed_mean(ev, nev, &cf, &ct);
    if (cn) {
        cJSON_AddNumberToObject(o, "confirmed_fitness", cf);
        cJSON_AddNumberToObject(o, "confirmed_test_metric", ct);
    } else {
        cJSON_AddNullToObject(o, "confirmed_fitness");
        cJSON_AddNullToObject(o, "confirmed_test_metric");
    }
    cJSON_AddNumberToObject(o, "confirmed_n", cn);
    cJSON *evs = cJSON_AddArrayToObject(o, "evaluations");
    for (int i = 0; i < nev; i++)
        cJSON_AddItemToArray(evs, arc_evaluation_json(&ev[i]));
    if (call)
        cJSON_AddItemToObject(o, "llm_call", arc_llm_call_json(call));
    else
        cJSON_AddNullToObject(o, "llm_call");
    /* per model of the campaign, as `ls --models --json` (empty without LLM calls) */
    cJSON *models = cJSON_AddArrayToObject(o, "campaign_models");
    arc_model_stat *ms = NULL;
    int nms = 0;
    char e[512];
    if (camp && archive_llm_model_stats(a, camp->id, &ms, &nms, e, sizeof e) != 0) {
        cJSON_Delete(o);
        return cli_error("show", "%s", e);
    }
    for (int i = 0; i < nms; i++)
        cJSON_AddItemToArray(models, cli_model_stats_json(camp->name, &ms[i]));
    arc_model_stats_free(ms, nms);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s) return cli_error("show", "out of memory while writing JSON");
    char *safe = dc_json_safe(s); // valid UTF-8 whatever the archived texts hold
    puts(safe);
    free(safe);
    cJSON_free(s);
    return EXIT_OK;
}

int cmd_show(int argc, char **argv)
{
    const char *path = archive_default_path(), *id_text = NULL;
    int json = 0, full = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--full")) {
            full = 1;
        } else if (!strcmp(a, "--archive")) {
            if (i + 1 >= argc) return cli_usage_error("show", "--archive needs a path");
            path = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("show", "unknown option '%s'", a);
        } else if (id_text) {
            return cli_usage_error("show", "one candidate id only (got '%s' and '%s')", id_text, a);
        } else {
            id_text = a;
        }
    }
    long id;
    if (!id_text) return cli_usage_error("show", "which candidate? give its id ('discover ls')");
    if (dc_parse_long(id_text, 1, 0x7fffffffL, &id))
        return cli_usage_error("show", "a candidate id is a whole number from 1, got '%s'",
                               id_text);

    char err[1024];
    archive *a;
    if (archive_open(path, ARC_READONLY, &a, err, sizeof err)) return cli_error("show", "%s", err);
    arc_candidate c;
    int rc = EXIT_OK, found = archive_candidate_get(a, id, &c, err, sizeof err);
    if (found != 0) {
        rc = found < 0
                 ? cli_error("show", "%s", err)
                 : cli_error("show", "no candidate %ld in %s; 'discover ls' lists them", id, path);
        archive_close(a);
        return rc;
    }
    arc_campaign camp;
    int have_camp = archive_campaign_by_id(a, c.campaign_id, &camp, err, sizeof err) == 0;
    arc_evaluation *ev = NULL;
    int nev = 0;
    arc_llm_call call;
    int have_call = 0;
    if (archive_evaluation_list(a, c.id, &ev, &nev, err, sizeof err)) {
        rc = cli_error("show", "%s", err);
    } else if (c.llm_call_id) {
        int got = archive_llm_call_get(a, c.llm_call_id, &call, err, sizeof err);
        if (got < 0) rc = cli_error("show", "%s", err);
        have_call = got == 0;
    }
    if (rc == EXIT_OK) {
        const arc_campaign *cp = have_camp ? &camp : NULL;
        const arc_llm_call *cl = have_call ? &call : NULL;
        if (json)
            rc = print_json(a, &c, cp, ev, nev, cl);
        else
            print_text(a, &c, cp, ev, nev, cl, full);
    }
    if (have_call) arc_llm_call_free(&call);
    for (int i = 0; i < nev; i++)
        arc_evaluation_free(&ev[i]);
    free(ev);
    if (have_camp) arc_campaign_free(&camp);
    arc_candidate_free(&c);
    archive_close(a);
    return rc;
}
