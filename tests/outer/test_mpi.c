/* `mpirun -np 3 discover run ...`: one campaign over MPI ranks (discover/campaign/mpi_pool.h).
 *
 * On one machine (--oversubscribe): the archive of an MPI campaign equals the --jobs 2
 * archive of the same seed (names, code hashes, statuses, messages, fitness, test metric,
 * generation, island), for evolve and for scripted LLM replies that are duplicates by code
 * and by behaviour (the evaluator ranks ask rank 0, which alone reads the archive); a killed
 * evaluator rank ends the job with a message that says how to go on, no process outlives
 * it, and --resume completes the campaign. Skipped (exit 77) when the build found no MPI. */
#define _GNU_SOURCE
#include "tests/test.h"

#include "archive/archive.h"
#include "common/util.h"
#include "fake_llm_server.h"
#include "campaign_fixture.h"
#include "run_child.h"

#include <cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DC_MPIRUN
#define DC_MPIRUN ""
#endif

static char tmpdir[256];

#define TASK_FLAGS                                                                                 \
    "--set", "steps=30", "--set", "train_size=2000", "--set", "val_size=1000", "--set",            \
        "eval_every=30"

/* what every mpirun of these tests needs in a container, as root; and in a sanitizer build
 * Open MPI's own never-freed allocations left out of the leak reports */
static char *mpi_env[] = {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
                          "OMPI_MCA_btl_vader_single_copy_mechanism=none",
                          "OMPI_MCA_rmaps_base_oversubscribe=1",
                          "LSAN_OPTIONS=suppressions=" DC_SOURCE_DIR
                          "/tests/outer/mpi_lsan.supp:fast_unwind_on_malloc=0",
                          NULL};
#define MPIRUN_ARGS DC_MPIRUN, "--oversubscribe", "--bind-to", "none", "-np", "3"

static int same_num(double a, double b)
{
    return a == b || (isnan(a) && isnan(b));
}

/* Two archives hold the same campaign: everything but timestamps and seconds. */
static void check_same(const char *what, const fx_cands *a, const fx_cands *b)
{
    CHECK_MSG(a->n == b->n && a->n > 0, "%s: %d and %d candidates", what, a->n, b->n);
    for (int i = 0; i < a->n && i < b->n; i++) {
        const arc_candidate *x = &a->c[i], *y = &b->c[i];
        CHECK_STR(x->name, y->name);
        CHECK_STR(x->code_hash, y->code_hash);
        CHECK_STR(x->status, y->status);
        CHECK_STR(x->message, y->message);
        CHECK_STR(x->fingerprint, y->fingerprint);
        CHECK(x->duplicate_of == y->duplicate_of);
        CHECK_MSG(same_num(x->fitness, y->fitness), "%s #%lld: fitness %.17g and %.17g", what,
                  (long long)x->id, x->fitness, y->fitness);
        CHECK(same_num(x->test_metric, y->test_metric));
        CHECK(x->generation == y->generation);
        CHECK(x->island == y->island);
    }
}

/* evolve, seed 5: `mpirun -np 3` gives the --jobs 2 campaign. */
static void test_evolve_same_as_jobs(void)
{
    char db[2][300];
    for (int r = 0; r < 2; r++) {
        snprintf(db[r], sizeof db[r], "%s/evolve%d.db", tmpdir, r);
        char *local[] = {(char *)discover_bin(), "run", "--quiet", "--generations", "8",
                         "--jobs", "2", "--seed", "5", "--archive", db[r], "--campaign", "e",
                         TASK_FLAGS, NULL};
        char *mpi[] = {MPIRUN_ARGS, (char *)discover_bin(), "run", "--quiet", "--generations",
                       "8", "--seed", "5", "--archive", db[r], "--campaign", "e", TASK_FLAGS,
                       NULL};
        char *err = NULL;
        int rc = run_child(r == 0 ? local : mpi, r == 0 ? NULL : mpi_env, 300, NULL, &err);
        CHECK_MSG(rc == 0, "%s exited %d: %s", r == 0 ? "--jobs 2" : "mpirun", rc, err ? err : "");
        free(err);
    }
    fx_cands a, b;
    fx_load(db[0], "e", &a);
    fx_load(db[1], "e", &b);
    CHECK_MSG(a.n == 12, "%d candidates, want 4 baselines + 8", a.n);
    check_same("evolve", &a, &b);
    CHECK(fx_count_status(&b, "ok") >= 4);
    fx_unload(&a);
    fx_unload(&b);
}


/* Scripted LLM replies: generation 3 behaves as generation 1 (asked of rank 0 after the
 * screening on a rank), generation 4 is generation 1's code (sent with the request); the
 * verdicts and numbers are those of --jobs 2. One call in flight (--in-flight 1): the queued
 * replies then go to the generations in order. */
