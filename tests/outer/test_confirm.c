/* test_confirm — `discover confirm` and `run --confirm` on a tiny fashion campaign: K × seeds
 * evaluations with purpose 'confirm', a (candidate, seed) never trained twice, the winner
 * chosen by mean confirmed fitness and not by search fitness (a candidate whose archived
 * search fitness is made the best while its loss trains towards the wrong labels), and
 * clear errors for a bad --top, --seeds, a seed the search used, an unknown campaign. */
#define _GNU_SOURCE
#include "tests/test.h"

#include "common/util.h"
#include "run_child.h"

#include <cJSON.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define TASK_FLAGS "--set", "steps=30", "--set", "train_size=2000", "--set", "val_size=1000", \
                   "--set", "eval_every=30"

static char tmpdir[256];

/* Cross-entropy towards the next label: a valid, trainable loss whose accuracy is near 0. */
static const char *code_wrong =
    "#include <math.h>\n"
    "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n"
    "{\n"
    "    for (int i = 0; i < n; i++) {\n"
    "        const double *z = logits + i * k;\n"
    "        double m = z[0];\n"
    "        for (int j = 1; j < k; j++) m = fmax(m, z[j]);\n"
    "        double s = 0.0;\n"
    "        for (int j = 0; j < k; j++) s += exp(z[j] - m);\n"
    "        loss[i] = m + log(s) - z[(labels[i] + 1) % k];\n"
    "    }\n"
    "}\n";

static sqlite3 *db_open(const char *path)
{
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        CHECK_MSG(0, "sqlite3_open %s: %s", path, h ? sqlite3_errmsg(h) : "out of memory");
        sqlite3_close(h);
        return NULL;
    }
    return h;
}

static long long query_int(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        CHECK_MSG(0, "%s: %s", sql, sqlite3_errmsg(h));
    sqlite3_finalize(st);
    return v;
}

static int run_campaign(const char *db, const char *name, const char *confirm, char **out)
{
    char *argv[] = {(char *)discover_bin(), "run", "--task", "fashion", "--proposer", "random",
                    "--generations", "2", "--seed", "5", "--archive", (char *)db, "--campaign",
                    (char *)name, "--quiet", "--json", TASK_FLAGS,
                    confirm ? "--confirm" : NULL, (char *)confirm, NULL};
    char *err = NULL;
    int rc = run_child(argv, NULL, 120, out, &err);
    CHECK_MSG(rc == 0, "run %s exited %d: %s", name, rc, err ? err : "");
    free(err);
    return rc;
}

static int confirm(const char *db, const char *campaign, const char *top, const char *seeds,
                   char **out, char **err)
{
    char *argv[12] = {(char *)discover_bin(), "confirm", "--archive", (char *)db, "--json"};
    int n = 5;
    if (campaign) argv[n++] = "--campaign", argv[n++] = (char *)campaign;
    if (top) argv[n++] = "--top", argv[n++] = (char *)top;
    if (seeds) argv[n++] = "--seeds", argv[n++] = (char *)seeds;
    argv[n] = NULL;
    return run_child(argv, NULL, 120, out, err);
}

/* The candidate with the best mean confirmed fitness, computed from the rows themselves. */
static long long best_confirmed(sqlite3 *h)
{
    return query_int(h, "SELECT candidate_id FROM evaluations WHERE purpose = 'confirm' AND "
                        "status = 'ok' GROUP BY candidate_id ORDER BY AVG(fitness) DESC, "
                        "candidate_id LIMIT 1");
}

