/* The inspection commands run as the built `discover` binary on an archive built here:
 * ls, show, export and campaigns outputs (text, tab-separated, JSON), exit codes, and the
 * errors for a missing id, a missing archive (no file may be created), a non-SQLite file,
 * an unknown campaign or status, and an existing export target. Then the faults, through
 * ls, show, export and replay: an archive of a newer schema, a read-only file, a read-only
 * directory, a locked archive (rollback-journal and WAL), and a replay that fails its
 * checks on a non-WAL archive; each leaves the archive file byte for byte as it was. */
#include "arc_test_util.h"
#include "tests/test.h"

#include <cJSON.h>
#include <grp.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char *dir, *db, *out, *errout;

/* Runs `discover ARGS` (shell syntax) with stdout and stderr captured; returns the exit
 * status. out/errout hold the captured text afterwards. */
static int run(const char *args)
{
    dc_sb cmd = {0};
    dc_sb_printf(&cmd, "cd '%s' && env -u DISCOVER_ARCHIVE '%s/discover' %s > out.txt 2> err.txt",
                 dir, DC_BUILD_DIR, args);
    int st = system(cmd.data);
    dc_sb_free(&cmd);
    free(out);
    free(errout);
    char *po = tu_path(dir, "out.txt"), *pe = tu_path(dir, "err.txt");
    size_t n;
    out = tu_slurp(po, &n);
    errout = tu_slurp(pe, &n);
    if (!out) out = dc_strdup("");
    if (!errout) errout = dc_strdup("");
    free(po);
    free(pe);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static const char *long_name = "a_very_long_candidate_name_that_goes_on_and_on_and_on";
static const char *pref_code =
    "#include <math.h>\n"
    "static double softplus(double x) { return log1p(exp(-x)); }\n"
    "void objective(const pref_batch *b, double *loss)\n"
    "{\n"
    "    for (int i = 0; i < b->n; i++) {\n"
    "        double x = b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -\n"
    "                              (b->rejected_logps[i] - b->ref_rejected_logps[i]));\n"
    "        loss[i] = softplus(x); /* DPO */\n"
    "    }\n"
    "}\n";
static int64_t id_dpo, id_long, id_broken, id_x;

static void build_fixture(void)
{
    char err[512];
    archive *a;
    if (archive_open(db, ARC_CREATE, &a, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
    int64_t demo = tu_campaign(a, "demo", "sentiment");
    arc_campaign sw = {0};
    sw.name = dc_strdup("sweep");
    sw.task = dc_strdup("fashion");
    sw.proposer = dc_strdup("llm");
    sw.model = dc_strdup("gpt-x");
    CHECK(archive_campaign_create(a, &sw, err, sizeof err) == 0);

    arc_candidate c = {0};
    c.campaign_id = demo;
    c.name = dc_strdup("dpo");
    c.thought = dc_strdup("the seed");
    c.code = dc_strdup(pref_code);
    c.status = dc_strdup("ok");
    c.has_fitness = 1;
    c.fitness = 0.8;
    c.test_metric = 0.79;
    c.seconds = 3.25;
    const double tl[] = {2.0, 1.0, 0.5, 0.4};
    for (int i = 0; i < 4; i++)
        dc_curves_add(&c.curves, "train_loss", 10 * i, tl[i]);
    CHECK(archive_candidate_insert(a, &c, err, sizeof err) == 0);
    id_dpo = c.id;
    arc_candidate_free(&c);

    arc_llm_call call = {0};
    call.campaign_id = demo;
    call.generation = 1;
    dc_sb req = {0};
    dc_sb_append(&req, "{\"messages\":\"");
    for (int i = 0; i < 500; i++)
        dc_sb_append(&req, "history ");
    dc_sb_append(&req, "END-OF-REQUEST\"}");
    call.request_json = dc_sb_take(&req);
    call.response_raw = dc_strdup("{\"thought\":\"mix\",\"name\":\"long\"}");
    call.http_status = 200;
    call.tokens_in = 1234;
    call.tokens_out = 56;
    CHECK(archive_llm_call_insert(a, &call, err, sizeof err) == 0);

    memset(&c, 0, sizeof c);
    c.campaign_id = demo;
    c.generation = 1;
    char parents[32];
    c.parents_json = dc_strdup(dc_fmt(parents, sizeof parents, "[%lld]", (long long)id_dpo));
    c.name = dc_strdup(long_name);
    c.thought = dc_strdup("Weight the logistic loss */ by a sigmoid /* gate\nsecond line");
    c.code = dc_strdup(pref_code);
    c.status = dc_strdup("ok");
    c.has_fitness = 1;
    c.fitness = 0.85;
    c.test_metric = 0.5;
    /* Metrics for the export header: a nested object, a string that would end the comment,
     * and a key pair whose join ("a*" + "/" + "/b") would too. */
    c.metrics_json = dc_strdup("{\"reward\":0.851234567,\"kl\":0.0123456789,\"per_beta\":"
                               "{\"0.1\":{\"reward\":0.9,\"note\":\"ends */ here\"}},"
                               "\"a*\":{\"/b\":1},\"stable\":true,\"gone\":null}");
    c.llm_call_id = call.id;
    c.island = 3; /* run --islands: shown by ls and show */
    arc_llm_call_free(&call);
    CHECK(archive_candidate_insert(a, &c, err, sizeof err) == 0);
    id_long = c.id;
    arc_candidate_free(&c);

    id_broken = tu_candidate(a, demo, 1, "broken", "void objective(", "compile_error", NAN, NAN);
    id_x = tu_candidate(a, sw.id, 0, "x", "void objective(){}", "ok", 0.9, 0.88);
    arc_campaign_free(&sw);

    arc_evaluation e = {0};
    e.candidate_id = id_long;
    e.task = dc_strdup("sentiment");
    e.seed = 2;
    e.params_json = dc_strdup("{\"beta\":0.25}");
    e.status = dc_strdup("ok");
    e.fitness = 0.93;
    e.test_metric = 0.92;
    CHECK(archive_evaluation_insert(a, &e, err, sizeof err) == 0);
    arc_evaluation_free(&e);
    archive_close(a);
}

static void test_campaigns(void)
{
    char args[1024];
    CHECK(run(dc_fmt(args, sizeof args, "campaigns --archive '%s'", db)) == 0);
    /* Piped: tab-separated with a header line. */
    CHECK(strncmp(out, "name\ttask\tproposer\tmodel\tstatus\tcandidates\tbest\tcreated\n", 56) ==
          0);
    CHECK(count_lines(out) == 3);
    CHECK(strstr(out, "\ndemo\tsentiment\tevolve\t-\trunning\t3\t0.8500\t") != NULL);
    CHECK(strstr(out, "\nsweep\tfashion\tllm\tgpt-x\trunning\t1\t0.9000\t") != NULL);
    CHECK(run(dc_fmt(args, sizeof args, "campaigns --json --archive '%s'", db)) == 0);
    cJSON *j = cJSON_Parse(out);
    CHECK(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 2);
    cJSON *d = cJSON_GetArrayItem(j, 0);
    CHECK(d && cJSON_GetObjectItem(d, "candidates")->valueint == 3);
    CHECK(d && fabs(cJSON_GetObjectItem(d, "best_fitness")->valuedouble - 0.85) < 1e-12);
    cJSON_Delete(j);
    CHECK(run("campaigns --help") == 0 && strstr(out, "Usage: discover campaigns"));
    CHECK(run("campaigns --bogus") == 1 && strstr(errout, "--bogus"));
}

static void test_ls(void)
{
    char args[1024];
    CHECK(run(dc_fmt(args, sizeof args, "ls --archive '%s'", db)) == 0);
    static const char header[] =
        "id\tcampaign\tgen\tisland\tname\tstatus\tfitness\tconfirmed\tn\ttest\tseconds\n";
    CHECK(strncmp(out, header, strlen(header)) == 0);
    CHECK(count_lines(out) == 5);
    char row[256];
    dc_fmt(row, sizeof row, "\n%lld\tdemo\t1\t3\t%s\tok\t0.8500\t-\t0\t0.5000\t0.0\n",
           (long long)id_long, long_name); /* whole name when piped */
    CHECK(strstr(out, row) != NULL);
    dc_fmt(row, sizeof row, "\n%lld\tdemo\t1\t0\tbroken\tcompile_error\t-\t-\t0\t-\t1.5\n",
           (long long)id_broken);
    CHECK(strstr(out, row) != NULL);

    /* --top: best first across campaigns; --campaign narrows. */
    CHECK(run(dc_fmt(args, sizeof args, "ls --top 2 --json --archive '%s'", db)) == 0);
    cJSON *j = cJSON_Parse(out);
    CHECK(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 2);
    if (cJSON_GetArraySize(j) == 2) {
        CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "id")->valuedouble == (double)id_x);
        CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 1), "id")->valuedouble == (double)id_long);
        const cJSON *isl = cJSON_GetObjectItem(cJSON_GetArrayItem(j, 1), "island");
        CHECK(cJSON_IsNumber(isl) && isl->valueint == 3);
    }
    cJSON_Delete(j);
    CHECK(run(dc_fmt(args, sizeof args,
                     "ls --campaign demo --status compile_error --json "
                     "--archive '%s'",
                     db)) == 0);
    j = cJSON_Parse(out);
    CHECK(cJSON_GetArraySize(j) == 1);
    cJSON *b = cJSON_GetArrayItem(j, 0);
    CHECK(b && cJSON_IsNull(cJSON_GetObjectItem(b, "fitness")));
    CHECK(b && strcmp(cJSON_GetObjectItem(b, "name")->valuestring, "broken") == 0);
    cJSON_Delete(j);

    CHECK(run(dc_fmt(args, sizeof args, "ls --campaign nope --archive '%s'", db)) == 1);
    CHECK(strstr(errout, "no campaign 'nope'") && strstr(errout, "demo, sweep"));
    CHECK(run(dc_fmt(args, sizeof args, "ls --status great --archive '%s'", db)) == 1);
    CHECK(strstr(errout, "unknown status 'great'") && strstr(errout, "compile_error"));
    CHECK(run(dc_fmt(args, sizeof args, "ls --top 0 --archive '%s'", db)) == 1);
    CHECK(run(dc_fmt(args, sizeof args, "ls --top 2x --archive '%s'", db)) == 1);
    CHECK(run("ls --archive") == 1 && strstr(errout, "needs a value"));

    /* $DISCOVER_ARCHIVE is the default archive. */
    dc_fmt(args, sizeof args, "ls --json");
    dc_sb cmd = {0};
    dc_sb_printf(&cmd, "cd '%s' && DISCOVER_ARCHIVE='%s' '%s/discover' ls --json > out.txt", dir,
                 db, DC_BUILD_DIR);
    CHECK(system(cmd.data) == 0);
    dc_sb_free(&cmd);
    char *po = tu_path(dir, "out.txt");
    size_t n;
    char *o = tu_slurp(po, &n);
    j = o ? cJSON_Parse(o) : NULL;
    CHECK(cJSON_GetArraySize(j) == 4);
    cJSON_Delete(j);
    free(o);
    free(po);
}

