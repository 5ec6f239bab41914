/* test_inflight.c — LLM calls in flight while candidates train (`--jobs N --in-flight P`
 * with the llm proposer), end to end against the scripted server, which serves every
 * connection on a thread of its own and answers after a delay.
 *
 * Checked: calls overlap (the server saw 2..P connections at once, never more than P); every
 * generation gets exactly one candidate; the prompt of generation g shows every candidate of
 * generations <= g - P and none of generation >= g; --max-calls is never overshot with calls
 * in flight; a slow model holds up only what must see its result (a fast model's later
 * candidate is archived before the slow model's earlier one); a campaign SIGKILLed with
 * calls in flight resumes with every generation exactly once. */
#define _GNU_SOURCE
#include "tests/test.h"

#include "common/util.h"
#include "fake_llm_server.h"
#include "run_child.h"

#include <cJSON.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TASK_FLAGS "--set", "steps=30", "--set", "train_size=2000", "--set", "val_size=1000", \
                   "--set", "eval_every=30", "--baselines", "sce"

static char tmpdir[256];

/* Five working objectives with distinct names (the shipped files). */
static const char *const files[] = {"gce", "squared_error", "focal", "cross_entropy",
                                    "label_smoothing"};
static char *replies[5];

static void load_replies(void)
{
    for (int i = 0; i < 5; i++) {
        char path[512], e[256];
        snprintf(path, sizeof path, "%s/examples/objectives/fashion/%s.c", DC_SOURCE_DIR, files[i]);
        char *code = dc_read_file(path, 1 << 20, NULL, e, sizeof e);
        CHECK_MSG(code != NULL, "%s", e);
        /* names no prompt text contains by itself (the system prompt names known losses) */
        char name[64];
        snprintf(name, sizeof name, "zq%d_%s", i, files[i]);
        replies[i] = fake_llm_candidate_reply("Try this.", name, code ? code : "");
        free(code);
    }
}

/* One row per candidate of campaign c (generation 0 excluded): generation, id, name, call. */
typedef struct {
    int gen;
    long long id, call;
    char name[64], model[32];
} row;

