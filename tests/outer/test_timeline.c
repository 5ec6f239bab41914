/* test_timeline.c — where and when each candidate was evaluated, and what shows it.
 *
 * Units: the evaluators' progress reports (message round trip; a reader that meets them
 * before the answer on one pipe; a relay that never blocks on a full pipe) and the
 * status line of several evaluators. End to end, on tiny fashion campaigns run by the built
 * binary: --jobs 2 archives evaluator 0 or 1 and a start for every candidate, no two
 * evaluations of one evaluator overlap, `discover report` draws one timeline bar per
 * candidate in its status colour (and a bar per LLM call on the LLM row of an llm
 * campaign, against the scripted server), `show` prints the evaluator; --jobs 1 is
 * evaluator 0; a campaign archived without these times gets a note instead of the figure;
 * on a terminal the status line names each evaluator's candidate and step. */
#define _GNU_SOURCE
#include "tests/test.h"

#include "archive/archive.h"
#include "common/util.h"
#include "discover/campaign/evaluator.h"
#include "discover/campaign/progress.h"
#include "discover/report/report.h"
#include "fake_llm_server.h"
#include "run_child.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

#define TASK_FLAGS                                                                                 \
    "--set", "steps=30", "--set", "train_size=2000", "--set", "val_size=1000", "--set",            \
        "eval_every=30"

/* ------------------------------------------------------------------ units */

static void test_progress_messages(void)
{
    dc_progress_msg m = {.id = 42, .step = 340, .steps = 2000};
    snprintf(m.phase, sizeof m.phase, "train");
    cJSON *o = dc_progress_to_json(&m);
    dc_progress_msg back;
    CHECK(dc_progress_from_json(o, &back) == 1);
    CHECK(back.id == 42 && back.step == 340 && back.steps == 2000 && !strcmp(back.phase, "train"));
    cJSON_Delete(o);
    /* an answer is not a progress report; a report with missing fields still is one */
    arc_candidate c = {.id = 42, .status = "ok", .message = "", .fingerprint = "",
                       .metrics_json = "{}"};
    o = dc_result_to_json(&c);
    CHECK(dc_progress_from_json(o, &back) == 0);
    cJSON_Delete(o);
    o = cJSON_Parse("{\"progress\": {\"id\": 7, \"step\": \"x\"}}");
    CHECK(dc_progress_from_json(o, &back) == 1);
    CHECK(back.id == 7 && back.step == 0 && back.steps == 0 && back.phase[0] == 0);
    cJSON_Delete(o);
    o = cJSON_Parse("{\"progress\": 3}");
    CHECK(dc_progress_from_json(o, &back) == 0);
    cJSON_Delete(o);

    /* on one pipe, as pool_step reads it: reports first, then the answer */
    int p[2];
    CHECK(pipe(p) == 0);
    dc_progress_relay relay = {.fd = p[1], .id = 42};
    dc_progress_relay_step(&relay, "train", 10, 30);
    CHECK(relay.last > 0);
    relay.last = 0; /* as if half a second had passed */
    dc_progress_relay_step(&relay, "score", 0, 1);
    relay.id = 0; /* between candidates nothing is relayed */
    relay.last = 0;
    dc_progress_relay_step(&relay, "train", 20, 30);
    o = dc_result_to_json(&c);
    CHECK(dc_msg_write(p[1], o) == 0);
    cJSON_Delete(o);
    close(p[1]);
    char e[256];
    int reports = 0, answers = 0, last_step = -1;
    cJSON *msg;
    while ((msg = dc_msg_read(p[0], e, sizeof e))) {
        if (dc_progress_from_json(msg, &back)) {
            CHECK(answers == 0 && back.id == 42);
            reports++;
            last_step = back.step;
        } else {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
            CHECK(cJSON_IsNumber(id) && id->valueint == 42);
            answers++;
        }
        cJSON_Delete(msg);
    }
    CHECK_MSG(reports == 2 && answers == 1, "%d reports, %d answers", reports, answers);
    CHECK(last_step == 0);
    close(p[0]);

    /* a full pipe (the campaign busy elsewhere): the report is dropped, training goes on */
    CHECK(pipe(p) == 0);
    int fl = fcntl(p[1], F_GETFL);
    CHECK(fcntl(p[1], F_SETFL, fl | O_NONBLOCK) == 0);
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    while (write(p[1], junk, sizeof junk) > 0) {
    }
    CHECK(errno == EAGAIN);
    CHECK(fcntl(p[1], F_SETFL, fl) == 0); /* blocking again: a write would hang */
    relay = (dc_progress_relay){.fd = p[1], .id = 5};
    dc_progress_relay_step(&relay, "train", 10, 30);
    CHECK(relay.last == 0); /* not sent, and we are still here */
    close(p[0]);
    close(p[1]);
}