static void test_show(void)
{
    char args[1024];
    CHECK(run(dc_fmt(args, sizeof args, "show %lld --archive '%s'", (long long)id_dpo, db)) == 0);
    CHECK(strstr(out, "candidate 1: dpo") != NULL);
    CHECK(strstr(out, "softplus(x); /* DPO */") != NULL);
    CHECK(strstr(out, "parents:   none") != NULL);
    /* Curve summary, against numbers worked out by hand: first 2, last 0.4, min 0.4, max 2,
     * drift -1.6; 90 % of the change (1.44) is first covered at step 20. */
    CHECK(strstr(out, "train_loss") && strstr(out, "-1.6") && strstr(out, " 20\n"));
    CHECK(strstr(out, "LLM exchange: none") != NULL);

    CHECK(run(dc_fmt(args, sizeof args, "show %lld --archive '%s'", (long long)id_long, db)) == 0);
    char parent[64];
    CHECK(strstr(out, dc_fmt(parent, sizeof parent, "parents:   #%lld dpo", (long long)id_dpo)));
    CHECK(strstr(out, "HTTP 200, 1234 tokens in, 56 out") != NULL);
    CHECK(strstr(out, "generation 1, island 3\n") != NULL);
    CHECK(strstr(out, "--full shows all") != NULL);
    CHECK(strstr(out, "END-OF-REQUEST") == NULL); /* clipped */
    CHECK(strstr(out, "evaluations:") && strstr(out, "{\"beta\":0.25}"));
    CHECK(run(dc_fmt(args, sizeof args, "show %lld --full --archive '%s'", (long long)id_long,
                     db)) == 0);
    CHECK(strstr(out, "END-OF-REQUEST") != NULL);

    CHECK(run(dc_fmt(args, sizeof args, "show %lld --json --archive '%s'", (long long)id_dpo,
                     db)) == 0);
    cJSON *j = cJSON_Parse(out);
    CHECK(j != NULL);
    cJSON *cv = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "curves"), 0);
    CHECK(cv && cJSON_GetObjectItem(cv, "points")->valueint == 4);
    CHECK(cv &&
          fabs(cJSON_GetObjectItem(cv, "drift_magnitude")->valuedouble - (0.4 - 2.0)) < 1e-12);
    CHECK(cv && cJSON_GetObjectItem(cv, "drift_time")->valueint == 20);
    CHECK(cv && cJSON_GetObjectItem(cv, "min")->valuedouble == 0.4);
    CHECK(cv && cJSON_GetObjectItem(cv, "max")->valuedouble == 2.0);
    CHECK(j && strcmp(cJSON_GetObjectItem(j, "code")->valuestring, pref_code) == 0);
    CHECK(j && strcmp(cJSON_GetObjectItem(j, "campaign")->valuestring, "demo") == 0);
    cJSON_Delete(j);

    CHECK(run(dc_fmt(args, sizeof args, "show 999 --archive '%s'", db)) == 1);
    char msg[1024];
    CHECK_MSG(strstr(errout, dc_fmt(msg, sizeof msg,
                                    "no candidate 999 in %s; 'discover ls' "
                                    "lists them",
                                    db)) != NULL,
              "%s", errout);
    CHECK(run(dc_fmt(args, sizeof args, "show abc --archive '%s'", db)) == 1);
    CHECK(run(dc_fmt(args, sizeof args, "show --archive '%s'", db)) == 1);
}