static void test_duplicates_same_as_jobs(void)
{
    fake_llm *srv = fake_llm_start_opts(600);
    CHECK(srv != NULL);
    if (!srv) return;
    static const char *const names[4] = {"smooth", "squared", "smooth_again", "smooth_copy"};
    const char *const codes[4] = {fx_code_ls, fx_code_sq, fx_code_ls_renamed, fx_code_ls};
    char *r[4];
    for (int i = 0; i < 4; i++) r[i] = fake_llm_candidate_reply("scripted", names[i], codes[i]);
    char db[2][300];
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 4; i++)
            fake_llm_push_content(srv, r[i], 10, 10);
        snprintf(db[k], sizeof db[k], "%s/dup%d.db", tmpdir, k);
        char *local[] = {(char *)discover_bin(), "run", "--quiet", "--proposer", "llm",
                         "--api-base", (char *)fake_llm_base_url(srv), "--model", "m",
                         "--retries", "0", "--generations", "4", "--jobs", "2", "--in-flight",
                         "1", "--baselines", "cross_entropy", "--archive", db[k], "--campaign", "d", TASK_FLAGS,
                         NULL};
        char *mpi[] = {MPIRUN_ARGS, (char *)discover_bin(), "run", "--quiet", "--proposer", "llm",
                       "--api-base", (char *)fake_llm_base_url(srv), "--model", "m",
                       "--retries", "0", "--generations", "4", "--in-flight", "1",
                       "--baselines", "cross_entropy",
                       "--archive", db[k], "--campaign", "d", TASK_FLAGS, NULL};
        char *env[8] = {"DISCOVER_API_KEY=test", NULL};
        for (int i = 0; k == 1 && mpi_env[i]; i++)
            env[i + 1] = mpi_env[i];
        char *err = NULL;
        int rc = run_child(k == 0 ? local : mpi, env, 300, NULL, &err);
        CHECK_MSG(rc == 0, "%s exited %d: %s", k == 0 ? "--jobs 2" : "mpirun", rc, err ? err : "");
        free(err);
    }
    for (int i = 0; i < 4; i++)
        free(r[i]);
    fake_llm_stop(srv);
    fx_cands a, b;
    fx_load(db[0], "d", &a);
    fx_load(db[1], "d", &b);
    check_same("duplicates", &a, &b);
    CHECK_MSG(b.n == 5, "%d candidates", b.n);
    if (b.n == 5) {
        CHECK_STR(b.c[3].status, "duplicate");
        CHECK_MSG(strstr(b.c[3].message, "same behaviour") && b.c[3].duplicate_of == b.c[1].id,
                  "generation 3: %s", b.c[3].message);
        CHECK_STR(b.c[4].status, "duplicate");
        CHECK_MSG(strstr(b.c[4].message, "same code") && b.c[4].duplicate_of == b.c[1].id,
                  "generation 4: %s", b.c[4].message);
        CHECK(b.c[3].fitness == b.c[1].fitness && b.c[1].has_fitness);
    }
    fx_unload(&a);
    fx_unload(&b);
}

/* The pid of the process below mpirun whose environment says it is MPI rank `rank`. */
static pid_t rank_pid(pid_t mpirun, int rank)
{
    char path[64], want[48];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)mpirun, (int)mpirun);
    snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    int x;
    pid_t found = 0;
    while (!found && fscanf(f, "%d", &x) == 1) {
        char envp[64], buf[65536];
        snprintf(envp, sizeof envp, "/proc/%d/environ", x);
        int fd = open(envp, O_RDONLY);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
            buf[n] = 0;
            if (!strcmp(buf + i, want)) found = x;
        }
    }
    fclose(f);
    return found;
}

static char *slurp(const char *path)
{
    char e[256];
    char *s = dc_read_file(path, 1 << 20, NULL, e, sizeof e);
    return s ? s : dc_strdup("");
}

/* A killed evaluator rank (a lost node): the job ends with rank 0's message naming
 * --resume, no process of the job is left, and --resume (here on one machine) completes
 * the campaign: every generation once, nothing pending. */