static void test_status_line(void)
{
    dc_campaign_summary sum;
    memset(&sum, 0, sizeof sum);
    dc_campaign_cfg cfg;
    dc_campaign_cfg_default(&cfg);
    cfg.generations = 40;
    dc_ui u;
    dc_ui_init(&u, &cfg, &sum);
    u.tty = 0; /* nothing drawn or printed here: only the line's text is checked */
    u.quiet = 1;
    u.generation = 14;
    dc_ui_slots(&u, 3);
    arc_candidate a = {.id = 9, .generation = 12, .name = "sce_x"};
    arc_candidate b = {.id = 11, .generation = 13, .name = "focal\033]0;pwned\007_with_a_long_name"};
    dc_ui_slot_start(&u, 0, &a);
    dc_ui_slot_start(&u, 1, &b);
    char line[512];
    dc_ui_pool_line(&u, NULL, 0, line, sizeof line);
    CHECK_STR(line, "[gen 14/40] [e0 gen 12 sce_x] [e1 gen 13 focal\\x1b]0;pwne] [e2 idle]");
    dc_ui_slot_step(&u, 0, 9, "train", 340, 2000);
    dc_ui_slot_step(&u, 1, 11, "score", 0, 1);
    dc_ui_slot_step(&u, 2, 99, "train", 5, 10); /* a stale report for a slot now idle */
    sum.best_id = 3;
    sum.best_fitness = 0.8125;
    snprintf(sum.best_name, sizeof sum.best_name, "ce");
    dc_ui_pool_line(&u, "proposing", 0, line, sizeof line);
    CHECK_STR(line, "[gen 14/40 proposing] [e0 gen 12 sce_x 340/2000] [e1 gen 13 focal\\x1b]0;pwne "
                    "score 0/1] [e2 idle] | best 0.8125 ce");
    dc_ui_pool_line(&u, NULL, 30, line, sizeof line);
    CHECK_STR(line, "[gen 14/40] [e0 gen 12 sce_x 3");
    dc_ui_llm_out(&u, 3); /* LLM calls in flight */
    dc_ui_pool_line(&u, NULL, 40, line, sizeof line);
    CHECK_STR(line, "[gen 14/40] [llm 3 out] [e0 gen 12 sce_x");
    dc_ui_llm_out(&u, 0);
    /* a finished candidate frees its slot */
    dc_ui_candidate_done(&u, &(arc_candidate){.id = 9, .name = "sce_x", .status = "ok", .message = ""},
                         &sum);
    dc_ui_pool_line(&u, NULL, 0, line, sizeof line);
    CHECK(strncmp(line, "[gen 14/40] [e0 idle] [e1 gen 13", 32) == 0);
    dc_ui_slot_idle(&u, 1); /* its evaluator died */
    dc_ui_pool_line(&u, NULL, 0, line, sizeof line);
    CHECK_STR(line, "[gen 14/40] [e0 idle] [e1 idle] [e2 idle] | best 0.8125 ce");
    dc_ui_slots(&u, 0);
    CHECK(u.slots == NULL && u.nslots == 0);
}

/* ------------------------------------------------------------------ campaigns */

typedef struct {
    int n, ncalls;
    arc_candidate *c;
    arc_llm_call *calls;
} archived;

static void load(const char *db, const char *campaign, archived *x)
{
    memset(x, 0, sizeof *x);
    archive *a;
    char e[512];
    if (archive_open(db, ARC_READONLY, &a, e, sizeof e) != 0) return;
    arc_campaign c;
    if (archive_campaign_by_name(a, campaign, &c, e, sizeof e) == 0) {
        arc_filter f = {.campaign_id = c.id};
        if (archive_candidate_list(a, &f, &x->c, &x->n, e, sizeof e) != 0) x->n = 0;
        if (archive_llm_call_list(a, c.id, &x->calls, &x->ncalls, e, sizeof e) != 0) x->ncalls = 0;
        arc_campaign_free(&c);
    }
    archive_close(a);
}

