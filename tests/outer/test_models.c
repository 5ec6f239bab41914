/* test_models.c — several LLMs in one campaign, end to end against the scripted server
 * answering by the request's `model`: "good" sends working objectives, each better than
 * the last (gce < squared_error < focal < cross_entropy < label_smoothing at this small
 * configuration, all above the seed baseline sce), "bad" sends code that does not compile.
 * Checked: bad lists are refused with a clear message; UCB tries each model once and then
 * sends at least 6 of 8 calls to good; every call archives its model; `ls --models --json`
 * matches the archived calls; --resume with a changed list drops the old model and tries
 * the new one first (good's archived history still counts); fixed weights are honoured;
 * --prompt-style discopop sends DiscoPOP's system prompt; Thompson sampling sends at least 5 of
 * 8 calls to good (7 with this seed). */
#define _GNU_SOURCE
#include "tests/test.h"

#include "archive/archive.h"
#include "common/util.h"
#include "fake_llm_server.h"
#include "run_child.h"

#include <cJSON.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TASK_FLAGS "--set", "steps=30", "--set", "train_size=2000", "--set", "val_size=1000", \
                   "--set", "eval_every=30", "--baselines", "sce"

static char tmpdir[256], db[300];

static const char *code_broken = "void objective(int n, int k, const double *logits, "
                                 "const int *labels, double *loss) { this is not C; }\n";

