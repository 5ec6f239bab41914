/* `discover run --islands K --migrate-every M` (discover/campaign/islands.h).
 *
 * The islands really stay separate: an evolve candidate's parents, and an LLM prompt's
 * history, come only from the seed baselines, its own island and the migrants it has
 * received; a migrant arrives exactly after every M-th generation; the island of every
 * candidate and LLM call is archived; --resume restores the islands; --jobs 2 with the same
 * seed gives the same islands twice; bad values are refused with the setting named. The
 * expected migrants are recomputed here from the archived fitness, independently of the
 * campaign's code. */
#define _GNU_SOURCE
#include "tests/test.h"

#include "archive/archive.h"
#include "common/util.h"
#include "fake_llm_server.h"
#include "run_child.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>

static char tmpdir[256];

#define TASK_FLAGS                                                                                 \
    "--set", "steps=30", "--set", "train_size=2000", "--set", "val_size=1000", "--set",            \
        "eval_every=30"

enum { K = 2, M = 2 };

typedef struct {
    arc_candidate *c;
    int n;
    arc_llm_call *calls;
    int ncalls;
    char *config_json;
} archived;

static void load(const char *db, const char *campaign, archived *out)
{
    memset(out, 0, sizeof *out);
    archive *a;
    char e[512];
    if (archive_open(db, ARC_READONLY, &a, e, sizeof e) != 0) {
        fprintf(stderr, "%s\n", e);
        return;
    }
    arc_campaign c;
    if (archive_campaign_by_name(a, campaign, &c, e, sizeof e) == 0) {
        arc_filter f = {.campaign_id = c.id, .with_code = 1};
        if (archive_candidate_list(a, &f, &out->c, &out->n, e, sizeof e) != 0) out->n = 0;
        if (archive_llm_call_list(a, c.id, &out->calls, &out->ncalls, e, sizeof e) != 0)
            out->ncalls = 0;
        out->config_json = dc_strdup(c.config_json);
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
    free(x->config_json);
    memset(x, 0, sizeof *x);
}

static int expected_island(int generation)
{
    return generation <= 0 ? 0 : (generation - 1) % K;
}

/* 1 when candidate j may be in the context of a proposal of generation g (sequential: it
 * sees generations up to g - 1): a baseline, one of its island, or the best scored one of
 * the previous island at some migration point m = M, 2M, ... <= g - 1. */
static int visible_to(const archived *x, int j, int g)
{
    const arc_candidate *c = &x->c[j];
    int isl = expected_island(g);
    if (c->generation == 0) return 1;
    if (c->generation >= g) return 0;
    if (c->island == isl) return 1;
    int from = (isl + K - 1) % K;
    for (int m = M; m <= g - 1; m += M) {
        int best = -1;
        for (int i = 0; i < x->n; i++) {
            const arc_candidate *o = &x->c[i];
            if (o->generation < 1 || o->generation > m || o->island != from) continue;
            if (!o->has_fitness || strcmp(o->status, "ok")) continue;
            if (best < 0 || o->fitness > x->c[best].fitness) best = i;
        }
        if (best == j) return 1;
    }
    return 0;
}

static int index_of(const archived *x, int64_t id)
{
    for (int i = 0; i < x->n; i++)
        if (x->c[i].id == id) return i;
    return -1;
}

/* Parses a parents_json array into ids; returns how many (at most cap). */
static int parents_of(const arc_candidate *c, int64_t *ids, int cap)
{
    cJSON *arr = cJSON_Parse(c->parents_json ? c->parents_json : "[]");
    int n = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        if (cJSON_IsNumber(it) && n < cap) ids[n++] = (int64_t)it->valuedouble;
    }
    cJSON_Delete(arr);
    return n;
}

/* The archived settings hold islands and migrate_every (so --resume restores them). */
static void check_settings(const archived *x)
{
    CHECK(x->config_json && strstr(x->config_json, "[\"islands\",\"2\"]"));
    CHECK(x->config_json && strstr(x->config_json, "[\"migrate_every\",\"2\"]"));
}