static void unload(archived *x)
{
    for (int i = 0; i < x->n; i++) arc_candidate_free(&x->c[i]);
    for (int i = 0; i < x->ncalls; i++) arc_llm_call_free(&x->calls[i]);
    free(x->c);
    free(x->calls);
    memset(x, 0, sizeof *x);
}

/* Every evaluated candidate ran on an evaluator below jobs, started no later than it
 * finished, and no two on one evaluator overlap. Returns how many were evaluated. */
static int check_times(const archived *x, int jobs)
{
    int evaluated = 0;
    for (int i = 0; i < x->n; i++) {
        const arc_candidate *c = &x->c[i];
        double t0;
        if (!strcmp(c->status, "parse_error")) {
            CHECK_MSG(c->evaluator == -1 && !c->eval_started_at[0],
                      "#%lld parse_error: evaluator %d, started '%s'", (long long)c->id,
                      c->evaluator, c->eval_started_at);
            continue;
        }
        evaluated++;
        CHECK_MSG(c->evaluator >= 0 && c->evaluator < jobs, "#%lld evaluator %d (jobs %d)",
                  (long long)c->id, c->evaluator, jobs);
        CHECK_MSG(dc_utc_parse(c->eval_started_at, &t0) == 0, "#%lld started '%s'",
                  (long long)c->id, c->eval_started_at);
        CHECK(c->seconds >= 0);
        for (int j = 0; j < x->n; j++) {
            const arc_candidate *o = &x->c[j];
            double u0;
            if (j == i || o->evaluator != c->evaluator || dc_utc_parse(o->eval_started_at, &u0))
                continue;
            int apart = t0 + c->seconds <= u0 || u0 + o->seconds <= t0;
            CHECK_MSG(apart, "#%lld [%.6f, %.6f] and #%lld [%.6f, %.6f] overlap on evaluator %d",
                      (long long)c->id, t0, t0 + c->seconds, (long long)o->id, u0, u0 + o->seconds,
                      c->evaluator);
        }
    }
    return evaluated;
}

static int count_str(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* The timeline figure of the report of campaign in db (malloc'ed; "" when absent). */
static char *timeline_of(const char *db, const char *campaign)
{
    char *argv[] = {(char *)discover_bin(), "report", "--archive", (char *)db, "--campaign",
                    (char *)campaign, "-o", "-", NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv, NULL, 120, &out, &err);
    CHECK_MSG(rc == 0 && out, "report exited %d: %s", rc, err ? err : "");
    free(err);
    const char *s = out ? strstr(out, "<figure class=\"wide\" id=\"fig-timeline\"") : NULL;
    const char *e = s ? strstr(s, "</figure>") : NULL;
    char *fig = dc_strdup("");
    if (s && e) {
        free(fig);
        fig = dc_malloc((size_t)(e - s) + 1);
        memcpy(fig, s, (size_t)(e - s));
        fig[e - s] = 0;
    }
    free(out);
    return fig;
}

/* One bar per evaluated candidate, on its evaluator's row, in its status colour. */
static void check_bars(const char *fig, const archived *x, int evaluated)
{
    CHECK_MSG(count_str(fig, "data-kind=\"tl-bar\"") == evaluated, "%d bars for %d candidates",
              count_str(fig, "data-kind=\"tl-bar\""), evaluated);
    for (int i = 0; i < x->n; i++) {
        const arc_candidate *c = &x->c[i];
        char key[96];
        snprintf(key, sizeof key, "data-kind=\"tl-bar\" data-id=\"%lld\" ", (long long)c->id);
        const char *p = strstr(fig, key);
        if (c->evaluator < 0) {
            CHECK_MSG(p == NULL, "#%lld has no evaluation but a bar", (long long)c->id);
            continue;
        }
        const char *end = p ? strchr(p, '>') : NULL;
        char want[160];
        snprintf(want, sizeof want, "data-evaluator=\"%d\" data-status=\"%s\"", c->evaluator,
                 c->status);
        char fill[32];
        snprintf(fill, sizeof fill, "fill=\"%s\"", rp_status_color(c->status));
        int ok = p && end && strstr(p, want) && strstr(p, want) < end && strstr(p, fill) &&
                 strstr(p, fill) < end;
        CHECK_MSG(ok, "#%lld (%s on e%d): no bar with %s and %s", (long long)c->id, c->status,
                  c->evaluator, want, fill);
    }
}

static char *find_chromium(void)
{
    const char *names[] = {"chromium", "chromium-browser", "google-chrome"};
    const char *path = getenv("PATH");
    char *dirs = dc_strdup(path && *path ? path : "/usr/bin:/bin"), *save = NULL;
    char *found = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save))
        for (size_t k = 0; k < sizeof names / sizeof *names && !found; k++) {
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", d, names[k]);
            if (access(p, X_OK) == 0) found = dc_strdup(p);
        }
    free(dirs);
    return found;
}

