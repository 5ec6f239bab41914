/* test_config.c — campaign configuration files (`discover run --config FILE`).
 *
 * The parser directly: sections [campaign], [llm] and [task], comments, quoted values that
 * keep a '#', the task.KEY form, later values replacing earlier ones; a bad key, a bad value,
 * a malformed line and an unknown section each named by file and line. Then end to end: flags
 * override the file, and an option the task does not have is refused with the file's line. */
#define _GNU_SOURCE
#include "tests/test.h"

#include "archive/archive.h"
#include "common/util.h"
#include "discover/campaign/campaign.h"
#include "run_child.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

/* Writes text to tmpdir/name; the path goes into path. */
static void write_cfg(const char *name, const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    CHECK_MSG(f != NULL, "cannot write %s", path);
    if (!f) return;
    CHECK(fputs(text, f) >= 0);
    CHECK(fclose(f) == 0);
}

/* The value of task option key as set (the last one wins, as the task applies them in
 * order), with where it came from; NULL when not set. */
static const char *task_opt(const dc_campaign_cfg *c, const char *key, const char **origin)
{
    for (int i = c->ntask_opts - 1; i >= 0; i--)
        if (!strcmp(c->task_keys[i], key)) {
            if (origin) *origin = c->task_origin[i];
            return c->task_vals[i];
        }
    return NULL;
}

static void test_parse(void)
{
    char path[512], want[600];
    write_cfg("good.cfg",
              "# a discovery campaign\n"                      /* 1 */
              "\n"                                            /* 2 */
              "generations = 7   # a comment after a value\n" /* 3 */
              "campaign = \"noisy # run\"\n"                  /* 4 */
              "seeds = 1,2\n"                                 /* 5 */
              "[llm]\n"                                       /* 6 */
              "  model = \"my-model\"\n"                      /* 7 */
              "api_base=http://127.0.0.1:9/v1\n"              /* 8 */
              "temperature = 0.5\n"                           /* 9 */
              "retries = 2\n"                                 /* 10 */
              "json_mode = off\n"                             /* 11 */
              "[campaign]\n"                                  /* 12 */
              "max_calls = 4\n"                               /* 13 */
              "task.noise = 0.2\n"                            /* 14 */
              "baselines = \" cross_entropy\"\n"              /* 15 */
              "[ task ]\n"                                    /* 16 */
              "steps = 40\n"                                  /* 17 */
              "steps = 50   # the later line wins\n"          /* 18 */
              "train_size = 2000\n",                          /* 19 */
              path, sizeof path);
    dc_campaign_cfg c;
    dc_campaign_cfg_default(&c);
    char err[1024] = "";
    CHECK_MSG(dc_campaign_load(&c, path, err, sizeof err) == 0, "%s", err);
    CHECK(c.generations == 7);
    CHECK_STR(c.campaign, "noisy # run");
    CHECK(c.nseeds == 2 && c.seeds[0] == 1 && c.seeds[1] == 2);
    CHECK_STR(c.model, "my-model");
    CHECK_STR(c.api_base, "http://127.0.0.1:9/v1");
    CHECK_NEAR(c.llm.temperature, 0.5, 0);
    CHECK(c.llm.max_retries == 2);
    CHECK(c.llm.json_mode == 0); /* the default is on: the file turned it off */
    CHECK(c.max_calls == 4);
    CHECK_STR(c.baselines, " cross_entropy"); /* quotes keep the leading space */
    /* Untouched settings keep their defaults. */
    CHECK_STR(c.task, "fashion");
    CHECK_STR(c.proposer, "evolve");
    CHECK_NEAR(c.llm.connect_timeout_s, 10, 0);
    /* Task options: task.KEY anywhere, KEY under [task]; each remembers its line. */
    CHECK(c.ntask_opts == 4);
    const char *origin = NULL;
    CHECK_STR(task_opt(&c, "noise", &origin), "0.2");
    snprintf(want, sizeof want, "%s:14", path);
    CHECK_STR(origin, want);
    CHECK_STR(task_opt(&c, "steps", &origin), "50");
    snprintf(want, sizeof want, "%s:18", path);
    CHECK_STR(origin, want);
    CHECK_STR(task_opt(&c, "train_size", NULL), "2000");

    /* Each error names the file and the line, and says what is wrong. */
    static const struct {
        const char *text;
        int line;
        const char *says;
    } bad[] = {
        {"generations = 3\nnosuch = 1\n", 2, "unknown setting 'nosuch'"},
        {"# llm\n\n[llm]\ntemperature = hot\n", 4, "temperature must be a number"},
        {"generations = -1\n", 1, "generations must be a whole number from 0"},
        {"[llm]\nsteps = 30\n", 2, "unknown setting 'steps'"}, /* task options need [task] */
        {"task = chess\n", 1, "unknown task 'chess'"},
        {"generations 5\n", 1, "expected 'key = value'"},
        {"[model]\nname = x\n", 1, "unknown section [model]"},
        {"[task\n", 1, "malformed section header"},
        {"[models]\ngpt-x = 1\n", 2, "expected 'PRICE_IN, PRICE_OUT'"},
        {"[models]\ngpt-x = 1, -2\n", 2, "two numbers >= 0"},
        {"[models]\na,b = 1, 2\n", 2, "is not a model name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.cfg", i);
        write_cfg(name, bad[i].text, path, sizeof path);
        dc_campaign_cfg_default(&c);
        err[0] = '\0';
        CHECK_MSG(dc_campaign_load(&c, path, err, sizeof err) == -1, "%s was accepted", name);
        snprintf(want, sizeof want, "%s:%d: ", path, bad[i].line);
        CHECK_MSG(strncmp(err, want, strlen(want)) == 0 && strstr(err, bad[i].says),
                  "%s: got '%s', expected '%s' ... '%s'", name, err, want, bad[i].says);
    }
    dc_campaign_cfg_default(&c);
    snprintf(path, sizeof path, "%s/missing.cfg", tmpdir);
    CHECK(dc_campaign_load(&c, path, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "config file") && strstr(err, "missing.cfg"), "%s", err);
}

