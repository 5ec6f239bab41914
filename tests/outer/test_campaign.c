/* End-to-end tests of `discover run` against a scripted OpenAI-compatible server:
 * each kind of reply ends with the right status and its feedback is the next request's
 * last message; every call is archived; the API key appears only in the Authorization
 * header; budgets stop proposals; a campaign SIGKILLed mid-run resumes without losing or
 * repeating a candidate, and an LLM campaign resumes with no reply re-requested; failed
 * calls are archived and three in a row stop the campaign; a recorded campaign replays
 * without the LLM. */
#define _GNU_SOURCE
#include "tests/test.h"

#include "archive/archive.h"
#include "common/util.h"
#include "fake_llm_server.h"
#include "campaign_fixture.h"
#include "run_child.h"

#include <cJSON.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY "sk-test-KEY-7f3a9c"

static char tmpdir[256];

/* Small and fast: the point here is the outer loop, not accuracy. */
#define TASK_FLAGS "--set", "steps=30", "--set", "train_size=2000", "--set", "val_size=1000", \
                   "--set", "eval_every=30"

static const char *code_temp =
    "#include <math.h>\n"
    "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n"
    "{\n"
    "    const double T = 2.0;\n"
    "    for (int i = 0; i < n; i++) {\n"
    "        const double *z = logits + i * k;\n"
    "        double m = z[0] / T, s = 0.0;\n"
    "        for (int j = 1; j < k; j++) m = fmax(m, z[j] / T);\n"
    "        for (int j = 0; j < k; j++) s += exp(z[j] / T - m);\n"
    "        loss[i] = m + log(s) - z[labels[i]] / T;\n"
    "    }\n"
    "}\n";

static const char *code_bad_compile =
    "#include <math.h>\n"
    "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n"
    "{\n"
    "    for (int i = 0; i < n; i++) loss[i] = undefined_variable * logits[i * k];\n"
    "}\n";

static const char *code_hostile =
    "#include <math.h>\n"
    "int system(const char *);\n"
    "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n"
    "{\n"
    "    system(\"touch /tmp/discover-pwned\");\n"
    "    for (int i = 0; i < n; i++) loss[i] = logits[i * k];\n"
    "}\n";

static char *reply_json(const char *thought, const char *name, const char *code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "thought", thought);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "code", code);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

/* Label smoothing of strength eps: each eps behaves differently, so no two of these are
 * behavioural duplicates and every one is trained. */
static void code_smooth(double eps, char *buf, size_t cap)
{
    snprintf(buf, cap,
             "#include <math.h>\n"
             "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n"
             "{\n"
             "    for (int i = 0; i < n; i++) {\n"
             "        const double *z = logits + i * k;\n"
             "        double m = z[0];\n"
             "        for (int j = 1; j < k; j++) m = fmax(m, z[j]);\n"
             "        double s = 0.0;\n"
             "        for (int j = 0; j < k; j++) s += exp(z[j] - m);\n"
             "        double lse = m + log(s), mean = 0.0;\n"
             "        for (int j = 0; j < k; j++) mean += lse - z[j];\n"
             "        loss[i] = %.3f * (lse - z[labels[i]]) + %.3f * mean / k;\n"
             "    }\n"
             "}\n",
             1.0 - eps, eps);
}

/* The content of the last message of a recorded chat request. */
static char *last_message(fake_llm *srv, int i)
{
    const char *body = fake_llm_request_body(srv, i);
    cJSON *root = body ? cJSON_Parse(body) : NULL;
    cJSON *msgs = root ? cJSON_GetObjectItem(root, "messages") : NULL;
    int n = cJSON_GetArraySize(msgs);
    cJSON *last = n > 0 ? cJSON_GetArrayItem(msgs, n - 1) : NULL;
    cJSON *content = last ? cJSON_GetObjectItem(last, "content") : NULL;
    char *r = cJSON_IsString(content) ? dc_strdup(content->valuestring) : dc_strdup("");
    cJSON_Delete(root);
    return r;
}

static int file_contains(const char *path, const char *needle)
{
    char e[256];
    size_t len = 0;
    char *data = dc_read_file(path, 0, &len, e, sizeof e);
    if (!data) return 0;
    int found = memmem(data, len, needle, strlen(needle)) != NULL;
    free(data);
    return found;
}

typedef struct {
    int n;
    char status[64][32];
    int generation[64];
} statuses;

static void load_statuses(const char *db, const char *campaign, statuses *out)
{
    memset(out, 0, sizeof *out);
    archive *a;
    char e[512];
    if (archive_open(db, ARC_READONLY, &a, e, sizeof e) != 0) {
        fprintf(stderr, "open %s: %s\n", db, e);
        return;
    }
    arc_campaign c;
    if (archive_campaign_by_name(a, campaign, &c, e, sizeof e) == 0) {
        arc_filter f = {.campaign_id = c.id};
        arc_candidate *cands;
        int n;
        if (archive_candidate_list(a, &f, &cands, &n, e, sizeof e) == 0) {
            for (int i = 0; i < n && i < 64; i++) {
                snprintf(out->status[i], sizeof out->status[i], "%s", cands[i].status);
                out->generation[i] = cands[i].generation;
                arc_candidate_free(&cands[i]);
            }
            out->n = n < 64 ? n : 64;
            free(cands);
        }
        arc_campaign_free(&c);
    }
    archive_close(a);
}