/* The comment ends exactly once, right before the code, and the code is byte for byte. */
static void check_export_text(const char *text)
{
    const char *end = strstr(text, "*/");
    CHECK(end && strcmp(end + 3, pref_code) == 0);
    CHECK(strstr(text, "Weight the logistic loss *\\/ by a sigmoid /\\* gate") != NULL);
    CHECK(strstr(text, " *   second line\n") != NULL);
    CHECK(strstr(text, "Campaign:   demo (task sentiment)") != NULL);
    /* Every metric, one per line, nested keys flattened, numbers as %.6g, delimiters
     * defused (the first check above already proves none ends the comment early). */
    CHECK(strstr(text, "\n * Metrics:\n") != NULL);
    CHECK(strstr(text, "\n *   reward: 0.851235\n") != NULL);
    CHECK(strstr(text, "\n *   kl: 0.0123457\n") != NULL);
    CHECK(strstr(text, "\n *   per_beta/0.1/reward: 0.9\n") != NULL);
    CHECK(strstr(text, "\n *   per_beta/0.1/note: ends *\\/ here\n") != NULL);
    CHECK(strstr(text, "\n *   a*\\//b: 1\n") != NULL);
    CHECK(strstr(text, "\n *   stable: true\n") != NULL);
    CHECK(strstr(text, "\n *   gone: none\n") != NULL);
    CHECK(strstr(text, "discover check") && strstr(text, "--task sentiment"));
}