static int load_rows(const char *db, const char *c, row *rows, int cap)
{
    sqlite3 *h = NULL;
    int n = 0;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close(h);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h,
                           "SELECT k.generation, k.id, k.name, coalesce(k.llm_call_id, 0), "
                           "coalesce(l.model, '') FROM candidates k JOIN campaigns c ON "
                           "c.id = k.campaign_id LEFT JOIN llm_calls l ON l.id = k.llm_call_id "
                           "WHERE c.name = ?1 AND k.generation > 0 ORDER BY k.generation, k.id",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, c, -1, SQLITE_STATIC) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW && n < cap) {
            row *r = &rows[n++];
            r->gen = sqlite3_column_int(st, 0);
            r->id = sqlite3_column_int64(st, 1);
            snprintf(r->name, sizeof r->name, "%s", (const char *)sqlite3_column_text(st, 2));
            r->call = sqlite3_column_int64(st, 3);
            snprintf(r->model, sizeof r->model, "%s", (const char *)sqlite3_column_text(st, 4));
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

/* The generation of the archived call whose request body is `body` (-1 if none). */
static int call_generation(const char *db, const char *body)
{
    sqlite3 *h = NULL;
    int g = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(h, "SELECT generation FROM llm_calls WHERE request_json = ?1", -1,
                               &st, NULL) == SQLITE_OK &&
            sqlite3_bind_text(st, 1, body, -1, SQLITE_STATIC) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            g = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return g;
}

/* Every generation 1..gens exactly once among rows. */
static void check_each_generation_once(const row *rows, int n, int gens, const char *what)
{
    CHECK_MSG(n == gens, "%s: %d candidates for %d generations", what, n, gens);
    for (int i = 0; i < n; i++)
        CHECK_MSG(rows[i].gen == i + 1, "%s: row %d has generation %d", what, i, rows[i].gen);
}

static void test_overlap_and_horizon(void)
{
    fake_llm *srv = fake_llm_start_opts(200);
    CHECK(srv != NULL);
    if (!srv) return;
    fake_llm_set_model_replies(srv, "m", (const char *const *)replies, 5);
    fake_llm_set_model_delay(srv, "m", 1.5);
    char db[300];
    snprintf(db, sizeof db, "%s/overlap.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "m",
                    "--jobs", "2", "--in-flight", "3", "--generations", "7", "--archive", db,
                    "--campaign", "o", "--quiet", TASK_FLAGS, NULL};
    char *err = NULL;
    int rc = run_child(argv, NULL, 180, NULL, &err);
    CHECK_MSG(rc == 0, "exit %d\nstderr:\n%s", rc, err ? err : "");
    free(err);
    CHECK(fake_llm_request_count(srv) == 7);
    int peak = fake_llm_peak_connections(srv);
    CHECK_MSG(peak >= 2 && peak <= 3, "peak connections %d (in flight: 3)", peak);

    row rows[16];
    int n = load_rows(db, "o", rows, 16);
    check_each_generation_once(rows, n, 7, "overlap");
    for (int i = 0; i < n; i++)
        for (int k = 0; k < i; k++) CHECK(rows[i].call != 0 && rows[i].call != rows[k].call);

    /* what each prompt shows: every candidate up to g - 3, none from g on. Names repeat
     * after five replies (requests take them in arrival order), so only names that occur
     * once are looked for. */
    for (int i = 0; i < fake_llm_request_count(srv); i++) {
        const char *body = fake_llm_request_body(srv, i);
        int g = call_generation(db, body);
        CHECK_MSG(g >= 1 && g <= 7, "request %d has no archived call", i);
        for (int k = 0; k < n; k++) {
            int repeated = 0;
            for (int j = 0; j < n; j++) repeated |= j != k && !strcmp(rows[j].name, rows[k].name);
            if (repeated) continue;
            int shown = strstr(body, rows[k].name) != NULL;
            if (rows[k].gen <= g - 3)
                CHECK_MSG(shown, "generation %d's prompt lacks '%s' (generation %d)", g,
                          rows[k].name, rows[k].gen);
            if (rows[k].gen >= g)
                CHECK_MSG(!shown, "generation %d's prompt shows '%s' of generation %d", g,
                          rows[k].name, rows[k].gen);
        }
    }
    fake_llm_stop(srv);
}

static void test_call_budget(void)
{
    fake_llm *srv = fake_llm_start_opts(200);
    CHECK(srv != NULL);
    if (!srv) return;
    fake_llm_set_model_replies(srv, "m", (const char *const *)replies, 5);
    fake_llm_set_model_delay(srv, "m", 1.0);
    char db[300];
    snprintf(db, sizeof db, "%s/budget.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "m",
                    "--jobs", "2", "--in-flight", "3", "--generations", "10", "--max-calls",
                    "4", "--archive", db, "--campaign", "b", "--quiet", TASK_FLAGS, NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv, NULL, 180, &out, &err);
    CHECK_MSG(rc == 0, "exit %d\nstderr:\n%s", rc, err ? err : "");
    CHECK_MSG(fake_llm_request_count(srv) == 4, "%d calls with --max-calls 4",
              fake_llm_request_count(srv));
    CHECK_MSG((out && strstr(out, "call budget reached")) || (err && strstr(err, "call budget reached")),
              "no budget message\nstdout:\n%s\nstderr:\n%s", out ? out : "", err ? err : "");
    free(out);
    free(err);
    row rows[16];
    int n = load_rows(db, "b", rows, 16);
    check_each_generation_once(rows, n, 4, "budget");
    fake_llm_stop(srv);
}

/* The scripted server with a fast model (0.2 s) and a slow one (6 s), both sending working
 * objectives; NULL when it cannot start. */
static fake_llm *fast_and_slow(double lifetime_s)
{
    fake_llm *srv = fake_llm_start_opts(lifetime_s);
    CHECK(srv != NULL);
    if (!srv) return NULL;
    fake_llm_set_model_replies(srv, "fast", (const char *const *)replies, 5);
    fake_llm_set_model_replies(srv, "slow", (const char *const *)replies + 4, 1);
    fake_llm_set_model_delay(srv, "fast", 0.2);
    fake_llm_set_model_delay(srv, "slow", 6.0);
    return srv;
}

/* a fast model (0.2 s) and a slow one (6 s) drawn with fixed weights */
static void test_slow_model(void)
{
    fake_llm *srv = fast_and_slow(200);
    if (!srv) return;
    char db[300];
    snprintf(db, sizeof db, "%s/slow.db", tmpdir);
    /* weights 1,1 with seed 8 draw slow, fast, fast, slow, fast, slow (checked below: a
     * change of the draws shows up as that failure, not as a silent pass) */
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "fast,slow",
                    "--model-weights", "1,1", "--seed", "8", "--jobs", "2", "--in-flight", "4",
                    "--generations", "6", "--archive", db, "--campaign", "s", "--quiet",
                    TASK_FLAGS, NULL};
    char *err = NULL;
    int rc = run_child(argv, NULL, 240, NULL, &err);
    CHECK_MSG(rc == 0, "exit %d\nstderr:\n%s", rc, err ? err : "");
    free(err);
    row rows[16];
    int n = load_rows(db, "s", rows, 16);
    check_each_generation_once(rows, n, 6, "slow");
    /* the first slow call among generations 1..4 (all sent at once) and a fast call of a
     * later generation among them: the fast candidate was archived first */
    int slow = -1, overtaken = 0;
    for (int i = 0; i < n && i < 4; i++)
        if (!strcmp(rows[i].model, "slow") && slow < 0) slow = i;
    CHECK_MSG(slow >= 0 && slow < 3, "no slow call among generations 1..3 (seed draws changed?)");
    for (int i = slow + 1; slow >= 0 && i < 4; i++)
        if (!strcmp(rows[i].model, "fast") && rows[i].id < rows[slow].id) overtaken++;
    CHECK_MSG(overtaken >= 1,
              "no fast candidate of a later generation was archived before the slow one");
    fake_llm_stop(srv);
}