static void test_lost_rank(void)
{
    char db[300], errpath[300];
    snprintf(db, sizeof db, "%s/lost.db", tmpdir);
    snprintf(errpath, sizeof errpath, "%s/lost.err", tmpdir);
    char *argv[] = {MPIRUN_ARGS, (char *)discover_bin(), "run", "--quiet", "--generations", "4",
                    "--seed", "3", "--archive", db, "--campaign", "l", TASK_FLAGS, "--set",
                    "steps=1500", NULL};
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 2) < 0) _exit(127);
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0) dup2(nul, 1);
        for (int i = 0; mpi_env[i]; i++)
            putenv(mpi_env[i]);
        execv(argv[0], argv);
        _exit(127);
    }
    CHECK(pid > 0);
    if (pid <= 0) return;
    /* the baselines archived and an evaluator rank busy on a proposal */
    double t0 = dc_now();
    int ready = 0;
    while (!ready && dc_now() - t0 < 200) {
        if (waitpid(pid, NULL, WNOHANG) == pid) break;
        fx_cands x;
        fx_load(db, "l", &x);
        int busy = fx_count_status(&x, "pending");
        ready = x.n - busy >= 4 && busy >= 1;
        fx_unload(&x);
        usleep(100000);
    }
    CHECK_MSG(ready, "the campaign never had an evaluator rank busy");
    pid_t r1 = ready ? rank_pid(pid, 1) : 0, r0 = ready ? rank_pid(pid, 0) : 0;
    CHECK_MSG(r1 > 0 && r0 > 0, "no ranks 0 and 1 below mpirun %d", (int)pid);
    pid_t procs[64];
    int n = 0;
    if (r1 > 0) {
        procs[n++] = r1;
        procs[n++] = r0;
        n += fx_children_of(r1, procs + n, 64 - n); /* its evaluator */
        n += fx_children_of(rank_pid(pid, 2), procs + n, 64 - n);
        kill(r1, SIGKILL);
    }
    int status = -1;
    t0 = dc_now();
    while (dc_now() - t0 < 60 && waitpid(pid, &status, WNOHANG) == 0)
        usleep(50000);
    if (status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) != 0, "mpirun ended with status %d",
              status);
    int left = 0;
    t0 = dc_now();
    do {
        left = 0;
        for (int i = 0; i < n; i++)
            left += !fx_gone(procs[i]);
    } while (left > 0 && dc_now() - t0 < 10 && usleep(50000) == 0);
    CHECK_MSG(left == 0, "%d processes of the job outlived it", left);
    /* they were orphans of this process (a subreaper): reaped here, so the lease of rank
     * 0's pid is seen to be free, as on a machine whose init reaps */
    t0 = dc_now();
    while (r0 > 0 && kill(r0, 0) == 0 && dc_now() - t0 < 20) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
        }
        usleep(50000);
    }
    CHECK_MSG(r0 <= 0 || kill(r0, 0) != 0, "rank 0 (pid %d) is still there", (int)r0);
    char *err = slurp(errpath);
    CHECK_MSG(strstr(err, "the MPI job is ending") && strstr(err, "--resume"),
              "mpirun's stderr: %s", err);
    free(err);
    fx_cands before;
    fx_load(db, "l", &before);
    CHECK(fx_count_status(&before, "pending") >= 1);
    char *resume[] = {(char *)discover_bin(), "run", "--quiet", "--archive", db, "--campaign",
                      "l", "--resume", "--jobs", "2", "--set", "steps=30", NULL};
    char *rerr = NULL;
    int rc = run_child(resume, NULL, 300, NULL, &rerr);
    CHECK_MSG(rc == 0, "--resume exited %d: %s", rc, rerr ? rerr : "");
    free(rerr);
    fx_cands after;
    fx_load(db, "l", &after);
    int per_gen[6] = {0};
    for (int i = 0; i < after.n; i++) {
        CHECK_MSG(strcmp(after.c[i].status, "pending") && strcmp(after.c[i].status, "interrupted"),
                  "#%lld %s", (long long)after.c[i].id, after.c[i].status);
        if (after.c[i].generation >= 0 && after.c[i].generation <= 4)
            per_gen[after.c[i].generation]++;
    }
    CHECK(per_gen[0] == 4);
    for (int g = 1; g <= 4; g++)
        CHECK_MSG(per_gen[g] == 1, "generation %d: %d candidates", g, per_gen[g]);
    fx_unload(&before);
    fx_unload(&after);
}

int main(void)
{
#ifndef DISCOVER_HAVE_MPI
    {
        /* what there is to check without MPI: started as a rank, discover says it lacks it */
        char *argv[] = {(char *)discover_bin(), "run", "--archive", "/nonexistent/x.db", NULL};
        char *env[] = {"OMPI_COMM_WORLD_SIZE=3", "OMPI_COMM_WORLD_RANK=0", NULL};
        char *err = NULL;
        int rc = run_child(argv, env, 60, NULL, &err);
        CHECK_MSG(rc == 1 && err && strstr(err, "built without MPI") &&
                      strstr(err, "OMPI_COMM_WORLD_SIZE=3"),
                  "exit %d: %s", rc, err ? err : "");
        free(err);
        if (TEST_REPORT() != 0) return 1;
        printf("SKIP: this build found no MPI (install libopenmpi-dev openmpi-bin, configure "
               "again)\n");
        return 77;
    }
#endif
    if (!DC_MPIRUN[0]) {
        printf("SKIP: no mpirun found at configure time\n");
        return 77;
    }
    /* the ranks of a job whose mpirun ended become this process's children, not init's */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) perror("PR_SET_CHILD_SUBREAPER");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/discover-test-mpi-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    setenv("DISCOVER_CACHE", tmpdir, 1);
    test_evolve_same_as_jobs();
    test_duplicates_same_as_jobs();
    test_lost_rank();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