static void test_evolve_islands(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/evolve.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "evolve",
                    "--generations", "10", "--islands", "2", "--migrate-every", "2", "--seed",
                    "11", "--archive", db, "--campaign", "e", TASK_FLAGS, "--quiet", NULL};
    char *err = NULL;
    int rc = run_child(argv, NULL, 300, NULL, &err);
    CHECK_MSG(rc == 0, "exited %d: %s", rc, err ? err : "");
    free(err);
    archived x;
    load(db, "e", &x);
    CHECK_MSG(x.n >= 12, "%d candidates", x.n);
    check_settings(&x);
    int parents = 0, migrant_parents = 0, per_island[K] = {0};
    for (int i = 0; i < x.n; i++) {
        const arc_candidate *c = &x.c[i];
        CHECK_MSG(c->island == expected_island(c->generation), "candidate %lld gen %d island %d",
                  (long long)c->id, c->generation, c->island);
        if (c->generation >= 1 && c->island >= 0 && c->island < K) per_island[c->island]++;
        int64_t ids[4];
        int np = parents_of(c, ids, 4);
        for (int k = 0; k < np; k++) {
            int j = index_of(&x, ids[k]);
            CHECK_MSG(j >= 0 && visible_to(&x, j, c->generation),
                      "candidate %lld (gen %d, island %d) has parent %lld from outside its island",
                      (long long)c->id, c->generation, c->island, (long long)ids[k]);
            parents++;
            if (j >= 0 && x.c[j].generation > 0 && x.c[j].island != c->island) migrant_parents++;
        }
    }
    CHECK_MSG(per_island[0] == 5 && per_island[1] == 5, "islands hold %d and %d", per_island[0],
              per_island[1]);
    CHECK_MSG(parents > 0, "no candidate has a parent: nothing was checked");
    fprintf(stderr, "evolve: %d parents checked, %d of them migrants\n", parents, migrant_parents);
    unload(&x);

    /* The report draws one best-so-far line per island. */
    char html[300];
    snprintf(html, sizeof html, "%s/evolve.html", tmpdir);
    char *rargv[] = {(char *)discover_bin(), "report", "--archive", db, "--campaign", "e", "-o",
                     html, NULL};
    err = NULL;
    rc = run_child(rargv, NULL, 120, NULL, &err);
    CHECK_MSG(rc == 0, "report exited %d: %s", rc, err ? err : "");
    free(err);
    char rerr[256];
    char *page = dc_read_file(html, 64u << 20, NULL, rerr, sizeof rerr);
    CHECK(page && strstr(page, "id=\"fig-islands\""));
    CHECK(page && strstr(page, "data-kind=\"island-line\" data-island=\"0\""));
    CHECK(page && strstr(page, "data-kind=\"island-line\" data-island=\"1\""));
    CHECK(page && !strstr(page, "data-island=\"2\""));
    free(page);

    /* --resume may not re-partition the campaign's history. */
    char *change[] = {(char *)discover_bin(), "run", "--archive", db, "--campaign", "e",
                      "--resume", "--generations", "12", "--islands", "3", NULL};
    err = NULL;
    rc = run_child(change, NULL, 60, NULL, &err);
    CHECK_MSG(rc == 1 && err && strstr(err, "--islands 2 --migrate-every 2"), "exit %d: %s", rc,
              err ? err : "");
    free(err);

    /* --resume restores the islands from the archived settings: generations 11 and 12 go to
     * islands 0 and 1 and still take their parents from their own island and migrants. */
    char *resume[] = {(char *)discover_bin(), "run", "--archive", db, "--campaign", "e",
                      "--resume", "--generations", "12", "--quiet", NULL};
    err = NULL;
    rc = run_child(resume, NULL, 300, NULL, &err);
    CHECK_MSG(rc == 0, "resume exited %d: %s", rc, err ? err : "");
    free(err);
    load(db, "e", &x);
    int resumed = 0;
    for (int i = 0; i < x.n; i++) {
        const arc_candidate *c = &x.c[i];
        if (c->generation <= 10) continue;
        resumed++;
        CHECK_MSG(c->island == expected_island(c->generation), "gen %d island %d", c->generation,
                  c->island);
        int64_t ids[4];
        int np = parents_of(c, ids, 4);
        for (int k = 0; k < np; k++) {
            int j = index_of(&x, ids[k]);
            CHECK_MSG(j >= 0 && visible_to(&x, j, c->generation), "gen %d parent %lld",
                      c->generation, (long long)ids[k]);
        }
    }
    CHECK_MSG(resumed == 2, "%d candidates after the resume", resumed);
    unload(&x);
}

/* With --jobs 2 (proposals a generation ahead of the results) the same seed gives the same
 * islands, candidates and parents twice. */
static void test_jobs_reproducible(void)
{
    archived runs[2];
    for (int r = 0; r < 2; r++) {
        char db[300];
        snprintf(db, sizeof db, "%s/jobs%d.db", tmpdir, r);
        char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer",
                        "evolve", "--generations", "6", "--islands", "2", "--migrate-every", "2",
                        "--jobs", "2", "--seed", "4", "--archive", db, "--campaign", "j",
                        TASK_FLAGS, "--quiet", NULL};
        char *err = NULL;
        int rc = run_child(argv, NULL, 300, NULL, &err);
        CHECK_MSG(rc == 0, "run %d exited %d: %s", r, rc, err ? err : "");
        free(err);
        load(db, "j", &runs[r]);
    }
    CHECK_MSG(runs[0].n == runs[1].n && runs[0].n >= 7, "%d and %d candidates", runs[0].n,
              runs[1].n);
    for (int i = 0; i < runs[0].n && i < runs[1].n; i++) {
        const arc_candidate *a = &runs[0].c[i], *b = &runs[1].c[i];
        CHECK(a->generation == b->generation && a->island == b->island);
        CHECK(a->island == expected_island(a->generation));
        CHECK_STR(a->code_hash, b->code_hash);
        CHECK_STR(a->parents_json, b->parents_json);
    }
    unload(&runs[0]);
    unload(&runs[1]);
}

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

