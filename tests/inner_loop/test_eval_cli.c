/* test_eval_cli.c — `discover eval` end to end: the real program, the real sandbox worker,
 * small inline objectives written to temporary files, --json parsed back. */
#define _DEFAULT_SOURCE /* mkdtemp, popen */
#include "tests/test.h"

#include <cJSON.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef DC_BUILD_DIR
#error "DC_BUILD_DIR must be defined (the folder holding the discover program)"
#endif

static char dir[256];

static void write_objective(const char *name, const char *code)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(code, f);
    fclose(f);
}

/* Runs discover with args (already quoted), returns its exit status and stdout parsed as
 * JSON in *out (NULL when it is not JSON). */
static int run_discover(const char *args, cJSON **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/discover' %s 2>/dev/null", DC_BUILD_DIR, args);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) return -1;
    char *buf = malloc(1 << 20);
    size_t len = fread(buf, 1, (1 << 20) - 1, p);
    buf[len] = 0;
    int status = pclose(p);
    *out = cJSON_Parse(buf);
    if (!*out && len) fprintf(stderr, "not JSON: %s\n", buf);
    free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(it) ? it->valuestring : "";
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

#define SMALL                                                                                      \
    "--set val_size=1000 --set train_size=5000 --set hidden=32 --set eval_every=50 --set "         \
    "threads=1"

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/dc_test_eval_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    write_objective("ce.c",
                    "#include <math.h>\n"
                    "void objective(int n, int k, const double *z, const int *y, double *loss)\n"
                    "{\n"
                    "    for (int i = 0; i < n; i++) {\n"
                    "        const double *r = z + i * k;\n"
                    "        double m = r[0], s = 0;\n"
                    "        for (int j = 1; j < k; j++) m = fmax(m, r[j]);\n"
                    "        for (int j = 0; j < k; j++) s += exp(r[j] - m);\n"
                    "        loss[i] = m + log(s) - r[y[i]];\n"
                    "    }\n"
                    "}\n");
    // passes the pre-screen, then overflows once training pushes the logits up
    write_objective("explode.c",
                    "#include <math.h>\n"
                    "void objective(int n, int k, const double *z, const int *y, double *loss)\n"
                    "{\n"
                    "    for (int i = 0; i < n; i++) {\n"
                    "        double s = 0;\n"
                    "        for (int j = 0; j < k; j++) s += exp(z[i * k + j]);\n"
                    "        loss[i] = log(s) - 5 * z[i * k + y[i]];\n"
                    "    }\n"
                    "}\n");
    write_objective("syntax.c", "void objective(int n, int k) { return 1 }\n");

    char args[1024];
    cJSON *j = NULL;

    // a working objective over two seeds
    snprintf(args, sizeof args,
             "eval '%s/ce.c' --task fashion --seeds 1,2 --steps 150 --json " SMALL, dir);
    int rc = run_discover(args, &j);
    CHECK(rc == 0);
    CHECK_STR(str(j, "status"), "ok");
    CHECK(num(j, "fitness") > 0.6 && num(j, "fitness") <= 1);
    CHECK(num(j, "test_accuracy") > 0.6);
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "per_seed");
    CHECK(cJSON_GetArraySize(ps) == 2);
    const cJSON *s1 = cJSON_GetArrayItem(ps, 1);
    CHECK(num(s1, "seed") == 2 && num(s1, "val_accuracy") > 0.6 && num(s1, "test_accuracy") > 0.6 &&
          isfinite(num(s1, "train_loss")) && num(s1, "seconds") > 0);
    CHECK_NEAR(num(j, "fitness"),
               (num(cJSON_GetArrayItem(ps, 0), "val_accuracy") + num(s1, "val_accuracy")) / 2,
               1e-12);
    CHECK(num(j, "seconds") > 0);
    cJSON_Delete(j);

    // a compile error is a rejection (exit 2) with the compiler's message
    snprintf(args, sizeof args, "eval '%s/syntax.c' --json " SMALL, dir);
    rc = run_discover(args, &j);
    CHECK(rc == 2);
    CHECK_STR(str(j, "status"), "compile_error");
    CHECK(strlen(str(j, "message")) > 0);
    cJSON_Delete(j);

    // a run that goes non-finite mid-training: exit 2, status nonfinite, the step
    snprintf(args, sizeof args, "eval '%s/explode.c' --json --steps 400 " SMALL, dir);
    rc = run_discover(args, &j);
    CHECK(rc == 2);
    CHECK_STR(str(j, "status"), "nonfinite");
    CHECK(num(j, "failed_step") > 1);
    cJSON_Delete(j);

    // usage errors: exit 1, nothing on stdout
    snprintf(args, sizeof args, "eval '%s/ce.c' --task nosuchtask --json", dir);
    CHECK(run_discover(args, &j) == 1 && j == NULL);
    snprintf(args, sizeof args, "eval '%s/ce.c' --set steps=-4", dir);
    CHECK(run_discover(args, &j) == 1 && j == NULL);
    /* --device cuda with and without a GPU: test_cuda_cli. */

    const char *names[] = {"ce.c", "explode.c", "syntax.c"};
    for (size_t i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    return TEST_REPORT();
}