static void test_export(void)
{
    char args[1024];
    CHECK(run(dc_fmt(args, sizeof args, "export %lld --archive '%s'", (long long)id_long, db)) ==
          0);
    check_export_text(out);

    char *file = tu_path(dir, "lrml.c");
    CHECK(run(dc_fmt(args, sizeof args, "export %lld -o '%s' --archive '%s'", (long long)id_long,
                     file, db)) == 0);
    size_t n;
    char *text = tu_slurp(file, &n);
    CHECK(text != NULL);
    if (text) check_export_text(text);
    CHECK(text && strstr(text, "#include \"lrml.c\""));
    free(text);
    /* A C compiler accepts it as is (the candidate-facing header pre-included, warnings as
     * errors: a comment delimiter left in the thought would trip -Wcomment or the syntax). */
    dc_sb cc = {0};
    dc_sb_printf(
        &cc,
        "cc -std=c99 -fsyntax-only -Wall -Werror -include '%s/sandbox/discover_objective.h' '%s'",
        DC_SOURCE_DIR, file);
    CHECK(system(cc.data) == 0);
    dc_sb_free(&cc);
    /* `discover check` accepts it too, once that command is built. */
    int rc = run(dc_fmt(args, sizeof args, "check '%s' --task sentiment", file));
    if (!strstr(errout, "not built yet")) CHECK_MSG(rc == 0, "discover check: %s", errout);

    /* Existing file: refused without --force, unchanged; replaced with it. */
    tu_write(file, "keep me\n");
    CHECK(run(dc_fmt(args, sizeof args, "export %lld -o '%s' --archive '%s'", (long long)id_dpo,
                     file, db)) == 1);
    CHECK(strstr(errout, "already exists; pass --force") != NULL);
    text = tu_slurp(file, &n);
    CHECK(text && strcmp(text, "keep me\n") == 0);
    free(text);
    CHECK(run(dc_fmt(args, sizeof args, "export %lld -o '%s' --force --archive '%s'",
                     (long long)id_dpo, file, db)) == 0);
    text = tu_slurp(file, &n);
    CHECK(text && strstr(text, "Name:       dpo"));
    CHECK(text && strstr(text, "\n * Metrics:    none\n")); /* dpo has no metrics */
    free(text);
    free(file);

    CHECK(run(dc_fmt(args, sizeof args, "export 999 --archive '%s'", db)) == 1);
    CHECK(strstr(errout, "no candidate 999") != NULL);
    CHECK(run(dc_fmt(args, sizeof args, "export %lld --archive '%s'", (long long)id_broken, db)) ==
          0);
    CHECK(strstr(errout, "status 'compile_error'") != NULL);
}