/* The model named by request i's body ("" when none). */
static int count_substr(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static int count_model(fake_llm *srv, int from, const char *model)
{
    int n = 0;
    char m[128];
    for (int i = from; i < fake_llm_request_count(srv); i++) {
        fake_llm_request_model(srv, i, m, sizeof m);
        n += !strcmp(m, model);
    }
    return n;
}

/* Calls of model archived for campaign c (straight from the table). */
static int archived_calls(const char *model, int *with_ok)
{
    sqlite3 *h = NULL;
    int n = -1;
    *with_ok = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(h,
                               "SELECT count(*), coalesce(sum(k.status = 'ok'), 0) FROM llm_calls l "
                               "JOIN campaigns c ON c.id = l.campaign_id LEFT JOIN candidates k "
                               "ON k.llm_call_id = l.id WHERE c.name = 'm' AND l.model = ?1",
                               -1, &st, NULL) == SQLITE_OK &&
            sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            n = sqlite3_column_int(st, 0);
            *with_ok = sqlite3_column_int(st, 1);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return n;
}

static void test_bad_lists(void)
{
    struct {
        const char *flag, *value, *extra_flag, *extra_value, *message;
    } cases[] = {
        {"--model", "good,bad", "--model-weights", "1", "1 weights but --model names 2"},
        {"--model", "good,,bad", "--model-select", "ucb", "empty model name"},
        {"--model", "good,bad", "--model-weights", "0,0", "all 0"},
        {"--model", "good,bad", "--model-weights", "1,-2", "negative"},
        {"--model", "good,bad", "--model-select", "greedy", "weights, ucb or thompson"},
        {"--model", "good,bad", "--price-in", "1,2,3", "price_in has 3 prices"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                        "--api-base", "http://127.0.0.1:9/v1", (char *)cases[i].flag,
                        (char *)cases[i].value, (char *)cases[i].extra_flag,
                        (char *)cases[i].extra_value, "--archive", db, "--campaign", "bad",
                        TASK_FLAGS, NULL};
        char *err = NULL;
        int rc = run_child(argv, NULL, 60, NULL, &err);
        CHECK_MSG(rc == 1 && err && strstr(err, cases[i].message),
                  "case %zu: exit %d, stderr: %s", i, rc, err ? err : "");
        free(err);
    }
}

static void test_bandit_and_resume(void)
{
    fake_llm *srv = fake_llm_start_opts(280);
    CHECK(srv != NULL);
    if (!srv) return;
    static const char *const good_files[] = {"gce", "squared_error", "focal", "cross_entropy",
                                             "label_smoothing"};
    char *good[5];
    for (int i = 0; i < 5; i++) {
        char path[512], e[256];
        snprintf(path, sizeof path, "%s/examples/objectives/fashion/%s.c", DC_SOURCE_DIR,
                 good_files[i]);
        char *code = dc_read_file(path, 1 << 20, NULL, e, sizeof e);
        CHECK_MSG(code != NULL, "%s", e);
        good[i] = fake_llm_candidate_reply("Try this.", good_files[i], code ? code : "");
        free(code);
    }
    char *bad = fake_llm_candidate_reply("Try this.", "broken", code_broken);
    fake_llm_set_model_replies(srv, "good", (const char *const *)good, 5);
    fake_llm_set_model_replies(srv, "bad", (const char *const *)&bad, 1);
    fake_llm_set_model_replies(srv, "other", (const char *const *)&bad, 1);

    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "bad,good",
                    "--model-select", "ucb", "--price-in", "1,0", "--price-out", "2,0",
                    "--generations", "8", "--archive", db, "--campaign", "m", "--retries", "0",
                    "--quiet", TASK_FLAGS, NULL};
    char *err = NULL;
    int rc = run_child(argv, NULL, 240, NULL, &err);
    CHECK_MSG(rc == 0, "discover run exited %d\nstderr:\n%s", rc, err ? err : "");
    free(err);
    CHECK(fake_llm_request_count(srv) == 8);
    char m0[64], m1[64];
    fake_llm_request_model(srv, 0, m0, sizeof m0);
    fake_llm_request_model(srv, 1, m1, sizeof m1);
    CHECK_MSG(!strcmp(m0, "bad") && !strcmp(m1, "good"), "UCB began with %s, %s", m0, m1);
    int ngood = count_model(srv, 0, "good");
    CHECK_MSG(ngood >= 6, "UCB sent %d of 8 calls to good", ngood);

    /* every call archived with its model; ls --models --json agrees with the archive */
    int ok_good, ok_bad;
    CHECK(archived_calls("good", &ok_good) == ngood);
    CHECK(archived_calls("bad", &ok_bad) == 8 - ngood);
    CHECK(ok_good == 5 && ok_bad == 0); /* the sixth good reply repeats the first: duplicate */
    char *lsv[] = {(char *)discover_bin(), "ls", "--models", "--archive", db, "--campaign", "m",
                   "--json", NULL};
    char *out = NULL;
    rc = run_child(lsv, NULL, 60, &out, NULL);
    CHECK(rc == 0);
    cJSON *arr = cJSON_Parse(out ? out : "");
    CHECK(cJSON_GetArraySize(arr) == 2);
    cJSON *row;
    cJSON_ArrayForEach(row, arr)
    {
        const char *model = cJSON_GetObjectItem(row, "model")->valuestring;
        int calls = cJSON_GetObjectItem(row, "calls")->valueint;
        int is_good = !strcmp(model, "good");
        CHECK(calls == (is_good ? ngood : 8 - ngood));
        CHECK(cJSON_GetObjectItem(row, "tokens_in")->valuedouble == 100.0 * calls);
        CHECK(cJSON_GetObjectItem(row, "tokens_out")->valuedouble == 50.0 * calls);
        /* bad: 100 tokens at 1 and 50 at 2 per million a call; good has no price */
        CHECK_NEAR(cJSON_GetObjectItem(row, "cost")->valuedouble, is_good ? 0 : 2e-4 * calls,
                   1e-12);
        CHECK_NEAR(cJSON_GetObjectItem(row, "ok_rate")->valuedouble,
                   is_good ? 5.0 / calls : 0.0, 1e-12);
        cJSON *best = cJSON_GetObjectItem(row, "best_fitness");
        CHECK(is_good ? cJSON_IsNumber(best) && best->valuedouble > 0.7 : cJSON_IsNull(best));
    }
    cJSON_Delete(arr);
    free(out);

    /* the report's model figure: a row per model, a line for good (bad scored nothing) and
     * one for the campaign, the table's calls as archived */
    char html[400];
    snprintf(html, sizeof html, "%s/models.html", tmpdir);
    char *repv[] = {(char *)discover_bin(), "report", "-o", html, "--archive", db,
                    "--campaign", "m", NULL};
    rc = run_child(repv, NULL, 120, NULL, NULL);
    CHECK(rc == 0);
    char e[256];
    char *page = dc_read_file(html, 1 << 26, NULL, e, sizeof e);
    CHECK_MSG(page != NULL, "%s", e);
    if (page) {
        CHECK(strstr(page, "id=\"fig-models\"") != NULL);
        CHECK(count_substr(page, "data-kind=\"model-row\"") == 2);
        CHECK(count_substr(page, "data-kind=\"model-line\"") == 1);
        CHECK(count_substr(page, "data-kind=\"campaign-line\"") == 1);
        char cell[64];
        snprintf(cell, sizeof cell, "<td>good</td><td>%d</td>", ngood);
        CHECK_MSG(strstr(page, cell) != NULL, "no row '%s'", cell);
        free(page);
    }

    /* --resume with bad dropped and other added: other, never tried, goes first (were
     * good's eight archived calls not counted, good, first in the list, would) */
    char *argr[] = {(char *)discover_bin(), "run", "--campaign", "m", "--resume", "--archive",
                    db, "--api-base", (char *)fake_llm_base_url(srv), "--model", "good,other",
                    "--price-in", "0", "--price-out", "0", "--generations", "9", "--quiet",
                    NULL};
    err = NULL;
    rc = run_child(argr, NULL, 240, NULL, &err);
    CHECK_MSG(rc == 0, "resume exited %d\nstderr:\n%s", rc, err ? err : "");
    free(err);
    CHECK(fake_llm_request_count(srv) == 9);
    char m8[64];
    fake_llm_request_model(srv, 8, m8, sizeof m8);
    CHECK_MSG(!strcmp(m8, "other"), "the resumed call went to '%s'", m8);
    CHECK(count_model(srv, 8, "bad") == 0);

    /* show: the call's model, and every model of the campaign (bad's calls are still there) */
    char *showv[] = {(char *)discover_bin(), "show", "2", "--archive", db, "--json", NULL};
    out = NULL;
    CHECK(run_child(showv, NULL, 60, &out, NULL) == 0);
    cJSON *shown = cJSON_Parse(out ? out : "");
    cJSON *call = cJSON_GetObjectItem(shown, "llm_call");
    CHECK(cJSON_IsString(cJSON_GetObjectItem(call, "model")) &&
          !strcmp(cJSON_GetObjectItem(call, "model")->valuestring, "bad"));
    cJSON *cm = cJSON_GetObjectItem(shown, "campaign_models");
    CHECK(cJSON_GetArraySize(cm) == 3);
    cJSON_Delete(shown);
    free(out);
    char *showt[] = {(char *)discover_bin(), "show", "2", "--archive", db, NULL};
    out = NULL;
    CHECK(run_child(showt, NULL, 60, &out, NULL) == 0);
    CHECK(out && strstr(out, "Models of campaign m:") && strstr(out, "  other: 1 calls"));
    free(out);

    /* fixed weights 0,1: every call to the second model; DiscoPOP's prompt on request;
     * cost-aware without prices: the run says once that they count as 0 */
    int before = fake_llm_request_count(srv);
    char *argw[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "good,bad",
                    "--model-weights", "0,1", "--generations", "4", "--archive", db,
                    "--campaign", "w", "--retries", "0", "--prompt-style", "discopop", "--quiet",
                    "--model-cost-aware", TASK_FLAGS, NULL};
    err = NULL;
    rc = run_child(argw, NULL, 240, NULL, &err);
    CHECK(rc == 0);
    const char *note = err ? strstr(err, "counts its calls as costing 0") : NULL;
    CHECK_MSG(note && !strstr(note + 1, "counts its calls as costing 0"), "stderr: %s",
              err ? err : "");
    free(err);
    CHECK(fake_llm_request_count(srv) - before == 4);
    CHECK(count_model(srv, before, "bad") == 4);
    const char *body = fake_llm_request_body(srv, before);
    CHECK(body && strstr(body, "researcher testing loss functions for image classification"));
    CHECK(body && !strstr(body, "Propose a different idea"));
    body = fake_llm_request_body(srv, 0);
    CHECK(body && strstr(body, "Propose a different idea")); /* the default style */

    /* Thompson sampling: the same models, most calls to good too */
    before = fake_llm_request_count(srv);
    char *argt[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "bad,good",
                    "--model-select", "thompson", "--generations", "8", "--archive", db,
                    "--campaign", "t", "--retries", "0", "--quiet", TASK_FLAGS, NULL};
    CHECK(run_child(argt, NULL, 240, NULL, NULL) == 0);
    CHECK(fake_llm_request_count(srv) - before == 8);
    int tgood = count_model(srv, before, "good");
    CHECK_MSG(tgood >= 5, "Thompson sent %d of 8 calls to good", tgood);

    fake_llm_stop(srv);
    for (int i = 0; i < 5; i++) free(good[i]);
    free(bad);
}