/* Killed with generation 4's slow call in flight and generation 5's candidate archived: the
 * resumed run proposes generation 4 again (and 6, also out), then 7 and 8. */
static void test_kill_with_calls_in_flight(void)
{
    fake_llm *srv = fast_and_slow(280);
    if (!srv) return;
    char db[300];
    snprintf(db, sizeof db, "%s/kill.db", tmpdir);
    /* seed 8: slow, fast, fast, slow, fast, slow; in flight 3: generations 1-3 go out at
     * once, 4 once 1 is back (6 s), 5 and 6 once 2 and 3 are archived as well */
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "fast,slow",
                    "--model-weights", "1,1", "--seed", "8", "--jobs", "2", "--in-flight", "3",
                    "--generations", "8", "--archive", db, "--campaign", "k", "--quiet",
                    TASK_FLAGS, NULL};
    pid_t pid = spawn_child(argv, NULL);
    CHECK(pid > 0);
    /* kill it once generation 5's candidate is archived (4 is still out for seconds) */
    double until = dc_now() + 150;
    row rows[16];
    int n = 0, has5 = 0;
    while (!has5 && dc_now() < until) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        n = load_rows(db, "k", rows, 16);
        for (int i = 0; i < n; i++) has5 |= rows[i].gen == 5;
    }
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    int has4 = 0;
    for (int i = 0; i < n; i++) has4 |= rows[i].gen == 4;
    CHECK_MSG(has5 && !has4, "before the kill: generation 5 %s, generation 4 %s", has5 ? "in" : "out",
              has4 ? "in" : "out");
    fake_llm_set_model_delay(srv, "fast", 0.0);
    fake_llm_set_model_delay(srv, "slow", 0.0);
    char *argr[] = {(char *)discover_bin(), "run", "--campaign", "k", "--resume", "--archive", db,
                    "--api-base", (char *)fake_llm_base_url(srv), NULL};
    char *err = NULL;
    int rc = run_child(argr, NULL, 240, NULL, &err);
    CHECK_MSG(rc == 0, "resume exited %d\nstderr:\n%s", rc, err ? err : "");
    CHECK_MSG(err && strstr(err, "generation 4 has no candidate"), "stderr:\n%s", err ? err : "");
    free(err);
    n = load_rows(db, "k", rows, 16);
    check_each_generation_once(rows, n, 8, "resume");
    fake_llm_stop(srv);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/discover-test-inflight-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    setenv("DISCOVER_CACHE", tmpdir, 1);
    load_replies();
    test_overlap_and_horizon();
    test_call_budget();
    test_slow_model();
    test_kill_with_calls_in_flight();
    for (int i = 0; i < 5; i++) free(replies[i]);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