static void test_llm_campaign(void)
{
    fake_llm *srv = fake_llm_start();
    CHECK(srv != NULL);
    if (!srv) return;
    char *a = reply_json("Smooth the targets a little.", "ce_smooth_005", fx_code_ls);
    char *b_json = reply_json("Squared error on probabilities is bounded.", "prob_sq", fx_code_sq);
    char *c_json = reply_json("A temperature softens the softmax.", "ce_temp2", code_temp);
    char b[8192], c[8192];
    snprintf(b, sizeof b, "```json\n%s\n```", b_json);
    snprintf(c, sizeof c, "Here is my next idea.\n\n%s\n\nI hope it does well.", c_json);
    const char *d = "{\"thought\": \"oops\", \"name\": \"broken\" \"code\": \"void objective(){}\"}";
    const char *e = "{\"thought\": \"forgot the code\", \"name\": \"no_code\"}";
    char *f = reply_json("This will not compile.", "bad_compile", code_bad_compile);
    char *g = reply_json("Let me look around.", "hostile", code_hostile);
    char *h = reply_json("Same idea, new words.", "renamed_copy", fx_code_ls_renamed);
    char *i9 = reply_json("Again.", "exact_copy", fx_code_ls);
    const char *replies[] = {a, b, c, d, e, f, g, h, i9};
    for (int i = 0; i < 9; i++) fake_llm_push_content(srv, replies[i], 1000 + i, 200 + i);

    char db[300];
    snprintf(db, sizeof db, "%s/llm.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "fake-model",
                    "--generations", "9", "--baselines", "cross_entropy", "--archive", db,
                    "--campaign", "t1", "--retries", "0", "--price-in", "1", "--price-out", "2",
                    TASK_FLAGS, "--json", NULL};
    char *env[] = {"DISCOVER_API_KEY=" KEY, NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv, env, 240, &out, &err);
    CHECK_MSG(rc == 0, "discover run exited %d\nstderr:\n%s", rc, err ? err : "");
    CHECK(fake_llm_request_count(srv) == 9);

    statuses st;
    load_statuses(db, "t1", &st);
    const char *expect[] = {"ok", "ok", "ok", "ok", "parse_error", "parse_error",
                            "compile_error", "violation", "duplicate", "duplicate"};
    CHECK_MSG(st.n == 10, "%d candidates", st.n);
    for (int i = 0; i < st.n && i < 10; i++)
        CHECK_MSG(!strcmp(st.status[i], expect[i]), "candidate %d: status %s, expected %s", i,
                  st.status[i], expect[i]);
    CHECK(access("/tmp/discover-pwned", F_OK) != 0);

    /* The feedback for candidate i is the last message of request i. */
    const char *feedback[] = {"Fitness: ", "Fitness: ", "Fitness: ", "Reply not understood",
                              "Reply not understood", "Code not valid. Error:",
                              "Only the listed math functions", "behaves exactly like"};
    /* JSON response mode is on by default: every request asks for a JSON object (the fake
     * server accepts it, so there is no fallback). */
    for (int i = 0; i < fake_llm_request_count(srv); i++)
        CHECK_MSG(strstr(fake_llm_request_body(srv, i),
                         "\"response_format\":{\"type\":\"json_object\"}") != NULL,
                  "request %d has no response_format", i);
    char *first = last_message(srv, 0);
    CHECK(strstr(first, "Here are some results we've obtained") != NULL);
    CHECK(strstr(first, "Name: cross_entropy") != NULL);
    free(first);
    for (int i = 1; i < 9; i++) {
        char *m = last_message(srv, i);
        CHECK_MSG(strstr(m, feedback[i - 1]) != NULL, "request %d ends with: %s", i, m);
        free(m);
    }
    char *m5 = last_message(srv, 5);
    CHECK_MSG(strstr(m5, "code") != NULL, "missing-key feedback names the key: %s", m5);
    free(m5);
    char *m6 = last_message(srv, 6);
    CHECK_MSG(strstr(m6, "undefined_variable") != NULL || strstr(m6, "line") != NULL,
              "compile feedback carries the compiler's message: %s", m6);
    free(m6);
    /* The key: in the Authorization header of every request, nowhere else. */
    for (int i = 0; i < fake_llm_request_count(srv); i++) {
        const char *auth = fake_llm_request_header(srv, i, "Authorization");
        CHECK(auth && !strcmp(auth, "Bearer " KEY));
        CHECK(!strstr(fake_llm_request_body(srv, i), KEY));
    }
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", db);
    CHECK(!file_contains(db, KEY));
    CHECK(!file_contains(wal, KEY));
    CHECK(!strstr(out ? out : "", KEY) && !strstr(err ? err : "", KEY));

    /* Every call archived, with tokens and cost. */
    archive *ar;
    char emsg[512];
    if (archive_open(db, ARC_READONLY, &ar, emsg, sizeof emsg) == 0) {
        arc_campaign camp;
        if (archive_campaign_by_name(ar, "t1", &camp, emsg, sizeof emsg) == 0) {
            int calls = 0;
            long long tokens = 0;
            double cost = 0;
            CHECK(archive_llm_totals(ar, camp.id, &calls, &tokens, &cost, emsg, sizeof emsg) == 0);
            CHECK(calls == 9);
            long long want_tokens = 0;
            double want_cost = 0;
            for (int i = 0; i < 9; i++) {
                want_tokens += 1000 + i + 200 + i;
                want_cost += (1000 + i) * 1e-6 + (200 + i) * 2e-6;
            }
            CHECK(tokens == want_tokens);
            CHECK_NEAR(cost, want_cost, 1e-9);
            arc_campaign_free(&camp);
        }
        archive_close(ar);
    }
    free(out);
    free(err);

    /* `discover replay`: the first LLM candidate again with two seeds, recorded as two
     * evaluations; a candidate that does not compile is rejected (exit 2). */
    char *argr[] = {(char *)discover_bin(), "replay", "2", "--archive", db, "--seeds", "3,4",
                    "--steps", "20", "--json", NULL};
    rc = run_child(argr, NULL, 120, &out, &err);
    CHECK_MSG(rc == 0, "replay 2 exited %d: %s", rc, err ? err : "");
    cJSON *evs = cJSON_Parse(out ? out : "");
    CHECK(cJSON_GetArraySize(evs) == 2);
    cJSON *ev0 = cJSON_GetArrayItem(evs, 0);
    CHECK(ev0 && cJSON_GetObjectItem(ev0, "seed")->valueint == 3);
    CHECK(ev0 && !strcmp(cJSON_GetObjectItem(ev0, "status")->valuestring, "ok"));
    cJSON_Delete(evs);
    free(out);
    free(err);
    if (archive_open(db, ARC_READONLY, &ar, emsg, sizeof emsg) == 0) {
        arc_evaluation *ev = NULL;
        int nev = 0;
        CHECK(archive_evaluation_list(ar, 2, &ev, &nev, emsg, sizeof emsg) == 0);
        CHECK(nev == 2);
        for (int i = 0; i < nev; i++) {
            CHECK(ev[i].seed == 3 + i && strstr(ev[i].params_json, "\"steps\":20"));
            arc_evaluation_free(&ev[i]);
        }
        free(ev);
        archive_close(ar);
    }
    char *argr2[] = {(char *)discover_bin(), "replay", "7", "--archive", db, NULL};
    rc = run_child(argr2, NULL, 120, &out, &err);
    CHECK_MSG(rc == 2 && err && strstr(err, "compile_error"), "replay 7 exited %d: %s", rc, err ? err : "");
    free(out);
    free(err);
    char *argr3[] = {(char *)discover_bin(), "replay", "999", "--archive", db, NULL};
    rc = run_child(argr3, NULL, 60, &out, &err);
    CHECK(rc == 1 && err && strstr(err, "no candidate 999"));
    free(out);
    free(err);

    /* Replay the recorded replies without the LLM: same outcomes. */
    char db2[300], src[320];
    snprintf(db2, sizeof db2, "%s/replay.db", tmpdir);
    snprintf(src, sizeof src, "replay:%s", db);
    char *argv2[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", src,
                     "--replay-campaign", "t1", "--generations", "20", "--baselines",
                     "cross_entropy", "--archive", db2, "--campaign", "again", TASK_FLAGS,
                     "--json", NULL};
    rc = run_child(argv2, NULL, 240, &out, &err);
    CHECK_MSG(rc == 0, "replay exited %d\nstderr:\n%s", rc, err ? err : "");
    CHECK(strstr(out ? out : "", "replay finished") != NULL);
    statuses st2;
    load_statuses(db2, "again", &st2);
    CHECK_MSG(st2.n == 10, "%d candidates replayed", st2.n);
    for (int i = 0; i < st2.n && i < 10; i++) CHECK_STR(st2.status[i], expect[i]);
    CHECK(fake_llm_request_count(srv) == 9); /* no new LLM call */
    free(out);
    free(err);
    free(a);
    free(b_json);
    free(c_json);
    free(f);
    free(g);
    free(h);
    free(i9);
    fake_llm_stop(srv);
}