/* [models]: per-model prices become the price lists, in --model's order; a model it does
 * not name costs 0 and the note says so; explicit price lists win. */
static void test_models_section(void)
{
    char path[512], err[512] = "", note[512];
    write_cfg("models.cfg",
              "model = big,small,other\n"
              "[models]\n"
              "small = 0.15, 0.6   # per million tokens\n"
              "big = 2.5, 10\n"
              "big = 3, 12         # the later line wins\n",
              path, sizeof path);
    dc_campaign_cfg c;
    dc_campaign_cfg_default(&c);
    CHECK_MSG(dc_campaign_load(&c, path, err, sizeof err) == 0, "%s", err);
    CHECK(c.nmodel_prices == 2);
    CHECK(dc_campaign_resolve_prices(&c, note, sizeof note, err, sizeof err) == 0);
    CHECK_STR(c.price_in, "3,0.15,0");
    CHECK_STR(c.price_out, "12,0.6,0");
    CHECK_MSG(strstr(note, "no price for other") != NULL, "note: %s", note);
    dc_campaign_cfg_default(&c);
    CHECK(dc_campaign_load(&c, path, err, sizeof err) == 0);
    CHECK(dc_campaign_set(&c, "price_in", "1,2,3", err, sizeof err) == 0);
    CHECK(dc_campaign_resolve_prices(&c, note, sizeof note, err, sizeof err) == 0);
    CHECK_STR(c.price_in, "1,2,3");
    CHECK(note[0] == '\0');
}

/* Every config file shipped in examples/configs loads, prices resolved. */
static void test_shipped_configs(void)
{
    static const char *const files[] = {"fashion_evolve.conf", "fashion_llm.conf",
                                        "ollama.conf", "sentiment_llm.conf",
                                        "several_models.conf"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[512], err[512] = "", note[512];
        snprintf(path, sizeof path, "%s/examples/configs/%s", DC_SOURCE_DIR, files[i]);
        dc_campaign_cfg c;
        dc_campaign_cfg_default(&c);
        CHECK_MSG(dc_campaign_load(&c, path, err, sizeof err) == 0, "%s", err);
        CHECK_MSG(dc_campaign_resolve_prices(&c, note, sizeof note, err, sizeof err) == 0, "%s", err);
        CHECK_MSG(note[0] == '\0', "%s: %s", files[i], note);
    }
}

/* The archived campaign's configuration (settings and task_config) and seed, or NULL. */
static cJSON *archived_config(const char *db, const char *campaign, long long *seed)
{
    archive *a;
    char e[512];
    if (archive_open(db, ARC_READONLY, &a, e, sizeof e) != 0) {
        fprintf(stderr, "%s\n", e);
        return NULL;
    }
    cJSON *conf = NULL;
    arc_campaign c;
    if (archive_campaign_by_name(a, campaign, &c, e, sizeof e) == 0) {
        conf = cJSON_Parse(c.config_json);
        *seed = (long long)c.seed;
        arc_campaign_free(&c);
    }
    archive_close(a);
    return conf;
}

/* The last value archived for a settings key (the order they are applied in). */
static const char *setting(const cJSON *conf, const char *key)
{
    const char *v = NULL;
    const cJSON *pair;
    cJSON_ArrayForEach(pair, cJSON_GetObjectItemCaseSensitive(conf, "settings"))
    {
        const char *k = cJSON_GetStringValue(cJSON_GetArrayItem(pair, 0));
        if (k && !strcmp(k, key)) v = cJSON_GetStringValue(cJSON_GetArrayItem(pair, 1));
    }
    return v;
}