static void test_bad_archives(void)
{
    /* The default ./discover.db does not exist: an error, and no file appears. */
    const char *cmds[] = {"ls", "show 1", "export 1", "campaigns"};
    char *dflt = tu_path(dir, "discover.db");
    for (int i = 0; i < 4; i++) {
        CHECK(run(cmds[i]) == 1);
        CHECK_MSG(strstr(errout, "no archive at discover.db; run 'discover run' or 'discover demo' "
                                 "first, or pass --archive") != NULL,
                  "%s", errout);
        CHECK(!tu_exists(dflt));
    }
    free(dflt);
    char args[1024];
    char *text = tu_path(dir, "notes.txt");
    tu_write(text, "not a database at all, just some text that is long enough\n");
    for (int i = 0; i < 4; i++) {
        CHECK(run(dc_fmt(args, sizeof args, "%s --archive '%s'", cmds[i], text)) == 1);
        char msg[1024];
        CHECK(strstr(errout, dc_fmt(msg, sizeof msg,
                                    "file is not a discover archive (not an "
                                    "SQLite database): %s",
                                    text)) != NULL);
    }
    free(text);
}

/* ---- faults: the archive is never modified by a failed command ---- */

typedef struct {
    char *data;
    size_t len;
} snap;

static snap snapshot(const char *path)
{
    snap s = {NULL, 0};
    s.data = tu_slurp(path, &s.len);
    CHECK_MSG(s.data != NULL, "cannot read %s", path);
    return s;
}

/* 1 when the file holds exactly the snapshot's bytes; frees the snapshot. */
static int unchanged(const char *path, snap s)
{
    size_t n = 0;
    char *now = tu_slurp(path, &n);
    int same = now && s.data && n == s.len && memcmp(now, s.data, n) == 0;
    free(now);
    free(s.data);
    return same;
}

/* unchanged(), computed in a child process. Needed while this process holds an SQLite
 * lock on the file: POSIX drops all of a process's locks on a file when it closes ANY
 * descriptor of it, so reading the file here would silently end the holder's lock. */
static int unchanged_elsewhere(const char *path, snap s)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) _exit(unchanged(path, s) ? 0 : 1);
    free(s.data);
    int st;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static int have_fashion_data(void)
{
    const char *env = getenv("DISCOVER_FASHION_DIR");
    char p[1024];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz",
             env && *env ? env : "/usr/share/datasets/fashion-mnist");
    return tu_exists(p);
}

/* An archive at PATH with one fashion campaign and one working candidate (id 1, the
 * cross-entropy example), cheap to replay with --steps 5; wal = 0 switches it to the
 * rollback journal (DELETE), as an archive copied or written by another tool may be. */
static void make_fashion_archive(const char *path, int wal)
{
    size_t n;
    char *code = tu_slurp(DC_SOURCE_DIR "/examples/objectives/fashion/cross_entropy.c", &n);
    CHECK(code != NULL);
    char err[512];
    archive *a;
    if (!code || archive_open(path, ARC_CREATE, &a, err, sizeof err)) {
        fprintf(stderr, "make_fashion_archive: %s\n", code ? err : "no example code");
        exit(2);
    }
    int64_t camp = tu_campaign(a, "fc", "fashion");
    CHECK(tu_candidate(a, camp, 0, "ce", code, "ok", 0.8, 0.79) == 1);
    archive_close(a);
    free(code);
    if (!wal) CHECK(tu_sql(path, "PRAGMA journal_mode = DELETE") == 0);
    char *mode = tu_sql_text(path, "PRAGMA journal_mode");
    CHECK_STR(mode, wal ? "wal" : "delete");
    free(mode);
}

#define REPLAY_ARGS "replay 1 --steps 5 --seeds 1"
static const char *fault_cmds[] = {"ls", "show 1", "export 1", REPLAY_ARGS};
/* What the three reading commands print about candidate 1 when they work. */
static const char *fault_shows[] = {"\tce\t", "candidate 1: ce\n", "Name:       ce\n"};