/* The page as Chromium lays it out: the timeline's bars are in the DOM, no script error. */
static void check_rendered(const char *db, const char *campaign, int bars)
{
    char *chrome = find_chromium();
    CHECK_MSG(chrome != NULL, "chromium is not installed: this test renders the report in "
                              "headless Chromium; run ./setup.sh test (it installs it)");
    if (!chrome) return;
    char html[400], udd[400], url[420];
    snprintf(html, sizeof html, "%s/%s.html", tmpdir, campaign);
    snprintf(udd, sizeof udd, "--user-data-dir=%s/chrome-%s", tmpdir, campaign);
    snprintf(url, sizeof url, "file://%s", html);
    char *rargv[] = {(char *)discover_bin(), "report", "--archive", (char *)db, "--campaign",
                     (char *)campaign, "-o", html, NULL};
    CHECK(run_child(rargv, NULL, 120, NULL, NULL) == 0);
    char *cargv[] = {chrome, "--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", udd, "--dump-dom", url, NULL};
    char *dom = NULL, *err = NULL;
    int rc = run_child(cargv, NULL, 90, &dom, &err);
    CHECK_MSG(rc == 0 && dom, "chromium exited %d: %.500s", rc, err ? err : "");
    if (dom) {
        CHECK_MSG(count_str(dom, "data-kind=\"tl-bar\"") == bars, "%d bars in the DOM, want %d",
                  count_str(dom, "data-kind=\"tl-bar\""), bars);
        CHECK(strstr(dom, "data-ready=\"1\"") != NULL); /* the page's script ran to its end */
        CHECK(strstr(dom, "<div id=\"js-errors\" class=\"errors\" hidden=\"\"></div>") != NULL);
    }
    free(dom);
    free(err);
    free(chrome);
}

static int run_campaign(char **argv)
{
    char *err = NULL;
    int rc = run_child(argv, NULL, 300, NULL, &err);
    CHECK_MSG(rc == 0, "%s exited %d: %s", argv[1], rc, err ? err : "");
    free(err);
    return rc;
}