/* Cost-aware UCB: "cheap" and "pricey" both send working objectives that improve the best
 * (pricey's slightly more often: it gets the better ones), at prices 100x apart given in the
 * config file's [models] section. With --model-cost-aware most calls go to cheap; without
 * it pricey gets more of them. */
static int cost_run(fake_llm *srv, const char *campaign, int cost_aware)
{
    char cfgpath[400];
    snprintf(cfgpath, sizeof cfgpath, "%s/prices.cfg", tmpdir);
    FILE *f = fopen(cfgpath, "w");
    CHECK(f != NULL);
    if (!f) return -1;
    fputs("[models]\ncheap = 0.1, 0.1\npricey = 10, 10\n", f);
    fclose(f);
    int before = fake_llm_request_count(srv);
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "cheap,pricey",
                    "--model-select", "ucb", "--config", cfgpath, "--generations", "8",
                    "--archive", db, "--campaign", (char *)campaign, "--retries", "0", "--quiet",
                    TASK_FLAGS, cost_aware ? "--model-cost-aware" : NULL, NULL};
    char *err = NULL;
    int rc = run_child(argv, NULL, 240, NULL, &err);
    CHECK_MSG(rc == 0, "exit %d\nstderr:\n%s", rc, err ? err : "");
    free(err);
    CHECK(fake_llm_request_count(srv) - before == 8);
    return count_model(srv, before, "cheap");
}