static void test_run_with_config(void)
{
    char path[512], db[400];
    snprintf(db, sizeof db, "%s/cfg.db", tmpdir);
    /* Deliberately slow settings (generations 50, 5000 steps) that the flags cut down, so a
     * flag that failed to override would show in the archive and in the time taken. */
    write_cfg("run.cfg",
              "[campaign]\n"
              "campaign = from_file\n"
              "generations = 50\n"
              "seed = 42\n"
              "baselines = cross_entropy\n"
              "[task]\n"
              "steps = 5000\n"
              "train_size = 2000\n"
              "val_size = 1000\n"
              "eval_every = \"30\"   # quoted numbers are fine\n",
              path, sizeof path);
    char *argv[] = {(char *)discover_bin(),
                    "run",
                    "--config",
                    path,
                    "--archive",
                    db,
                    "--campaign",
                    "from_flags",
                    "--generations",
                    "1",
                    "--set",
                    "steps=30",
                    "--quiet",
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv, NULL, 120, &out, &err);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err ? err : "");
    free(out);
    free(err);
    long long seed = -1;
    cJSON *conf = archived_config(db, "from_flags", &seed); /* the flag's name, not the file's */
    CHECK(conf != NULL);
    CHECK(seed == 42);
    if (conf) {
        CHECK_STR(setting(conf, "generations"), "1");
        CHECK_STR(setting(conf, "seed"), "42");
        CHECK_STR(setting(conf, "baselines"), "cross_entropy");
        CHECK_STR(setting(conf, "task.steps"), "30");
        const cJSON *task = cJSON_GetObjectItemCaseSensitive(conf, "task_config");
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(task, "steps")) == 30);
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(task, "train_size")) == 2000);
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(task, "eval_every")) == 30);
        cJSON_Delete(conf);
    }
    cJSON *none = archived_config(db, "from_file", &seed);
    CHECK(none == NULL);
    cJSON_Delete(none);

    /* An option the task does not have: refused before anything is trained, naming the
     * file and line it came from. */
    write_cfg("task.cfg", "[task]\nsteps = 30\nno_such_option = 3\n", path, sizeof path);
    char *argv2[] = {(char *)discover_bin(), "run",   "--config", path, "--archive", db,
                     "--campaign",           "never", NULL};
    rc = run_child(argv2, NULL, 60, &out, &err);
    char want[600];
    snprintf(want, sizeof want, "%s:3: ", path);
    CHECK_MSG(rc == 1 && err && strstr(err, want) && strstr(err, "no option 'no_such_option'"),
              "exit %d: %s", rc, err ? err : "");
    free(out);
    free(err);
    /* A bad value through the command line: the same file:line message, exit 1. */
    write_cfg("value.cfg", "[llm]\n\nretries = many\n", path, sizeof path);
    char *argv3[] = {(char *)discover_bin(), "run", "--config", path, "--archive", db, NULL};
    rc = run_child(argv3, NULL, 60, &out, &err);
    snprintf(want, sizeof want, "%s:3: retries must be a whole number", path);
    CHECK_MSG(rc == 1 && err && strstr(err, want), "exit %d: %s", rc, err ? err : "");
    free(out);
    free(err);
    archive *a;
    char e[512];
    if (archive_open(db, ARC_READONLY, &a, e, sizeof e) == 0) {
        arc_campaign c;
        CHECK(archive_campaign_by_name(a, "never", &c, e, sizeof e) == 1);
        archive_close(a);
    }
}

/* --candidate-timeout: run's default follows the slowest seed baseline (with a floor), an
 * explicit value (0: none) is archived for --resume, the default is not. */
static void test_candidate_timeout(void)
{
    CHECK_NEAR(dc_default_candidate_timeout(2.0), DC_CANDIDATE_TIMEOUT_FLOOR, 0);
    CHECK_NEAR(dc_default_candidate_timeout(100.0), 100.0 * DC_CANDIDATE_TIMEOUT_FACTOR, 1e-9);
    dc_campaign_cfg c;
    dc_campaign_cfg_default(&c);
    CHECK(c.candidate_timeout_s < 0);
    char e[256];
    cJSON *set = dc_campaign_settings_json(&c);
    char *text = cJSON_PrintUnformatted(set);
    CHECK_MSG(strstr(text, "candidate_timeout") == NULL, "default archived: %s", text);
    cJSON_free(text);
    cJSON_Delete(set);
    CHECK(dc_campaign_set(&c, "candidate_timeout", "-3", e, sizeof e) == -1);
    CHECK(dc_campaign_set(&c, "candidate_timeout", "0", e, sizeof e) == 0 &&
          c.candidate_timeout_s == 0);
    CHECK(dc_campaign_set(&c, "candidate_timeout", "900", e, sizeof e) == 0);
    set = dc_campaign_settings_json(&c);
    text = cJSON_PrintUnformatted(set);
    CHECK_MSG(strstr(text, "[\"candidate_timeout\",\"900\"]") != NULL, "settings: %s", text);
    cJSON_free(text);
    cJSON_Delete(set);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/discover-test-config-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    setenv("DISCOVER_CACHE", tmpdir, 1);
    test_parse();
    test_models_section();
    test_shipped_configs();
    test_candidate_timeout();
    test_run_with_config();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
