/* `discover run --jobs N`: evaluator processes (discover/campaign/evaluator.h).
 *
 * The same seed and --jobs give the same campaign whatever the timing; an evaluator that
 * dies has its candidate run again once, then recorded as crash, and the campaign goes
 * on; a SIGKILLed campaign takes its evaluators and sandbox workers with it, and --resume
 * re-runs exactly the candidates left pending; Ctrl-C records the ones in flight as
 * interrupted. */
#define _GNU_SOURCE
#include "tests/test.h"

#include "archive/archive.h"
#include "common/util.h"
#include "campaign_fixture.h"
#include "run_child.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

#define TASK_FLAGS                                                                                 \
    "--set", "steps=30", "--set", "train_size=2000", "--set", "val_size=1000", "--set",            \
        "eval_every=30"

static char *campaign_status(const char *db, const char *campaign)
{
    archive *a;
    char e[512], *st = NULL;
    if (archive_open(db, ARC_READONLY, &a, e, sizeof e) != 0) return NULL;
    arc_campaign c;
    if (archive_campaign_by_name(a, campaign, &c, e, sizeof e) == 0) {
        st = dc_strdup(c.status);
        arc_campaign_free(&c);
    }
    archive_close(a);
    return st;
}

/* Same seed and --jobs 2: the same candidates, codes and numbers in both runs. */
static void test_reproducible(void)
{
    char db[2][300];
    for (int r = 0; r < 2; r++) {
        snprintf(db[r], sizeof db[r], "%s/rep%d.db", tmpdir, r);
        char *argv[] = {(char *)discover_bin(),
                        "run",
                        "--quiet",
                        "--generations",
                        "6",
                        "--jobs",
                        "2",
                        "--seed",
                        "5",
                        "--archive",
                        db[r],
                        "--campaign",
                        "p",
                        TASK_FLAGS,
                        NULL};
        char *err = NULL;
        int rc = run_child(argv, NULL, 300, NULL, &err);
        CHECK_MSG(rc == 0, "run %d exited %d: %s", r, rc, err ? err : "");
        free(err);
    }
    fx_cands a, b;
    fx_load(db[0], "p", &a);
    fx_load(db[1], "p", &b);
    CHECK_MSG(a.n == 10 && b.n == 10, "%d and %d candidates, want 4 baselines + 6", a.n, b.n);
    for (int i = 0; i < a.n && i < b.n; i++) {
        CHECK_STR(a.c[i].name, b.c[i].name);
        CHECK_STR(a.c[i].code, b.c[i].code);
        CHECK_STR(a.c[i].status, b.c[i].status);
        CHECK(a.c[i].generation == b.c[i].generation);
        CHECK(a.c[i].fitness == b.c[i].fitness || (isnan(a.c[i].fitness) && isnan(b.c[i].fitness)));
        CHECK(a.c[i].test_metric == b.c[i].test_metric ||
              (isnan(a.c[i].test_metric) && isnan(b.c[i].test_metric)));
    }
    CHECK(fx_count_status(&a, "ok") >= 4);
    fx_unload(&a);
    fx_unload(&b);
}

/* An evaluator killed on every attempt at one candidate: run twice, then crash with the
 * reason; the campaign goes on and finishes. */
static void test_evaluator_dies(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/dies.db", tmpdir);
    char *argv[] = {
        (char *)discover_bin(), "run", "--generations", "2", "--jobs", "2", "--archive", db,
        "--campaign",           "d",   TASK_FLAGS,      NULL};
    char *env[] = {"DISCOVER_TEST_EVALUATOR_DIES_ON=focal", NULL};
    char *err = NULL;
    int rc = run_child(argv, env, 300, NULL, &err);
    CHECK_MSG(rc == 0, "exited %d: %s", rc, err ? err : "");
    CHECK_MSG(err && strstr(err, "runs again on a new evaluator"), "stderr: %s", err ? err : "");
    free(err);
    fx_cands x;
    fx_load(db, "d", &x);
    CHECK_MSG(x.n == 6, "%d candidates", x.n);
    int found = 0;
    for (int i = 0; i < x.n; i++) {
        if (!strcmp(x.c[i].name, "focal") && x.c[i].generation == 0) {
            found = 1;
            CHECK_STR(x.c[i].status, "crash");
            CHECK_MSG(strstr(x.c[i].message, "killed by signal 9") &&
                          strstr(x.c[i].message, "twice"),
                      "message: %s", x.c[i].message);
        } else {
            CHECK_MSG(strcmp(x.c[i].status, "crash") && strcmp(x.c[i].status, "pending"), "%s: %s",
                      x.c[i].name, x.c[i].status);
        }
    }
    CHECK(found);
    char *st = campaign_status(db, "d");
    CHECK(st && !strcmp(st, "finished"));
    free(st);
    fx_unload(&x);
}

/* An evaluator that hangs without dying: killed by the campaign's watchdog after about
 * 1.5 x the candidate's budget + slack, the candidate recorded as timeout, the campaign
 * goes on. */
