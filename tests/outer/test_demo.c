/* test_demo.c — `discover demo` on a tiny configuration: it narrates every step (proposal,
 * sandbox compile and pre-screen, training, score, best so far), exits 0, and leaves an
 * archive that `ls`, `show` and `export` read, with an exported file `check` accepts. */
#define _GNU_SOURCE
#include "tests/test.h"

#include "common/util.h"
#include "run_child.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

static void test_demo(void)
{
    char db[300];
    snprintf(db, sizeof db, "%s/demo.db", tmpdir);
    /* The demo's own settings, cut down with --set (any run option is accepted): a few
     * seconds instead of a minute. */
    char *argv[] = {(char *)discover_bin(),
                    "demo",
                    "--generations",
                    "1",
                    "--archive",
                    db,
                    "--campaign",
                    "dm",
                    "--set",
                    "steps=30",
                    "--set",
                    "train_size=2000",
                    "--set",
                    "val_size=1000",
                    "--set",
                    "eval_every=30",
                    NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv, NULL, 120, &out, &err);
    CHECK_MSG(rc == 0, "demo exited %d: %s", rc, err ? err : "");
    const char *narration[] = {
        "discover demo: LLM-style discovery", /* the introduction */
        "generation 0: training the seed baselines",
        "== Generation 1 of 1 ==",
        "1. Propose: the proposer writes",
        "Thought:",
        "Code (the objective, C):",
        "2. Sandbox: compiled with libtcc",
        "3. Train: the model learns",
        "4. Score: fitness",
        "held-out test split",
        "Best so far:",
        "campaign 'dm' finished",
        "discover show ID", /* where to look next */
    };
    for (size_t i = 0; i < sizeof narration / sizeof narration[0]; i++)
        CHECK_MSG(err && strstr(err, narration[i]), "narration lacks '%s'", narration[i]);
    /* The steps come in order for the generation-1 candidate. */
    const char *g1 = err ? strstr(err, "== Generation 1 of 1 ==") : NULL;
    const char *p = g1 ? strstr(g1, "1. Propose:") : NULL;
    const char *s = p ? strstr(p, "2. Sandbox:") : NULL;
    const char *t = s ? strstr(s, "3. Train:") : NULL;
    CHECK_MSG(t && (strstr(t, "4. Score:") || strstr(t, "4. Not trained:")),
              "generation 1 narration out of order: %s", g1 ? g1 : "(none)");
    free(out);
    free(err);

    /* ls: the seed baselines and the one proposal. */
    char *als[] = {(char *)discover_bin(), "ls", "--archive", db,
                   "--campaign",           "dm", "--json",    NULL};
    rc = run_child(als, NULL, 30, &out, &err);
    CHECK_MSG(rc == 0, "ls exited %d: %s", rc, err ? err : "");
    cJSON *list = cJSON_Parse(out ? out : "");
    CHECK(cJSON_GetArraySize(list) >= 2);
    long long id = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, list)
    {
        if (cJSON_GetNumberValue(cJSON_GetObjectItem(row, "generation")) == 1)
            id = (long long)cJSON_GetNumberValue(cJSON_GetObjectItem(row, "id"));
    }
    cJSON_Delete(list);
    free(out);
    free(err);
    CHECK_MSG(id > 0, "no generation-1 candidate listed");
    if (id <= 0) return;
    char ids[32];
    snprintf(ids, sizeof ids, "%lld", id);

    char *ashow[] = {(char *)discover_bin(), "show", ids, "--archive", db, NULL};
    rc = run_child(ashow, NULL, 30, &out, &err);
    char head[64];
    snprintf(head, sizeof head, "candidate %lld: ", id);
    CHECK_MSG(rc == 0 && out && strstr(out, head) && strstr(out, "generation 1") &&
                  strstr(out, "void objective("),
              "show exited %d: %s%s", rc, out ? out : "", err ? err : "");
    free(out);
    free(err);

    char file[320];
    snprintf(file, sizeof file, "%s/best.c", tmpdir);
    char *aexp[] = {(char *)discover_bin(), "export", ids, "--archive", db, "-o", file, NULL};
    rc = run_child(aexp, NULL, 30, &out, &err);
    CHECK_MSG(rc == 0 && access(file, F_OK) == 0, "export exited %d: %s", rc, err ? err : "");
    free(out);
    free(err);

    char *acheck[] = {(char *)discover_bin(), "check", file, "--task", "fashion", NULL};
    rc = run_child(acheck, NULL, 60, &out, &err);
    CHECK_MSG(rc == 0 && out && strstr(out, "passes the pre-screen"), "check exited %d: %s%s", rc,
              out ? out : "", err ? err : "");
    free(out);
    free(err);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/discover-test-demo-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    setenv("DISCOVER_CACHE", tmpdir, 1);
    test_demo();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return TEST_REPORT();
}