static void test_budget(void)
{
    fake_llm *srv = fake_llm_start();
    if (!srv) return;
    char *a = reply_json("t", "ce_smooth_005", fx_code_ls);
    char *b = reply_json("t", "prob_sq", fx_code_sq);
    char *c = reply_json("t", "ce_temp2", code_temp);
    fake_llm_push_content(srv, a, 10, 10);
    fake_llm_push_content(srv, b, 10, 10);
    fake_llm_push_content(srv, c, 10, 10);
    char db[300];
    snprintf(db, sizeof db, "%s/budget.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "m", "--generations",
                    "10", "--baselines", "cross_entropy", "--archive", db, "--campaign", "b",
                    "--max-calls", "2", TASK_FLAGS, "--json", NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv, NULL, 240, &out, &err);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err ? err : "");
    CHECK(fake_llm_request_count(srv) == 2);
    cJSON *sum = cJSON_Parse(out ? out : "");
    cJSON *status = cJSON_GetObjectItem(sum, "status");
    CHECK(cJSON_IsString(status) && !strcmp(status->valuestring, "budget"));
    cJSON *note = cJSON_GetObjectItem(sum, "note");
    CHECK(cJSON_IsString(note) && strstr(note->valuestring, "call budget") != NULL);
    cJSON_Delete(sum);
    free(out);
    free(err);
    free(a);
    free(b);
    free(c);
    fake_llm_stop(srv);
}

static int count_final(const char *db, const char *campaign)
{
    statuses st;
    load_statuses(db, campaign, &st);
    int n = 0;
    for (int i = 0; i < st.n; i++) n += strcmp(st.status[i], "pending") != 0;
    return n;
}