static void test_evaluator_hangs(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/hangs.db", tmpdir);
    char *argv[] = {(char *)discover_bin(),
                    "run",
                    "--quiet",
                    "--generations",
                    "2",
                    "--jobs",
                    "2",
                    "--candidate-timeout",
                    "1",
                    "--archive",
                    db,
                    "--campaign",
                    "h",
                    TASK_FLAGS,
                    NULL};
    char *env[] = {"DISCOVER_TEST_EVALUATOR_HANGS_AT=1", NULL};
    char *err = NULL;
    double t0 = dc_now();
    int rc = run_child(argv, env, 200, NULL, &err);
    CHECK_MSG(rc == 0, "exited %d: %s", rc, err ? err : "");
    CHECK_MSG(dc_now() - t0 > 12, "done in %.1f s: the watchdog fired early", dc_now() - t0);
    free(err);
    fx_cands x;
    fx_load(db, "h", &x);
    CHECK_MSG(x.n == 6, "%d candidates", x.n);
    for (int i = 0; i < x.n; i++) {
        if (x.c[i].generation == 1) {
            CHECK_STR(x.c[i].status, "timeout");
            CHECK_MSG(strstr(x.c[i].message, "gave no answer"), "%s", x.c[i].message);
        } else {
            CHECK(strcmp(x.c[i].status, "pending") != 0);
        }
    }
    fx_unload(&x);
}

/* Starts a slow --jobs 2 campaign and waits until its baselines are archived and both
 * evaluators are busy; returns its pid (0 when it never got there). */