/* The LLM proposer: request g - 1 (generation g) names exactly the candidates visible to its
 * island, and the first migrant arrives after generation M, not before. */
static void test_llm_prompts(void)
{
    enum { GENS = 6 };
    fake_llm *srv = fake_llm_start();
    CHECK(srv != NULL);
    if (!srv) return;
    for (int g = 1; g <= GENS; g++) {
        char code[2048], name[32];
        code_smooth(0.03 * g, code, sizeof code);
        snprintf(name, sizeof name, "isle_g%d", g);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "thought", "Smooth a little more.");
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddStringToObject(o, "code", code);
        char *r = cJSON_Print(o);
        cJSON_Delete(o);
        fake_llm_push_content(srv, r, 100, 20);
        free(r);
    }
    char db[300];
    snprintf(db, sizeof db, "%s/llm.db", tmpdir);
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "llm",
                    "--api-base", (char *)fake_llm_base_url(srv), "--model", "m",
                    "--generations", "6", "--baselines", "cross_entropy", "--islands", "2",
                    "--migrate-every", "2", "--archive", db, "--campaign", "l", TASK_FLAGS,
                    "--quiet", NULL};
    char *err = NULL;
    int rc = run_child(argv, NULL, 300, NULL, &err);
    CHECK_MSG(rc == 0, "exited %d: %s", rc, err ? err : "");
    free(err);
    CHECK(fake_llm_request_count(srv) == GENS);
    archived x;
    load(db, "l", &x);
    CHECK_MSG(x.n == GENS + 1, "%d candidates", x.n);
    CHECK(x.ncalls == GENS);
    check_settings(&x);
    for (int i = 0; i < x.ncalls; i++)
        CHECK_MSG(x.calls[i].island == expected_island(x.calls[i].generation),
                  "call %d: generation %d island %d", i, x.calls[i].generation, x.calls[i].island);
    for (int g = 1; g <= GENS && g <= fake_llm_request_count(srv); g++) {
        const char *body = fake_llm_request_body(srv, g - 1);
        for (int j = 0; j < x.n; j++) {
            const arc_candidate *c = &x.c[j];
            int shown = body && strstr(body, c->name) != NULL;
            CHECK_MSG(shown == visible_to(&x, j, g),
                      "generation %d (island %d): '%s' (gen %d, island %d) %s the prompt", g,
                      expected_island(g), c->name, c->generation, c->island,
                      shown ? "is wrongly in" : "is missing from");
        }
    }
    /* The timing itself, spelled out (isle_gN is generation N): generation 2 (island 1)
     * has no migrant yet; generation 3 (island 0) has received isle_g2 after generation 2;
     * generation 4 (island 1) has isle_g1 but not isle_g3, which arrives only after 4. */
    if (fake_llm_request_count(srv) >= 4 && x.n == GENS + 1) {
        CHECK(!strstr(fake_llm_request_body(srv, 1), "isle_g1"));
        CHECK(strstr(fake_llm_request_body(srv, 2), "isle_g2") != NULL);
        CHECK(strstr(fake_llm_request_body(srv, 3), "isle_g1") != NULL);
        CHECK(!strstr(fake_llm_request_body(srv, 3), "isle_g3"));
    }
    unload(&x);
    fake_llm_stop(srv);
}

static void test_bad_values(void)
{
    static const char *cases[][3] = {{"--islands", "0", "islands"},
                                     {"--islands", "x", "islands"},
                                     {"--migrate-every", "0", "migrate_every"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char db[300];
        snprintf(db, sizeof db, "%s/bad%zu.db", tmpdir, i);
        char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer",
                        "evolve", (char *)cases[i][0], (char *)cases[i][1], "--archive", db,
                        NULL};
        char *err = NULL;
        int rc = run_child(argv, NULL, 60, NULL, &err);
        CHECK_MSG(rc == 1, "%s %s: exit %d", cases[i][0], cases[i][1], rc);
        CHECK_MSG(err && strstr(err, cases[i][2]), "%s %s: %s", cases[i][0], cases[i][1],
                  err ? err : "");
        free(err);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/discover-test-islands-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    setenv("DISCOVER_CACHE", tmpdir, 1);
    test_bad_values();
    test_evolve_islands();
    test_llm_prompts();
    test_jobs_reproducible();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