static void test_resume_after_sigkill(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/resume.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "evolve",
                    "--generations", "6", "--archive", db, "--campaign", "r1", "--seed", "7",
                    TASK_FLAGS, "--set", "steps=60", NULL};
    pid_t pid = spawn_child(argv, NULL);
    CHECK(pid > 0);
    /* Kill it once a few candidates are archived (bounded wait). */
    double t0 = dc_now();
    int killed = 0;
    while (dc_now() - t0 < 120) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        if (access(db, F_OK) == 0 && count_final(db, "r1") >= 6) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            killed = 1;
            break;
        }
        usleep(20000);
    }
    CHECK_MSG(killed, "the campaign finished before it could be killed");
    statuses before;
    load_statuses(db, "r1", &before);

    char *argv2[] = {(char *)discover_bin(), "run", "--archive", db, "--campaign", "r1",
                     "--resume", "--json", NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv2, NULL, 240, &out, &err);
    CHECK_MSG(rc == 0, "resume exited %d: %s", rc, err ? err : "");
    statuses after;
    load_statuses(db, "r1", &after);
    /* Nothing lost: every candidate archived before the kill is still there. */
    CHECK(after.n >= before.n);
    for (int i = 0; i < before.n; i++)
        if (strcmp(before.status[i], "pending"))
            CHECK_STR(after.status[i], before.status[i]);
    /* Nothing pending, and each generation 1..6 proposed exactly once. */
    int per_gen[8] = {0};
    for (int i = 0; i < after.n; i++) {
        CHECK(strcmp(after.status[i], "pending") && strcmp(after.status[i], "interrupted"));
        if (after.generation[i] >= 1 && after.generation[i] <= 6) per_gen[after.generation[i]]++;
        CHECK(after.generation[i] >= 0 && after.generation[i] <= 6);
    }
    for (int g = 1; g <= 6; g++) CHECK_MSG(per_gen[g] == 1, "generation %d: %d candidates", g, per_gen[g]);

    /* An uninterrupted campaign with the same seed proposes the same sequence. */
    char db2[300];
    snprintf(db2, sizeof db2, "%s/straight.db", tmpdir);
    char *argv3[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "evolve",
                     "--generations", "6", "--archive", db2, "--campaign", "r1", "--seed", "7",
                     TASK_FLAGS, "--set", "steps=60", NULL};
    free(out);
    free(err);
    rc = run_child(argv3, NULL, 240, NULL, NULL);
    CHECK(rc == 0);
    archive *x, *y;
    char e[512];
    if (archive_open(db, ARC_READONLY, &x, e, sizeof e) == 0 &&
        archive_open(db2, ARC_READONLY, &y, e, sizeof e) == 0) {
        arc_filter f = {.with_code = 1};
        arc_candidate *cx, *cy;
        int nx, ny;
        CHECK(archive_candidate_list(x, &f, &cx, &nx, e, sizeof e) == 0);
        CHECK(archive_candidate_list(y, &f, &cy, &ny, e, sizeof e) == 0);
        CHECK(nx == ny);
        for (int i = 0; i < nx && i < ny; i++) {
            CHECK_STR(cx[i].code, cy[i].code);
            CHECK_STR(cx[i].status, cy[i].status);
        }
        for (int i = 0; i < nx; i++) arc_candidate_free(&cx[i]);
        for (int i = 0; i < ny; i++) arc_candidate_free(&cy[i]);
        free(cx);
        free(cy);
        archive_close(x);
        archive_close(y);
    }
}

/* Ctrl-C: the run stops gracefully (exit 0), the campaign is "interrupted", the candidate in
 * flight (if any) is recorded as interrupted; --resume finishes the campaign. */
