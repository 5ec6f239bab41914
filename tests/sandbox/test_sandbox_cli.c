#define _GNU_SOURCE /* popen, mkdtemp under -std=c11 */
/* test_sandbox_cli.c — the built `discover check` on a good and a bad objective: exit
 * codes (0 accepted, 2 rejected, 1 usage) and the --json object. */
#include "tests/test.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char g_dir[128];

static void write_file(const char *name, const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Runs `discover ARGS`, captures stdout; returns the exit code (-1 if it did not exit). */
static int run(const char *args, char *out, size_t cap)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/discover' %s 2>/dev/null", DC_BUILD_DIR, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/dc_sbx_cli_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    char good[256], bad[256], crash[256], out[8192], args[1024];
    write_file("dpo.c",
               "#include <math.h>\n"
               "void objective(const pref_batch *b, double *loss) {\n"
               "    for (int i = 0; i < b->n; i++) {\n"
               "        double x = b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -\n"
               "                              (b->rejected_logps[i] - b->ref_rejected_logps[i]));\n"
               "        loss[i] = x >= 0 ? log1p(exp(-x)) : -x + log1p(exp(x));\n"
               "    }\n"
               "}\n",
               good, sizeof good);
    write_file("bad.c", "#include <stdio.h>\nvoid objective(const pref_batch *b, double *loss) {}\n",
               bad, sizeof bad);
    write_file("crash.c",
               "void objective(const pref_batch *b, double *loss) { loss[b->n * 100000000] = 1; }\n",
               crash, sizeof crash);

    /* accepted: exit 0, JSON with every field */
    snprintf(args, sizeof args, "check '%s' --task sentiment --json", good);
    CHECK(run(args, out, sizeof out) == 0);
    cJSON *o = cJSON_Parse(out);
    CHECK_MSG(o != NULL, "not JSON: %s", out);
    if (o) {
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")), "ok");
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "separable")));
        const char *fp = cJSON_GetStringValue(cJSON_GetObjectItem(o, "fingerprint"));
        CHECK(fp && strlen(fp) == 16);
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "seconds")));
        CHECK(cJSON_IsString(cJSON_GetObjectItem(o, "message")));
        /* no objective_grad in it: central differences */
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "gradient")), "numerical");
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "gradient_note")), "");
        cJSON_Delete(o);
    }
    /* the shipped cross-entropy has a correct objective_grad: the analytic path */
    snprintf(args, sizeof args, "check '%s/examples/objectives/fashion/cross_entropy.c' --task fashion --json",
             DC_SOURCE_DIR);
    CHECK(run(args, out, sizeof out) == 0);
    o = cJSON_Parse(out);
    CHECK_MSG(o != NULL, "not JSON: %s", out);
    if (o) {
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "gradient")), "analytic");
        cJSON_Delete(o);
    }

    /* rejected at compile time: exit 2, status compile_error, the line in the message */
    snprintf(args, sizeof args, "check '%s' --task sentiment --json", bad);
    CHECK(run(args, out, sizeof out) == 2);
    o = cJSON_Parse(out);
    CHECK_MSG(o != NULL, "not JSON: %s", out);
    if (o) {
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "status")), "compile_error");
        const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(o, "message"));
        CHECK(m && strstr(m, "line 1") != NULL);
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "fingerprint")));
        cJSON_Delete(o);
    }

    /* rejected at run time; human-readable line */
    snprintf(args, sizeof args, "check '%s' --task sentiment", crash);
    CHECK(run(args, out, sizeof out) == 2);
    CHECK_MSG(strstr(out, "rejected (crash)") != NULL, "output: %s", out);

    /* the classification interface for fashion: DPO's signature does not fit */
    snprintf(args, sizeof args, "check '%s' --task fashion --json", good);
    CHECK(run(args, out, sizeof out) == 2);
    CHECK(strstr(out, "\"compile_error\"") != NULL);

    /* usage errors: exit 1 */
    snprintf(args, sizeof args, "check '%s' --task nosuchtask", good);
    CHECK(run(args, out, sizeof out) == 1);
    snprintf(args, sizeof args, "check '%s/missing.c' --task sentiment", g_dir);
    CHECK(run(args, out, sizeof out) == 1);
    snprintf(args, sizeof args, "check '%s' --task sentiment --frobnicate", good);
    CHECK(run(args, out, sizeof out) == 1);
    snprintf(args, sizeof args, "check '%s'", good);
    CHECK(run(args, out, sizeof out) == 1);
    CHECK(run("check --help", out, sizeof out) == 0);
    CHECK(strstr(out, "Exit status") != NULL);

    unlink(good);
    unlink(bad);
    unlink(crash);
    rmdir(g_dir);
    return TEST_REPORT();
}