static void test_cost_aware(void)
{
    fake_llm *srv = fake_llm_start_opts(280);
    CHECK(srv != NULL);
    if (!srv) return;
    static const char *const cheap_files[] = {"gce", "squared_error", "cross_entropy"};
    static const char *const pricey_files[] = {"focal", "label_smoothing"};
    char *cheap[3], *pricey[2];
    for (int i = 0; i < 5; i++) {
        const char *name = i < 3 ? cheap_files[i] : pricey_files[i - 3];
        char path[512], e[256];
        snprintf(path, sizeof path, "%s/examples/objectives/fashion/%s.c", DC_SOURCE_DIR, name);
        char *code = dc_read_file(path, 1 << 20, NULL, e, sizeof e);
        CHECK_MSG(code != NULL, "%s", e);
        char *r = fake_llm_candidate_reply("Try this.", name, code ? code : "");
        if (i < 3)
            cheap[i] = r;
        else
            pricey[i - 3] = r;
        free(code);
    }
    fake_llm_set_model_replies(srv, "cheap", (const char *const *)cheap, 3);
    fake_llm_set_model_replies(srv, "pricey", (const char *const *)pricey, 2);
    int plain = cost_run(srv, "plain", 0);
    int aware = cost_run(srv, "aware", 1);
    CHECK_MSG(aware >= 6, "cost-aware UCB sent %d of 8 calls to cheap", aware);
    CHECK_MSG(aware > plain, "cheap got %d calls cost-aware, %d without", aware, plain);
    /* the archived cost of a call follows its model's [models] price: 100 prompt and 50
     * completion tokens a call */
    sqlite3 *h = NULL;
    CHECK(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(h,
                             "SELECT l.model, min(l.cost), max(l.cost) FROM llm_calls l JOIN "
                             "campaigns c ON c.id = l.campaign_id WHERE c.name = 'aware' "
                             "GROUP BY l.model",
                             -1, &st, NULL) == SQLITE_OK);
    int models = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        double want = !strcmp(m, "cheap") ? 150 * 0.1 / 1e6 : 150 * 10 / 1e6;
        CHECK_NEAR(sqlite3_column_double(st, 1), want, 1e-12);
        CHECK_NEAR(sqlite3_column_double(st, 2), want, 1e-12);
        models++;
    }
    CHECK(models == 2);
    sqlite3_finalize(st);
    sqlite3_close(h);
    fake_llm_stop(srv);
    for (int i = 0; i < 3; i++) free(cheap[i]);
    for (int i = 0; i < 2; i++) free(pricey[i]);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/discover-test-models-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    setenv("DISCOVER_CACHE", tmpdir, 1);
    snprintf(db, sizeof db, "%s/models.db", tmpdir);
    test_bad_lists();
    test_bandit_and_resume();
    test_cost_aware();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