static void test_ctrl_c(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/sigint.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--generations", "8",
                    "--archive", db, "--campaign", "c", TASK_FLAGS, "--set", "steps=400", NULL};
    pid_t pid = spawn_child(argv, NULL);
    CHECK(pid > 0);
    double t0 = dc_now();
    int status = -1, sent = 0;
    while (dc_now() - t0 < 120) {
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        if (!sent && access(db, F_OK) == 0 && count_final(db, "c") >= 5) {
            usleep(150000); /* most likely mid-training now */
            kill(pid, SIGINT);
            sent = 1;
        }
        usleep(20000);
    }
    if (waitpid(pid, &status, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CHECK(sent);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    archive *a;
    char e[512];
    if (archive_open(db, ARC_READONLY, &a, e, sizeof e) == 0) {
        arc_campaign c;
        if (archive_campaign_by_name(a, "c", &c, e, sizeof e) == 0) {
            CHECK_STR(c.status, "interrupted");
            arc_campaign_free(&c);
        }
        archive_close(a);
    }
    statuses st;
    load_statuses(db, "c", &st);
    for (int i = 0; i < st.n; i++) CHECK(strcmp(st.status[i], "pending") != 0);
    char *argv2[] = {(char *)discover_bin(), "run", "--archive", db, "--campaign", "c",
                     "--resume", "--quiet", NULL};
    CHECK(run_child(argv2, NULL, 240, NULL, NULL) == 0);
    load_statuses(db, "c", &st);
    int gens = 0;
    for (int i = 0; i < st.n; i++) {
        CHECK(strcmp(st.status[i], "pending") && strcmp(st.status[i], "interrupted"));
        gens += st.generation[i] > 0;
    }
    CHECK(gens == 8);
}

/* Generation 0 is completed on resume (a campaign stopped during its baselines trains the
 * missing ones), and a baseline that does not exist is refused before anything is trained. */
static void test_baselines(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/base.db", tmpdir);
    char *a1[] = {(char *)discover_bin(), "run", "--generations", "0", "--baselines",
                  "cross_entropy", "--archive", db, "--campaign", "g0", TASK_FLAGS, "--quiet", NULL};
    CHECK(run_child(a1, NULL, 120, NULL, NULL) == 0);
    char *a2[] = {(char *)discover_bin(), "run", "--resume", "--baselines", "cross_entropy,focal",
                  "--archive", db, "--campaign", "g0", "--quiet", NULL};
    CHECK(run_child(a2, NULL, 120, NULL, NULL) == 0);
    statuses st;
    load_statuses(db, "g0", &st);
    CHECK_MSG(st.n == 2, "%d candidates in generation 0", st.n);
    char *out = NULL, *err = NULL;
    char *a3[] = {(char *)discover_bin(), "run", "--baselines", "cross_entropy,nope", "--archive",
                  db, "--campaign", "g1", TASK_FLAGS, NULL};
    CHECK(run_child(a3, NULL, 120, &out, &err) == 1);
    CHECK_MSG(err && strstr(err, "baseline 'nope'"), "%s", err ? err : "");
    load_statuses(db, "g1", &st);
    CHECK(st.n == 0);
    free(out);
    free(err);
}

static void test_bad_flags(void)
{
    char *out = NULL, *err = NULL;
    char *a1[] = {(char *)discover_bin(), "run", "--task", "chess", NULL};
    CHECK(run_child(a1, NULL, 30, &out, &err) == 1);
    CHECK(err && strstr(err, "unknown task 'chess'") && strstr(err, "fashion"));
    free(out);
    free(err);
    char *a2[] = {(char *)discover_bin(), "run", "--generations", "many", NULL};
    CHECK(run_child(a2, NULL, 30, &out, &err) == 1);
    CHECK(err && strstr(err, "generations"));
    free(out);
    free(err);
    char *a3[] = {(char *)discover_bin(), "run", "--set", "steps=-5", "--archive", "/nonexistent/x.db", NULL};
    CHECK(run_child(a3, NULL, 30, &out, &err) == 1);
    CHECK(err && strstr(err, "steps"));
    free(out);
    free(err);
    char *a4[] = {(char *)discover_bin(), "run", "--resume", "--campaign", "nope", "--archive",
                  "/nonexistent/x.db", NULL};
    CHECK(run_child(a4, NULL, 30, &out, &err) == 1);
    free(out);
    free(err);
}

/* ---------------------------------------------------------------- archive helpers */

typedef struct {
    archive *a;
    arc_campaign camp;
    arc_candidate *cands;
    int ncands;
    arc_llm_call *calls;
    int ncalls;
} snapshot;

/* Reads a campaign's candidates and LLM calls; 0 when the archive and campaign exist. */
static int snapshot_load(const char *db, const char *campaign, snapshot *s)
{
    memset(s, 0, sizeof *s);
    char e[512];
    if (access(db, F_OK) != 0 || archive_open(db, ARC_READONLY, &s->a, e, sizeof e) != 0) return -1;
    if (archive_campaign_by_name(s->a, campaign, &s->camp, e, sizeof e) != 0) {
        archive_close(s->a);
        s->a = NULL;
        return -1;
    }
    arc_filter f = {.campaign_id = s->camp.id, .with_code = 1};
    if (archive_candidate_list(s->a, &f, &s->cands, &s->ncands, e, sizeof e) != 0 ||
        archive_llm_call_list(s->a, s->camp.id, &s->calls, &s->ncalls, e, sizeof e) != 0) {
        fprintf(stderr, "%s: %s\n", db, e);
        return -1;
    }
    return 0;
}

static void snapshot_free(snapshot *s)
{
    for (int i = 0; i < s->ncands; i++) arc_candidate_free(&s->cands[i]);
    free(s->cands);
    for (int i = 0; i < s->ncalls; i++) arc_llm_call_free(&s->calls[i]);
    free(s->calls);
    if (s->a) {
        arc_campaign_free(&s->camp);
        archive_close(s->a);
    }
    memset(s, 0, sizeof *s);
}

/* The campaign's archived status into out ("" when it cannot be read). */
static void campaign_status(const char *db, const char *campaign, char *out, size_t cap)
{
    snapshot s;
    out[0] = '\0';
    if (snapshot_load(db, campaign, &s) == 0) snprintf(out, cap, "%s", s.camp.status);
    snapshot_free(&s);
}

/* Waits (bounded) until the run has a pending candidate of generation >= gen that came from
 * an archived LLM reply, then SIGKILLs it: the crash lands while that candidate trains,
 * when no request is in flight. Returns the candidate's id, or 0 when the run ended first
 * (*killed_gen gets its generation). */
static int64_t kill_while_pending(pid_t pid, const char *db, const char *campaign, int gen,
                                  int *killed_gen)
{
    double t0 = dc_now();
    while (dc_now() - t0 < 120) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) return 0;
        snapshot s;
        int64_t id = 0;
        if (snapshot_load(db, campaign, &s) == 0) {
            for (int i = 0; i < s.ncands && !id; i++)
                if (!strcmp(s.cands[i].status, "pending") && s.cands[i].generation >= gen &&
                    s.cands[i].llm_call_id > 0) {
                    id = s.cands[i].id;
                    *killed_gen = s.cands[i].generation;
                }
        }
        snapshot_free(&s);
        if (id) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return id;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

/* Removes a pending candidate row, leaving its LLM reply archived: exactly what a crash
 * between archiving a reply and writing its candidate leaves (a window too narrow to hit
 * with a signal). */
static int drop_pending_candidate(const char *db, int64_t id)
{
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite3_open %s: %s\n", db, h ? sqlite3_errmsg(h) : "out of memory");
        sqlite3_close(h);
        return -1;
    }
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM candidates WHERE id = %lld AND status = 'pending'",
             (long long)id);
    char *msg = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
    int changed = sqlite3_changes(h);
    if (rc != SQLITE_OK) fprintf(stderr, "%s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(h);
    return rc == SQLITE_OK && changed == 1 ? 0 : -1;
}