static void test_confirm_command(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/confirm.db", tmpdir);
    char *out = NULL;
    if (run_campaign(db, "cf", NULL, &out) != 0) return;
    free(out);
    sqlite3 *h = db_open(db);
    if (!h) return;
    /* The lucky one: the worst candidate gets a loss that learns the wrong labels and the
     * best search fitness of all. */
    long long lucky = query_int(h, "SELECT id FROM candidates WHERE status = 'ok' "
                                   "ORDER BY fitness, id LIMIT 1");
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(h, "UPDATE candidates SET code = ?1, fitness = 0.99 WHERE id = ?2",
                             -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, code_wrong, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, lucky);
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);

    char *err = NULL;
    int rc = confirm(db, "cf", "3", "101,102", &out, &err);
    CHECK_MSG(rc == 0, "confirm exited %d: %s", rc, err ? err : "");
    CHECK(query_int(h, "SELECT COUNT(*) FROM evaluations WHERE purpose = 'confirm'") == 6);
    CHECK(query_int(h, "SELECT COUNT(DISTINCT candidate_id) FROM evaluations "
                       "WHERE purpose = 'confirm'") == 3);
    CHECK(query_int(h, "SELECT COUNT(*) FROM evaluations WHERE purpose = 'confirm' AND "
                       "seed NOT IN (101, 102)") == 0);
    /* The three confirmed are the top three by search fitness, the lucky one among them. */
    CHECK(query_int(h, "SELECT COUNT(*) FROM (SELECT id FROM candidates WHERE status = 'ok' "
                       "ORDER BY fitness DESC, id LIMIT 3) WHERE id IN (SELECT candidate_id "
                       "FROM evaluations WHERE purpose = 'confirm')") == 3);
    char sql[256];
    dc_fmt(sql, sizeof sql,
           "SELECT COUNT(*) FROM evaluations WHERE purpose = 'confirm' AND candidate_id = %lld "
           "AND fitness < 0.5",
           lucky);
    CHECK_MSG(query_int(h, sql) == 2, "the wrong-label loss should confirm far below 0.99");
    long long expect = best_confirmed(h);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    CHECK_MSG(j != NULL, "confirm --json is not JSON: %s", out ? out : "");
    cJSON *w = cJSON_GetObjectItem(j, "winner_id");
    CHECK(cJSON_IsNumber(w) && (long long)w->valuedouble == expect);
    CHECK(cJSON_IsNumber(w) && (long long)w->valuedouble != lucky);
    cJSON *first = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "confirmed"), 0);
    CHECK(cJSON_GetObjectItem(first, "confirmed_n") &&
          cJSON_GetObjectItem(first, "confirmed_n")->valueint == 2);
    cJSON_Delete(j);
    free(out);
    free(err);

    /* ls and show put search fitness, confirmed fitness (mean, n) and test side by side. */
    char *ls[] = {(char *)discover_bin(), "ls", "--archive", db, "--campaign", "cf", "--json",
                  NULL};
    CHECK(run_child(ls, NULL, 60, &out, NULL) == 0);
    j = out ? cJSON_Parse(out) : NULL;
    int with_conf = 0;
    for (int i = 0; i < cJSON_GetArraySize(j); i++) {
        cJSON *c = cJSON_GetArrayItem(j, i);
        cJSON *cn = cJSON_GetObjectItem(c, "confirmed_n");
        CHECK(cJSON_IsNumber(cn) && cJSON_GetObjectItem(c, "confirmed_fitness"));
        if (!cJSON_IsNumber(cn) || cn->valueint == 0) continue;
        with_conf++;
        CHECK(cn->valueint == 2 && cJSON_IsNumber(cJSON_GetObjectItem(c, "confirmed_fitness")));
        if ((long long)cJSON_GetObjectItem(c, "id")->valuedouble == lucky)
            CHECK(cJSON_GetObjectItem(c, "fitness")->valuedouble == 0.99 &&
                  cJSON_GetObjectItem(c, "confirmed_fitness")->valuedouble < 0.5);
    }
    CHECK(with_conf == 3);
    cJSON_Delete(j);
    free(out);
    char idtext[32];
    dc_fmt(idtext, sizeof idtext, "%lld", lucky);
    char *show[] = {(char *)discover_bin(), "show", idtext, "--archive", db, NULL};
    CHECK(run_child(show, NULL, 60, &out, NULL) == 0);
    CHECK_MSG(out && strstr(out, "confirmed: ") && strstr(out, "over 2 fresh seeds") &&
                  strstr(out, " confirm "),
              "show lacks the confirmation: %s", out ? out : "");
    free(out);

    /* The report plots search against confirmed fitness for the confirmed ones. */
    char html[320];
    dc_fmt(html, sizeof html, "%s/report.html", tmpdir);
    char *rep[] = {(char *)discover_bin(), "report", "--archive", db, "--campaign", "cf", "-o",
                   html, NULL};
    CHECK(run_child(rep, NULL, 60, &out, NULL) == 0);
    free(out);
    char rerr[256];
    char *page = dc_read_file(html, 64u << 20, NULL, rerr, sizeof rerr);
    const char *fig = page ? strstr(page, "id=\"fig-confirm\"") : NULL;
    CHECK_MSG(fig != NULL, "the report has no confirmation figure");
    int points = 0;
    for (const char *p = fig; p && (p = strstr(p, "data-kind=\"confirmed\"")) != NULL; p++)
        points++;
    CHECK_MSG(points == 3, "%d confirmed points in the report", points);
    free(page);

    /* Again on the same seeds: nothing is trained twice. */
    rc = confirm(db, "cf", "3", "101,102", &out, &err);
    CHECK(rc == 0);
    CHECK(query_int(h, "SELECT COUNT(*) FROM evaluations WHERE purpose = 'confirm'") == 6);
    free(out);
    free(err);

    /* Bad input: each a usage error naming what is wrong. */
    struct {
        const char *campaign, *top, *seeds, *says;
    } bad[] = {
        {"cf", "0", NULL, "--top"},
        {"cf", "many", NULL, "--top"},
        {"cf", "2", "3-1", "--seeds"},
        {"cf", "2", "x", "--seeds"},
        {"cf", "2", "1,101", "training seed"}, /* 1 is the search's seed */
        {"nope", "2", NULL, "no campaign 'nope'"},
        {NULL, "2", NULL, "--campaign"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rc = confirm(db, bad[i].campaign, bad[i].top, bad[i].seeds, &out, &err);
        CHECK_MSG(rc == 1, "case %zu exited %d", i, rc);
        CHECK_MSG(err && strstr(err, bad[i].says), "case %zu: stderr lacks '%s': %s", i,
                  bad[i].says, err ? err : "");
        free(out);
        free(err);
    }
    CHECK(query_int(h, "SELECT COUNT(*) FROM evaluations WHERE purpose = 'confirm'") == 6);
    sqlite3_close(h);
}

