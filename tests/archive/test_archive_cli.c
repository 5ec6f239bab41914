/* The inspection commands run as the built `discover` binary on an archive built here:
 * ls, show, export and campaigns outputs (text, tab-separated, JSON), exit codes, and the
 * errors for a missing id, a missing archive (no file may be created), a non-SQLite file,
 * an unknown campaign or status, and an existing export target. */
#include "arc_test_util.h"
#include "test.h"

#include <cJSON.h>
#include <math.h>
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
    c.llm_call_id = call.id;
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
    CHECK(strncmp(out, "id\tcampaign\tgen\tname\tstatus\tfitness\ttest\tseconds\n", 48) == 0);
    CHECK(count_lines(out) == 5);
    char row[256];
    dc_fmt(row, sizeof row, "\n%lld\tdemo\t1\t%s\tok\t0.8500\t0.5000\t0.0\n", (long long)id_long,
           long_name); /* whole name when piped */
    CHECK(strstr(out, row) != NULL);
    dc_fmt(row, sizeof row, "\n%lld\tdemo\t1\tbroken\tcompile_error\t-\t-\t1.5\n",
           (long long)id_broken);
    CHECK(strstr(out, row) != NULL);

    /* --top: best first across campaigns; --campaign narrows. */
    CHECK(run(dc_fmt(args, sizeof args, "ls --top 2 --json --archive '%s'", db)) == 0);
    cJSON *j = cJSON_Parse(out);
    CHECK(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 2);
    if (cJSON_GetArraySize(j) == 2) {
        CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "id")->valuedouble == (double)id_x);
        CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 1), "id")->valuedouble == (double)id_long);
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
    tu_rmdir(dir);
    free(dir);
    free(db);
    free(out);
    free(errout);
    return TEST_REPORT();
}