/* An LLM campaign SIGKILLed twice: once while a candidate trains (--resume re-runs it in
 * place), once with a reply archived but its candidate never written (--resume adopts the
 * reply). Over the three runs the server is asked exactly once per generation. */
static void test_llm_resume_after_sigkill(void)
{
    enum { GENS = 6 };
    fake_llm *srv = fake_llm_start();
    CHECK(srv != NULL);
    if (!srv) return;
    for (int g = 1; g <= GENS; g++) {
        char code[2048], name[32];
        code_smooth(0.02 * g, code, sizeof code);
        snprintf(name, sizeof name, "smooth_%d", g);
        char *r = reply_json("Smooth a little more.", name, code);
        fake_llm_push_content(srv, r, 100, 20);
        free(r);
    }
    char db[300];
    snprintf(db, sizeof db, "%s/llm-resume.db", tmpdir);
    /* steps=120: a candidate trains for about half a second, the window the kill aims at. */
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "m",
                    "--generations", "6", "--baselines", "cross_entropy", "--archive", db,
                    "--campaign", "lr", "--retries", "0", TASK_FLAGS, "--set", "steps=120", NULL};
    char *resume[] = {(char *)discover_bin(), "run", "--archive", db, "--campaign", "lr",
                      "--resume", NULL};
    char *env[] = {"DISCOVER_API_KEY=" KEY, NULL};

    pid_t pid = spawn_child(argv, env);
    CHECK(pid > 0);
    int gen1 = 0, gen2 = 0;
    int64_t k1 = kill_while_pending(pid, db, "lr", 2, &gen1);
    CHECK_MSG(k1 > 0, "the first run ended before it could be killed");
    snapshot s;
    int calls1 = 0;
    if (snapshot_load(db, "lr", &s) == 0) calls1 = s.ncalls;
    snapshot_free(&s);
    /* Killed while training: every request served was archived, none was in flight. */
    CHECK_MSG(fake_llm_request_count(srv) == calls1 && calls1 == gen1,
              "%d requests served, %d calls archived, killed in generation %d",
              fake_llm_request_count(srv), calls1, gen1);

    pid = spawn_child(resume, env);
    CHECK(pid > 0);
    int64_t k2 = kill_while_pending(pid, db, "lr", gen1 + 2, &gen2);
    CHECK_MSG(k2 > 0, "the second run ended before it could be killed");
    int calls2 = 0;
    if (snapshot_load(db, "lr", &s) == 0) calls2 = s.ncalls;
    snapshot_free(&s);
    CHECK_MSG(fake_llm_request_count(srv) == calls2 && calls2 == gen2,
              "%d requests served, %d calls archived, killed in generation %d",
              fake_llm_request_count(srv), calls2, gen2);
    CHECK(k2 <= 0 || drop_pending_candidate(db, k2) == 0);

    char *out = NULL, *err = NULL;
    int rc = run_child(resume, env, 120, &out, &err);
    CHECK_MSG(rc == 0, "final resume exited %d: %s", rc, err ? err : "");
    CHECK_MSG(err && strstr(err, "adopting the archived LLM reply"), "stderr: %s", err ? err : "");
    free(out);
    free(err);

    /* Asked once per generation over the three runs: the re-run candidate and the adopted
     * reply cost no new request. */
    CHECK_MSG(fake_llm_request_count(srv) == GENS, "%d requests", fake_llm_request_count(srv));
    CHECK(fake_llm_pending(srv) == 0);
    if (snapshot_load(db, "lr", &s) == 0) {
        CHECK_STR(s.camp.status, "finished");
        CHECK_MSG(s.ncalls == GENS, "%d calls archived", s.ncalls);
        CHECK_MSG(s.ncands == GENS + 1, "%d candidates", s.ncands);
        int per_gen[GENS + 1] = {0};
        for (int i = 0; i < s.ncands; i++) {
            const arc_candidate *c = &s.cands[i];
            CHECK_MSG(!strcmp(c->status, "ok"), "candidate %lld: %s %s", (long long)c->id,
                      c->status, c->message);
            if (c->generation < 0 || c->generation > GENS) {
                CHECK_MSG(0, "generation %d", c->generation);
                continue;
            }
            per_gen[c->generation]++;
            if (c->generation == 0) continue;
            /* Generation g is reply g, linked to the g-th archived call. */
            char name[32];
            snprintf(name, sizeof name, "smooth_%d", c->generation);
            CHECK_STR(c->name, name);
            int g = c->generation;
            CHECK(g <= s.ncalls && c->llm_call_id == s.calls[g - 1].id &&
                  s.calls[g - 1].generation == g);
        }
        for (int g = 0; g <= GENS; g++)
            CHECK_MSG(per_gen[g] == 1, "generation %d: %d candidates", g, per_gen[g]);
        for (int i = 0; i < s.ncalls; i++) CHECK_STR(s.calls[i].error, "");
    } else {
        CHECK_MSG(0, "cannot read campaign lr in %s", db);
    }
    snapshot_free(&s);
    fake_llm_stop(srv);
}

/* The server fails every call: each failed call is archived with its error and status,
 * three failed proposals in a row stop the campaign (exit 2) without touching what was
 * archived, and --resume continues once the server is back. */