static void test_jobs2(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/j2.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--quiet", "--task", "fashion",
                    "--generations", "6", "--jobs", "2", "--seed", "3", "--archive", db,
                    "--campaign", "j2", TASK_FLAGS, NULL};
    if (run_campaign(argv) != 0) return;
    archived x;
    load(db, "j2", &x);
    CHECK_MSG(x.n >= 7, "%d candidates", x.n);
    int evaluated = check_times(&x, 2), on1 = 0;
    CHECK(evaluated == x.n);
    for (int i = 0; i < x.n; i++) on1 += x.c[i].evaluator == 1;
    CHECK_MSG(on1 > 0 && on1 < x.n, "%d of %d on evaluator 1: both evaluators must work", on1, x.n);
    char *fig = timeline_of(db, "j2");
    CHECK(strstr(fig, ">e0</text>") && strstr(fig, ">e1</text>"));
    CHECK(!strstr(fig, ">LLM</text>") && !strstr(fig, "data-kind=\"tl-llm\""));
    CHECK(strstr(fig, "Gaps are idle time") != NULL);
    check_bars(fig, &x, evaluated);
    free(fig);
    check_rendered(db, "j2", evaluated);

    /* show: the evaluator and the span */
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)x.c[x.n - 1].id);
    char *sargv[] = {(char *)discover_bin(), "show", id, "--archive", db, NULL};
    char *out = NULL;
    CHECK(run_child(sargv, NULL, 60, &out, NULL) == 0);
    char want[160];
    snprintf(want, sizeof want, "evaluator: %d   started %s   finished ", x.c[x.n - 1].evaluator,
             x.c[x.n - 1].eval_started_at);
    CHECK_MSG(out && strstr(out, want), "show lacks '%s'", want);
    free(out);
    char *jargv[] = {(char *)discover_bin(), "show", id, "--archive", db, "--json", NULL};
    out = NULL;
    CHECK(run_child(jargv, NULL, 60, &out, NULL) == 0);
    cJSON *o = cJSON_Parse(out ? out : "");
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(o, "evaluator");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "eval_started_at");
    const cJSON *fi = cJSON_GetObjectItemCaseSensitive(o, "eval_finished_at");
    double t0, t1;
    CHECK(cJSON_IsNumber(ev) && ev->valueint == x.c[x.n - 1].evaluator);
    CHECK(cJSON_IsString(st) && cJSON_IsString(fi) && dc_utc_parse(st->valuestring, &t0) == 0 &&
          dc_utc_parse(fi->valuestring, &t1) == 0 && t0 <= t1);
    cJSON_Delete(o);
    free(out);
    unload(&x);

    /* a campaign archived before the times were recorded: a note, no figure */
    sqlite3 *s;
    CHECK(sqlite3_open(db, &s) == SQLITE_OK);
    CHECK(sqlite3_exec(s, "UPDATE candidates SET evaluator = -1, eval_started_at = ''", NULL,
                       NULL, NULL) == SQLITE_OK);
    sqlite3_close(s);
    fig = timeline_of(db, "j2");
    CHECK_MSG(strstr(fig, "Not available: this campaign was archived before") != NULL,
              "old campaign: %.300s", fig);
    CHECK(!strstr(fig, "<svg"));
    free(fig);
    /* nor for one with nothing evaluated yet (pending rows get their times with the result) */
    CHECK(sqlite3_open(db, &s) == SQLITE_OK);
    CHECK(sqlite3_exec(s, "UPDATE candidates SET status = 'pending', fitness = NULL", NULL, NULL,
                       NULL) == SQLITE_OK);
    sqlite3_close(s);
    fig = timeline_of(db, "j2");
    CHECK_MSG(strstr(fig, "Nothing has been evaluated in this campaign yet.") != NULL,
              "nothing evaluated: %.300s", fig);
    CHECK(!strstr(fig, "<svg"));
    free(fig);
}

static void test_jobs1(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/j1.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--quiet", "--task", "fashion",
                    "--generations", "3", "--seed", "3", "--archive", db, "--campaign", "j1",
                    TASK_FLAGS, NULL};
    if (run_campaign(argv) != 0) return;
    archived x;
    load(db, "j1", &x);
    int evaluated = check_times(&x, 1);
    CHECK(x.n >= 4 && evaluated == x.n);
    char *fig = timeline_of(db, "j1");
    CHECK(strstr(fig, ">e0</text>") && !strstr(fig, ">e1</text>"));
    check_bars(fig, &x, evaluated);
    free(fig);
    unload(&x);
}

static char *ce_reply(const char *name, double scale)
{
    char code[1024];
    snprintf(code, sizeof code,
             "#include <math.h>\n"
             "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n"
             "{\n"
             "    for (int i = 0; i < n; i++) {\n"
             "        const double *z = logits + i * k;\n"
             "        double m = z[0], s = 0.0;\n"
             "        for (int j = 1; j < k; j++) if (z[j] > m) m = z[j];\n"
             "        for (int j = 0; j < k; j++) s += exp(z[j] - m);\n"
             "        loss[i] = %.3f * (m + log(s) - z[labels[i]]);\n"
             "    }\n"
             "}\n",
             scale);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "thought", "Scale the cross-entropy.");
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "code", code);
    char *r = cJSON_Print(o);
    cJSON_Delete(o);
    return r;
}