/* Issue: a failed `replay` opened the archive read-write before checking the ID, which
 * switches a non-WAL archive to WAL (and would upgrade an older schema). Now every check
 * runs on a read-only connection first. */
static void test_replay_checks_read_only(void)
{
    char args[1024], msg[1024];
    char *v1 = tu_path(dir, "v1.db");
    size_t n;
    char *sql = tu_slurp(DC_SOURCE_DIR "/tests/archive/fixtures/schema_v1.sql", &n);
    CHECK(sql && tu_sql(v1, sql) == 0);
    free(sql);
    /* Brought to the current schema (an older one is refused before these checks), then
     * back to SQLite's default journal, as the fixture is written. */
    archive *up;
    char uerr[512];
    CHECK(archive_open(v1, 0, &up, uerr, sizeof uerr) == 0);
    archive_close(up);
    CHECK(tu_sql(v1, "PRAGMA journal_mode = DELETE") == 0);
    char *mode = tu_sql_text(v1, "PRAGMA journal_mode");
    CHECK_STR(mode, "delete");
    free(mode);
    char *wal = tu_path(dir, "v1.db-wal");
    struct {
        const char *args, *expect;
    } cases[] = {
        {"replay 99", "no candidate 99 in %s; 'discover ls' lists them"},
        {"replay 1 --task nope", "unknown task 'nope'"},
        {"replay 1 --task sentiment", "candidate 1 is a fashion objective; task sentiment needs"},
        {"replay 1 --set bogus=1", "task fashion has no option 'bogus'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snap before = snapshot(v1);
        int rc = run(dc_fmt(args, sizeof args, "%s --archive '%s'", cases[i].args, v1));
        CHECK_MSG(rc == 1, "%s: exit %d", cases[i].args, rc);
        CHECK_MSG(strstr(errout, dc_fmt(msg, sizeof msg, cases[i].expect, v1)) != NULL, "%s: %s",
                  cases[i].args, errout);
        CHECK_MSG(unchanged(v1, before), "%s modified the archive", cases[i].args);
        CHECK(!tu_exists(wal));
    }
    mode = tu_sql_text(v1, "PRAGMA journal_mode");
    CHECK_STR(mode, "delete");
    free(mode);
    free(wal);
    free(v1);

    if (!have_fashion_data()) {
        fprintf(stderr, "note: replay training checks skipped (no Fashion-MNIST data)\n");
        return;
    }
    /* A candidate the sandbox rejects (exit 2) writes nothing either; a good one is then
     * recorded, which shows the read-write open does come once the checks pass. */
    char *p = tu_path(dir, "nonwal.db");
    make_fashion_archive(p, 0);
    archive *a;
    char err[512];
    CHECK(archive_open(p, 0, &a, err, sizeof err) == 0);
    if (a) {
        tu_candidate(a, 1, 1, "broken", "void objective(", "compile_error", NAN, NAN);
        archive_close(a);
    }
    CHECK(tu_sql(p, "PRAGMA journal_mode = DELETE") == 0);
    snap before = snapshot(p);
    CHECK(run(dc_fmt(args, sizeof args, "replay 2 --steps 5 --archive '%s'", p)) == 2);
    CHECK_MSG(strstr(errout, "candidate 2 is rejected by the sandbox: compile_error"), "%s",
              errout);
    CHECK(unchanged(p, before));
    CHECK_MSG(run(dc_fmt(args, sizeof args, REPLAY_ARGS " --archive '%s'", p)) == 0, "%s", errout);
    CHECK(tu_sql_int(p, "SELECT count(*) FROM evaluations WHERE candidate_id = 1") == 1);
    mode = tu_sql_text(p, "PRAGMA journal_mode");
    CHECK_STR(mode, "wal"); /* a writing command puts the archive in WAL mode */
    free(mode);
    free(p);
}

/* An archive written by a newer discover: refused by every command, untouched. */
static void test_newer_schema(void)
{
    char *p = tu_path(dir, "newer.db"), args[1024], msg[1024];
    make_fashion_archive(p, 1);
    CHECK(tu_sql(p, "PRAGMA user_version = 99") == 0);
    dc_fmt(msg, sizeof msg,
           "archive %s was written by a newer discover (schema 99 > %d); upgrade "
           "discover",
           p, ARCHIVE_SCHEMA_VERSION);
    for (int i = 0; i < 4; i++) {
        snap before = snapshot(p);
        int rc = run(dc_fmt(args, sizeof args, "%s --archive '%s'", fault_cmds[i], p));
        CHECK_MSG(rc == 1, "%s: exit %d", fault_cmds[i], rc);
        CHECK_MSG(strstr(errout, msg) != NULL, "%s: %s", fault_cmds[i], errout);
        CHECK_MSG(unchanged(p, before), "%s modified the archive", fault_cmds[i]);
    }
    CHECK(tu_sql_int(p, "PRAGMA user_version") == 99);
    free(p);
}

/* Like run(), but as the unprivileged user nobody when the test runs as root: root ignores
 * file modes, so for root no archive is ever read-only and the read-only paths could not
 * be reached. The command runs in (and writes its output to) the folder nb, which must be
 * open to nobody. Returns the exit status, or 125 when nobody cannot reach the binary or
 * nb (a $TMPDIR under a private folder): the caller then skips. */
static int run_unprivileged(const char *nb, const char *args)
{
    dc_sb cmd = {0};
    dc_sb_printf(&cmd, "cd '%s' && env -u DISCOVER_ARCHIVE '%s/discover' %s > out.txt 2> err.txt",
                 nb, DC_BUILD_DIR, args);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(2);
    }
    if (pid == 0) {
        if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0))
            _exit(124);
        if (access(nb, W_OK | X_OK) != 0 || access(DC_BUILD_DIR "/discover", X_OK) != 0) _exit(125);
        execl("/bin/sh", "sh", "-c", cmd.data, (char *)NULL);
        _exit(127);
    }
    dc_sb_free(&cmd);
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    free(out);
    free(errout);
    char *po = tu_path(nb, "out.txt"), *pe = tu_path(nb, "err.txt");
    size_t n;
    out = tu_slurp(po, &n);
    errout = tu_slurp(pe, &n);
    if (!out) out = dc_strdup("");
    if (!errout) errout = dc_strdup("");
    free(po);
    free(pe);
    return rc;
}