static void test_llm_faults(void)
{
    fake_llm *srv = fake_llm_start();
    CHECK(srv != NULL);
    if (!srv) return;
    char *a = reply_json("t", "ce_smooth_005", fx_code_ls);
    char *b = reply_json("t", "prob_sq", fx_code_sq);
    char *c = reply_json("t", "ce_temp2", code_temp);
    fake_llm_push_content(srv, a, 10, 10);
    fake_llm_push_content(srv, b, 10, 10);
    /* Retry-After: 0 keeps the retry immediate (the default back-off would wait up to 1 s). */
    fake_llm_reply down = {.status = 500, .headers = "Retry-After: 0\r\n",
                           .body = "{\"error\":{\"message\":\"upstream overloaded\"}}",
                           .truncate_at = FAKE_LLM_WHOLE};
    fake_llm_set_fallback(srv, &down);
    char db[300];
    snprintf(db, sizeof db, "%s/faults.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "m",
                    "--generations", "5", "--baselines", "cross_entropy", "--archive", db,
                    "--campaign", "f", "--retries", "1", TASK_FLAGS, NULL};
    char *env[] = {"DISCOVER_API_KEY=" KEY, NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv, env, 120, &out, &err);
    CHECK_MSG(rc == 2, "exit %d: %s", rc, err ? err : "");
    CHECK_MSG(err && strstr(err, "3 proposals in a row failed") && strstr(err, "--resume") &&
                  strstr(err, "HTTP 500") && strstr(err, "upstream overloaded"),
              "stderr: %s", err ? err : "");
    CHECK(!strstr(err ? err : "", KEY));
    free(out);
    free(err);
    /* Two good calls, then three proposals of two attempts each (--retries 1). */
    CHECK_MSG(fake_llm_request_count(srv) == 2 + 3 * 2, "%d requests", fake_llm_request_count(srv));

    snapshot s;
    if (snapshot_load(db, "f", &s) == 0) {
        CHECK_STR(s.camp.status, "failed");
        CHECK_MSG(s.ncalls == 5, "%d calls archived", s.ncalls);
        for (int i = 0; i < s.ncalls; i++) {
            const arc_llm_call *k = &s.calls[i];
            if (i < 2) {
                CHECK(!strcmp(k->error, "") && k->http_status == 200 && k->generation == i + 1);
                continue;
            }
            /* Every failed call: its generation, the status, the server's words, the
             * attempts, and the body as received. */
            CHECK(k->generation == 3 && k->http_status == 500);
            CHECK_MSG(strstr(k->error, "HTTP 500") && strstr(k->error, "upstream overloaded") &&
                          strstr(k->error, "gave up after 2 attempts"),
                      "call %d error: %s", i, k->error);
            CHECK(strstr(k->response_raw, "upstream overloaded") != NULL);
        }
        /* What was archived before the failures is intact. */
        CHECK_MSG(s.ncands == 3, "%d candidates", s.ncands);
        const char *names[] = {"cross_entropy", "ce_smooth_005", "prob_sq"};
        for (int i = 0; i < s.ncands && i < 3; i++) {
            CHECK_STR(s.cands[i].name, names[i]);
            CHECK_STR(s.cands[i].status, "ok");
            CHECK(s.cands[i].generation == i && s.cands[i].has_fitness);
            CHECK(i == 0 || s.cands[i].llm_call_id == s.calls[i - 1].id);
        }
    } else {
        CHECK_MSG(0, "cannot read campaign f in %s", db);
    }
    snapshot_free(&s);

    /* The server is back: --resume goes on at generation 3; the failed calls are not
     * mistaken for replies to adopt. */
    fake_llm_set_fallback(srv, NULL);
    fake_llm_push_content(srv, c, 10, 10);
    char *resume[] = {(char *)discover_bin(), "run", "--archive", db, "--campaign", "f",
                      "--resume", "--generations", "3", NULL};
    rc = run_child(resume, env, 120, &out, &err);
    CHECK_MSG(rc == 0, "resume exited %d: %s", rc, err ? err : "");
    CHECK(!strstr(err ? err : "", "adopting"));
    free(out);
    free(err);
    CHECK(fake_llm_request_count(srv) == 9);
    if (snapshot_load(db, "f", &s) == 0) {
        CHECK_STR(s.camp.status, "finished");
        CHECK_MSG(s.ncands == 4, "%d candidates", s.ncands);
        if (s.ncands == 4) {
            CHECK(s.cands[3].generation == 3 && s.cands[3].llm_call_id == s.calls[s.ncalls - 1].id);
            CHECK_STR(s.cands[3].name, "ce_temp2");
        }
    }
    snapshot_free(&s);
    free(a);
    free(b);
    free(c);
    fake_llm_stop(srv);
}

/* --max-tokens and --max-cost: each is checked against the archived totals before a call,
 * so the campaign stops at the first call that would start at or past the cap, cleanly
 * (exit 0, status budget) and says which budget. */