/* run --confirm K: K × the three default fresh seeds (seed 5 + 1000..1002), winner in the
 * summary. */
static void test_run_confirm(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/run_confirm.db", tmpdir);
    char *out = NULL;
    if (run_campaign(db, "rc", "2", &out) != 0) return;
    sqlite3 *h = db_open(db);
    if (!h) return;
    CHECK(query_int(h, "SELECT COUNT(*) FROM evaluations WHERE purpose = 'confirm'") == 6);
    CHECK(query_int(h, "SELECT COUNT(*) FROM evaluations WHERE purpose = 'confirm' AND "
                       "seed IN (1005, 1006, 1007)") == 6);
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    CHECK_MSG(j != NULL, "run --json is not JSON: %s", out ? out : "");
    cJSON *w = cJSON_GetObjectItem(j, "winner_id");
    CHECK(cJSON_IsNumber(w) && (long long)w->valuedouble == best_confirmed(h));
    CHECK(cJSON_GetObjectItem(j, "winner_confirmed_n") &&
          cJSON_GetObjectItem(j, "winner_confirmed_n")->valueint == 3);
    cJSON_Delete(j);
    free(out);
    sqlite3_close(h);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dc_test_confirm_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_confirm_command();
    test_run_confirm();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (dc_test_failed == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