static pid_t start_slow(const char *db, const char *name, int generations)
{
    char gens[16];
    snprintf(gens, sizeof gens, "%d", generations);
    char *argv[] = {(char *)discover_bin(),
                    "run",
                    "--generations",
                    gens,
                    "--jobs",
                    "2",
                    "--seed",
                    "3",
                    "--archive",
                    (char *)db,
                    "--campaign",
                    (char *)name,
                    TASK_FLAGS,
                    "--set",
                    "steps=1500",
                    NULL};
    pid_t pid = spawn_child(argv, NULL);
    if (pid <= 0) return 0;
    double t0 = dc_now();
    while (dc_now() - t0 < 200) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) return 0;
        fx_cands x;
        fx_load(db, name, &x);
        int busy = fx_count_status(&x, "pending"), done = x.n - busy;
        fx_unload(&x);
        if (done >= 4 && busy >= 1) {
            usleep(300000); /* most likely mid-training now */
            return pid;
        }
        usleep(50000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

/* SIGKILL of the campaign: its evaluators and their sandbox workers die with it; --resume
 * re-runs exactly the pending ones, and every generation has one candidate. */
static void test_kill_campaign(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/kill.db", tmpdir);
    pid_t pid = start_slow(db, "k", 5);
    CHECK_MSG(pid > 0, "the campaign never had its evaluators busy");
    if (pid <= 0) return;
    pid_t procs[64];
    int n = fx_children_of(pid, procs, 64), nev = n;
    for (int i = 0; i < nev && n < 64; i++)
        n += fx_children_of(procs[i], procs + n, 64 - n);
    CHECK_MSG(nev == 2 && n > nev, "%d evaluators, %d processes below the campaign", nev, n);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    double t0 = dc_now();
    int left = n;
    /* at once, not when their training ends (that takes longer than this) */
    while (left > 0 && dc_now() - t0 < 2) {
        left = 0;
        for (int i = 0; i < n; i++)
            left += !fx_gone(procs[i]);
        if (left) usleep(50000);
    }
    CHECK_MSG(left == 0, "%d evaluator or sandbox processes outlived the campaign", left);
    fx_cands before;
    fx_load(db, "k", &before);
    int pending = fx_count_status(&before, "pending");
    CHECK(pending >= 1);
    char *argv[] = {(char *)discover_bin(),
                    "run",
                    "--archive",
                    db,
                    "--campaign",
                    "k",
                    "--resume",
                    "--set",
                    "steps=30",
                    NULL};
    char *err = NULL;
    int rc = run_child(argv, NULL, 300, NULL, &err);
    CHECK_MSG(rc == 0, "resume exited %d: %s", rc, err ? err : "");
    fx_cands after;
    fx_load(db, "k", &after);
    CHECK(after.n >= before.n);
    /* the finished rows are untouched; the pending ones were re-run in place */
    for (int i = 0; i < before.n && i < after.n; i++) {
        CHECK(after.c[i].id == before.c[i].id);
        if (strcmp(before.c[i].status, "pending")) CHECK_STR(after.c[i].status, before.c[i].status);
    }
    int per_gen[8] = {0};
    for (int i = 0; i < after.n; i++) {
        CHECK_MSG(strcmp(after.c[i].status, "pending") && strcmp(after.c[i].status, "interrupted"),
                  "#%lld %s", (long long)after.c[i].id, after.c[i].status);
        if (after.c[i].generation >= 0 && after.c[i].generation <= 5)
            per_gen[after.c[i].generation]++;
    }
    CHECK(per_gen[0] == 4);
    for (int g = 1; g <= 5; g++)
        CHECK_MSG(per_gen[g] == 1, "generation %d: %d candidates", g, per_gen[g]);
    free(err);
    fx_unload(&before);
    fx_unload(&after);
}

/* Ctrl-C (SIGINT to the campaign process alone): passed on to the evaluators, the ones in
 * flight are archived as interrupted, the campaign as interrupted; --resume finishes it. */
static void test_ctrl_c(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/int.db", tmpdir);
    pid_t pid = start_slow(db, "i", 4);
    CHECK_MSG(pid > 0, "the campaign never had its evaluators busy");
    if (pid <= 0) return;
    kill(pid, SIGINT);
    int status = -1;
    double t0 = dc_now();
    while (dc_now() - t0 < 60 && waitpid(pid, &status, WNOHANG) == 0)
        usleep(50000);
    if (status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    char *st = campaign_status(db, "i");
    CHECK(st && !strcmp(st, "interrupted"));
    free(st);
    fx_cands x;
    fx_load(db, "i", &x);
    CHECK(fx_count_status(&x, "pending") == 0);
    CHECK(fx_count_status(&x, "interrupted") >= 1);
    fx_unload(&x);
    char *argv[] = {(char *)discover_bin(),
                    "run",
                    "--archive",
                    db,
                    "--campaign",
                    "i",
                    "--resume",
                    "--quiet",
                    "--set",
                    "steps=30",
                    NULL};
    CHECK(run_child(argv, NULL, 300, NULL, NULL) == 0);
    fx_load(db, "i", &x);
    int gens = 0;
    for (int i = 0; i < x.n; i++) {
        CHECK(strcmp(x.c[i].status, "pending") && strcmp(x.c[i].status, "interrupted"));
        gens += x.c[i].generation > 0;
    }
    CHECK(gens == 4);
    fx_unload(&x);
}

/* A bad --jobs is refused with the range. */
static void test_bad_jobs(void)
{
    char *argv[] = {(char *)discover_bin(), "run", "--jobs", "0", NULL};
    char *err = NULL;
    CHECK(run_child(argv, NULL, 30, NULL, &err) == 1);
    CHECK_MSG(err && strstr(err, "jobs must be a whole number from 1 to 256"), "%s",
              err ? err : "");
    free(err);
}

/* GPUs (CUDA_VISIBLE_DEVICES names two; none need exist: on this machine the evaluators
 * fall back to the CPU): without --jobs, one evaluator per GPU times --jobs-per-device,
 * evaluator i on GPU (i / K) mod 2; --device cpu pins nothing and keeps --jobs 1. */
static void test_gpu_pinning(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/gpus.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "evolve",
                    "--generations", "4", "--jobs-per-device", "2", "--archive", db,
                    "--campaign", "g", TASK_FLAGS, NULL};
    char *env[] = {"CUDA_VISIBLE_DEVICES=3,5", NULL};
    char *err = NULL;
    int rc = run_child(argv, env, 300, NULL, &err);
    CHECK_MSG(rc == 0, "exit %d\nstderr:\n%s", rc, err ? err : "");
    CHECK_MSG(err && strstr(err, "2 GPUs visible: --jobs 4 (2 evaluators per GPU)"), "stderr:\n%s",
              err ? err : "");
    static const char *const want[] = {"evaluator 0: GPU 3", "evaluator 1: GPU 3",
                                       "evaluator 2: GPU 5", "evaluator 3: GPU 5"};
    for (int i = 0; i < 4; i++)
        CHECK_MSG(err && strstr(err, want[i]), "no '%s' in stderr:\n%s", want[i], err ? err : "");
    free(err);
    fx_cands x;
    fx_load(db, "g", &x);
    CHECK_MSG(x.n >= 5 && fx_count_status(&x, "ok") + fx_count_status(&x, "duplicate") == x.n,
              "%d candidates, %d ok", x.n, fx_count_status(&x, "ok"));
    fx_unload(&x);
    char *argc[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "evolve",
                    "--generations", "1", "--jobs-per-device", "2", "--device", "cpu",
                    "--archive", db, "--campaign", "c", TASK_FLAGS, NULL};
    err = NULL;
    rc = run_child(argc, env, 300, NULL, &err);
    CHECK_MSG(rc == 0 && err && !strstr(err, "GPUs visible") && !strstr(err, ": GPU "),
              "exit %d\nstderr:\n%s", rc, err ? err : "");
    free(err);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/discover-test-jobs-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    setenv("DISCOVER_CACHE", tmpdir, 1);
    test_bad_jobs();
    test_gpu_pinning();
    test_reproducible();
    test_evaluator_dies();
    test_evaluator_hangs();
    test_kill_campaign();
    test_ctrl_c();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