static void test_budget_tokens_cost(void)
{
    for (int which = 0; which < 2; which++) {
        fake_llm *srv = fake_llm_start();
        CHECK(srv != NULL);
        if (!srv) return;
        const char *codes[] = {fx_code_ls, fx_code_sq, code_temp, fx_code_ls_renamed};
        for (int i = 0; i < 4; i++) {
            char name[16];
            snprintf(name, sizeof name, "c%d", i);
            char *r = reply_json("t", name, codes[i]);
            fake_llm_push_content(srv, r, 300, 100); /* 400 tokens, cost 0.08 per call */
            free(r);
        }
        char db[300], camp[16];
        snprintf(db, sizeof db, "%s/budget-%d.db", tmpdir, which);
        snprintf(camp, sizeof camp, "b%d", which);
        /* Tokens: 0, 400, 800 are under 1000, so 3 calls; cost: 0, 0.08 under 0.15, 2. */
        const char *flag = which == 0 ? "--max-tokens" : "--max-cost";
        const char *cap = which == 0 ? "1000" : "0.15";
        const int want_calls = which == 0 ? 3 : 2;
        char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                        "--api-base", (char *)fake_llm_base_url(srv), "--model", "m",
                        "--generations", "10", "--baselines", "cross_entropy", "--archive", db,
                        "--campaign", camp, "--price-in", "100", "--price-out", "500",
                        (char *)flag, (char *)cap, TASK_FLAGS, NULL};
        char *out = NULL, *err = NULL;
        int rc = run_child(argv, NULL, 120, &out, &err);
        CHECK_MSG(rc == 0, "%s: exit %d: %s", flag, rc, err ? err : "");
        CHECK_MSG(fake_llm_request_count(srv) == want_calls, "%s: %d requests", flag,
                  fake_llm_request_count(srv));
        const char *says = which == 0 ? "token budget reached: 1200 of 1000 tokens used"
                                      : "cost budget reached: 0.1600 of 0.1500 spent";
        CHECK_MSG(err && strstr(err, says) && strstr(err, "no new proposals") &&
                      strstr(err, "' budget: "),
                  "%s: stderr: %s", flag, err ? err : "");
        free(out);
        free(err);
        char status[32];
        campaign_status(db, camp, status, sizeof status);
        CHECK_STR(status, "budget");
        archive *a;
        char e[512];
        if (archive_open(db, ARC_READONLY, &a, e, sizeof e) == 0) {
            arc_campaign c;
            if (archive_campaign_by_name(a, camp, &c, e, sizeof e) == 0) {
                int calls = 0;
                long long tokens = 0;
                double cost = 0;
                CHECK(archive_llm_totals(a, c.id, &calls, &tokens, &cost, e, sizeof e) == 0);
                CHECK(calls == want_calls);
                if (which == 0) CHECK_MSG(tokens >= 1000, "%lld tokens", tokens);
                else CHECK_MSG(cost >= 0.15, "cost %g", cost);
                arc_campaign_free(&c);
            }
            archive_close(a);
        }
        fake_llm_stop(srv);
    }
}

/* A candidate whose objective makes system call nr on the archive's own path (raw inline
 * asm: no libc needed), a1 its second argument. */
static void code_syscall_on(char *buf, size_t cap, long nr, const char *path, long a1)
{
    snprintf(buf, cap,
             "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n"
             "{\n"
             "    static const char path[] = \"%s\";\n"
             "    long r, a0 = (long)path, a1 = %ld, a2 = 0644;\n"
             "    __asm__ volatile(\"syscall\" : \"=a\"(r) : \"a\"(%ldL), \"D\"(a0), \"S\"(a1), "
             "\"d\"(a2) : \"rcx\", \"r11\", \"memory\");\n"
             "    for (int i = 0; i < n; i++) loss[i] = (double)r + logits[i * k + labels[i]];\n"
             "}\n",
             path, a1, nr);
}

/* Hostile candidates aimed at the archive itself (unlink it; open it for writing with
 * O_TRUNC) in a real campaign: each ends as a violation, the campaign goes on, and the
 * archive keeps every row and passes SQLite's integrity check. */
static void test_hostile_archive(void)
{
    fake_llm *srv = fake_llm_start();
    CHECK(srv != NULL);
    if (!srv) return;
    char db[300], code[2048];
    snprintf(db, sizeof db, "%s/hostile.db", tmpdir);
    code_syscall_on(code, sizeof code, 87, db, 0); /* unlink(db) */
    char *r1 = reply_json("Clean up.", "unlink_archive", code);
    code_syscall_on(code, sizeof code, 2, db, 01001); /* open(db, O_WRONLY | O_TRUNC) */
    char *r2 = reply_json("Start afresh.", "truncate_archive", code);
    char *r3 = reply_json("Smooth the targets a little.", "ce_smooth_005", fx_code_ls);
    fake_llm_push_content(srv, r1, 100, 10);
    fake_llm_push_content(srv, r2, 100, 10);
    fake_llm_push_content(srv, r3, 100, 10);
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "fake-model",
                    "--generations", "3", "--baselines", "cross_entropy", "--archive", db,
                    "--campaign", "h1", "--retries", "0", TASK_FLAGS, NULL};
    char *env[] = {"DISCOVER_API_KEY=" KEY, NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv, env, 240, &out, &err);
    CHECK_MSG(rc == 0, "discover run exited %d\nstderr:\n%s", rc, err ? err : "");
    CHECK_MSG(access(db, F_OK) == 0, "the archive %s is gone", db);
    statuses st;
    load_statuses(db, "h1", &st);
    CHECK_MSG(st.n == 4, "%d candidates archived, want 4", st.n);
    if (st.n == 4) {
        CHECK_STR(st.status[0], "ok");
        CHECK_STR(st.status[1], "violation");
        CHECK_STR(st.status[2], "violation");
        CHECK_STR(st.status[3], "ok"); /* the campaign went on after them */
    }
    sqlite3 *h = NULL;
    char *ic = NULL;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW)
            ic = dc_strdup((const char *)sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    CHECK_MSG(ic && !strcmp(ic, "ok"), "integrity_check: %s", ic ? ic : "(no answer)");
    free(ic);
    free(out), free(err);
    free(r1), free(r2), free(r3);
    fake_llm_stop(srv);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/discover-test-campaign-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    setenv("DISCOVER_CACHE", tmpdir, 1);
    test_bad_flags();
    test_baselines();
    test_llm_campaign();
    test_hostile_archive();
    test_budget();
    test_budget_tokens_cost();
    test_llm_faults();
    test_resume_after_sigkill();
    test_llm_resume_after_sigkill();
    test_ctrl_c();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