static void test_llm(void)
{
    fake_llm *srv = fake_llm_start();
    CHECK(srv != NULL);
    if (!srv) return;
    for (int g = 1; g <= 5; g++) {
        if (g == 3) {
            fake_llm_push_content(srv, "no JSON here, sorry", 100, 5);
            continue;
        }
        char name[32];
        snprintf(name, sizeof name, "scaled_%d", g);
        char *r = ce_reply(name, 0.5 + 0.25 * g);
        fake_llm_push_content(srv, r, 100, 20);
        free(r);
    }
    char db[300];
    snprintf(db, sizeof db, "%s/llm.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--quiet", "--task", "fashion", "--proposer",
                    "llm", "--api-base", (char *)fake_llm_base_url(srv), "--model", "m",
                    "--generations", "5", "--baselines", "cross_entropy", "--jobs", "2",
                    "--archive", db, "--campaign", "l", TASK_FLAGS, NULL};
    int rc = run_campaign(argv);
    fake_llm_stop(srv);
    if (rc != 0) return;
    archived x;
    load(db, "l", &x);
    CHECK_MSG(x.n == 6 && x.ncalls == 5, "%d candidates, %d calls", x.n, x.ncalls);
    int evaluated = check_times(&x, 2);
    CHECK_MSG(evaluated == x.n - 1, "%d of %d evaluated (one reply does not parse)", evaluated, x.n);
    /* every call has a span (with --jobs 2 calls may overlap: test_inflight checks that) */
    for (int i = 0; i < x.ncalls; i++) {
        double t1;
        CHECK(dc_utc_parse(x.calls[i].created_at, &t1) == 0 && x.calls[i].latency_s >= 0);
    }
    char *fig = timeline_of(db, "l");
    CHECK(strstr(fig, ">LLM</text>") && strstr(fig, ">e0</text>") && strstr(fig, ">e1</text>"));
    CHECK_MSG(count_str(fig, "data-kind=\"tl-llm\"") == x.ncalls, "%d LLM bars for %d calls",
              count_str(fig, "data-kind=\"tl-llm\""), x.ncalls);
    check_bars(fig, &x, evaluated);
    /* the LLM row is the first (y of its bars above every candidate bar's) */
    const char *llm = strstr(fig, "data-kind=\"tl-llm\"");
    CHECK(llm && strstr(llm, " y=\"11\""));
    free(fig);
    unload(&x);
}

/* On a terminal: the status line shows each evaluator's candidate and training step. */
static void test_tty_line(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/tty.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--generations", "2",
                    "--jobs", "2", "--seed", "3", "--archive", db, "--campaign", "t",
                    TASK_FLAGS, NULL};
    int master;
    struct winsize ws = {.ws_row = 40, .ws_col = 250};
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    CHECK(pid >= 0);
    if (pid < 0) return;
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    dc_sb out = {0};
    double until = dc_now() + 240;
    for (;;) {
        struct pollfd pf = {.fd = master, .events = POLLIN};
        int pr = poll(&pf, 1, 500);
        if (pr > 0) {
            char buf[4096];
            ssize_t n = read(master, buf, sizeof buf);
            if (n <= 0) break; /* EIO once the child has closed the terminal */
            dc_sb_appendn(&out, buf, (size_t)n);
        }
        if (dc_now() > until) {
            kill(pid, SIGKILL);
            break;
        }
    }
    int st = 0;
    waitpid(pid, &st, 0);
    close(master);
    const char *text = out.data ? out.data : "";
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "run on a terminal ended with %d", st);
    /* each evaluator named with its candidate, and a step reported from inside it (fashion
     * reports every 10 steps: the first report, 10/30, is always relayed) */
    CHECK_MSG(strstr(text, "[e0 gen 0 ") && strstr(text, "[e1 gen "), "no evaluator slots in: %.2000s",
              text);
    CHECK_MSG(strstr(text, " 10/30]") != NULL, "no training step in the status line: %.2000s", text);
    CHECK(strstr(text, "[e1 idle]") || strstr(text, "[e0 idle]"));
    dc_sb_free(&out);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/discover-test-timeline-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    setenv("DISCOVER_CACHE", tmpdir, 1);
    test_progress_messages();
    test_status_line();
    test_jobs2();
    test_jobs1();
    test_llm();
    test_tty_line();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