/* Runs the four commands on a read-only archive p: the reads work, replay is refused with
 * `expect` (after its read-only checks, before any write), and the file is untouched. */
static void readonly_case(const char *nb, const char *p, const char *expect, int *skipped)
{
    char args[1024];
    for (int i = 0; i < 4 && !*skipped; i++) {
        if (i == 3 && !have_fashion_data()) {
            /* replay gets to its read-write open only after preparing the task */
            fprintf(stderr, "note: read-only replay skipped (no Fashion-MNIST data)\n");
            break;
        }
        snap before = snapshot(p);
        int rc =
            run_unprivileged(nb, dc_fmt(args, sizeof args, "%s --archive '%s'", fault_cmds[i], p));
        if (rc == 125 || rc == 124) {
            *skipped = 1;
            free(before.data);
            break;
        }
        if (i < 3) {
            CHECK_MSG(rc == 0, "%s on read-only %s: exit %d: %s", fault_cmds[i], p, rc, errout);
            CHECK_MSG(strstr(out, fault_shows[i]) != NULL, "%s: %s", fault_cmds[i], out);
        } else {
            CHECK_MSG(rc == 1, "replay on read-only %s: exit %d", p, rc);
            CHECK_MSG(strstr(errout, expect) != NULL, "replay: %s", errout);
        }
        CHECK_MSG(unchanged(p, before), "%s modified %s", fault_cmds[i], p);
    }
}

/* Read-only archives, really read-only: (1) a file without write permission in a folder
 * the user may write, (2) a writable file in a folder the user may not write (SQLite
 * could not create its -wal and -shm files there; the readers then use the immutable
 * open). As root both are tested as the user nobody, since root writes regardless. */
static void test_read_only(void)
{
    char msg[1024];
    int skipped = 0;
    CHECK(chmod(dir, 0755) == 0); /* mkdtemp made it private */
    char *nb = tu_path(dir, "nb");
    CHECK(mkdir(nb, 0777) == 0 && chmod(nb, 0777) == 0); /* 0777 whatever the umask */

    char *rofile = tu_path(nb, "rofile.db");
    make_fashion_archive(rofile, 1);
    CHECK(chmod(rofile, 0444) == 0);
    readonly_case(nb, rofile,
                  dc_fmt(msg, sizeof msg,
                         "archive %s is read-only (no write permission on the file); read "
                         "commands (ls, show, export, campaigns) still work",
                         rofile),
                  &skipped);

    char *rodir = tu_path(dir, "rodir");
    CHECK(mkdir(rodir, 0755) == 0);
    char *p = tu_path(rodir, "rw.db");
    make_fashion_archive(p, 1);
    if (geteuid() == 0) CHECK(chown(p, 65534, 65534) == 0); /* writable by nobody */
    CHECK(chmod(rodir, 0555) == 0);
    readonly_case(nb, p,
                  dc_fmt(msg, sizeof msg,
                         "cannot write archive %s: its directory is not writable (SQLite keeps "
                         "its -wal and -shm files beside the archive); read commands still work",
                         p),
                  &skipped);
    CHECK(chmod(rodir, 0755) == 0); /* so that the clean-up can remove it */
    if (skipped)
        fprintf(stderr, "note: read-only archive tests skipped (%s not reachable as nobody)\n", nb);
    free(p);
    free(rodir);
    free(rofile);
    free(nb);
}

/* Another connection holds an exclusive write transaction (what a writer mid-candidate
 * does) with a change of its own. In rollback-journal mode that blocks readers too, so all
 * four commands wait the busy timeout and fail with the "locked" message; in WAL mode
 * readers go on (and see the committed state) and only replay, the writer, fails when it
 * records. Afterwards the holder commits: its change and every earlier row are there, and
 * the failed commands added nothing. */
static void locked_case(const char *name, int wal)
{
    char *p = tu_path(dir, name), args[1024], msg[1024];
    make_fashion_archive(p, wal);
    snap before = snapshot(p); /* read before the lock is taken: see unchanged_elsewhere */
    sqlite3 *holder = NULL;
    CHECK(sqlite3_open(p, &holder) == SQLITE_OK);
    CHECK(sqlite3_exec(holder, "BEGIN EXCLUSIVE; UPDATE candidates SET name = 'renamed';", NULL,
                       NULL, NULL) == SQLITE_OK);
    dc_fmt(msg, sizeof msg,
           "archive %s is locked: another discover process holds it (waited 0.3 s); wait for "
           "it to finish or pass another --archive",
           p);
    CHECK(setenv("DISCOVER_ARCHIVE_BUSY_MS", "300", 1) == 0);
    for (int i = 0; i < 4; i++) {
        int writes = i == 3;
        if (writes && wal && !have_fashion_data()) {
            /* in WAL mode replay meets the lock only when it records, after training */
            fprintf(stderr, "note: locked WAL replay skipped (no Fashion-MNIST data)\n");
            break;
        }
        int rc = run(dc_fmt(args, sizeof args, "%s --archive '%s'", fault_cmds[i], p));
        if (wal && !writes) {
            CHECK_MSG(rc == 0, "%s on a WAL archive with a writer: exit %d: %s", fault_cmds[i], rc,
                      errout);
            /* the committed state: not the holder's uncommitted rename */
            CHECK_MSG(strstr(out, fault_shows[i]) && !strstr(out, "renamed"), "%s", out);
        } else {
            CHECK_MSG(rc == 1, "%s on locked %s: exit %d", fault_cmds[i], name, rc);
            CHECK_MSG(strstr(errout, msg) != NULL, "%s: %s", fault_cmds[i], errout);
        }
        snap copy = {dc_malloc(before.len ? before.len : 1), before.len};
        if (before.data) memcpy(copy.data, before.data, before.len);
        CHECK_MSG(unchanged_elsewhere(p, copy), "%s modified %s", fault_cmds[i], name);
    }
    free(before.data);
    CHECK(unsetenv("DISCOVER_ARCHIVE_BUSY_MS") == 0);
    CHECK(sqlite3_exec(holder, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(sqlite3_close(holder) == SQLITE_OK);
    char *ic = tu_sql_text(p, "PRAGMA integrity_check");
    CHECK_STR(ic, "ok");
    free(ic);
    CHECK(tu_sql_int(p, "SELECT count(*) FROM candidates WHERE name = 'renamed'") == 1);
    CHECK(tu_sql_int(p, "SELECT count(*) FROM candidates") == 1);
    CHECK(tu_sql_int(p, "SELECT count(*) FROM campaigns") == 1);
    CHECK(tu_sql_int(p, "SELECT count(*) FROM evaluations") == 0);
    free(p);
}

static void test_locked(void)
{
    locked_case("locked_journal.db", 0);
    locked_case("locked_wal.db", 1);
}

int main(void)
{
    dir = tu_tmpdir();
    db = tu_path(dir, "fixture.db");
    build_fixture();
    test_campaigns();
    test_ls();
    test_show();
    test_export();
    test_bad_archives();
    test_replay_checks_read_only();
    test_newer_schema();
    test_read_only();
    test_locked();
    tu_rmdir(dir);
    free(dir);
    free(db);
    free(out);
    free(errout);
    return TEST_REPORT();
}
