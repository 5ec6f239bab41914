/* test_cuda_cli.c — `discover eval --device` through the real program, on any machine:
 * without a working GPU `--device cuda` fails with the reason and exit status 1 and
 * `--device auto` trains on the CPU without a word about CUDA; with one, cuda and auto both
 * run on it. The expected outcome comes from asking dc_backend_select in this process. */
#define _DEFAULT_SOURCE /* mkstemp, popen, setenv */
#include "tests/test.h"

#include "inner_loop/backend.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#if !defined(DC_BUILD_DIR) || !defined(DC_SOURCE_DIR)
#error "DC_BUILD_DIR and DC_SOURCE_DIR must be defined"
#endif

#define OBJECTIVE DC_SOURCE_DIR "/examples/objectives/fashion/cross_entropy.c"
#define SMALL                                                                                      \
    "--steps 30 --set hidden=16 --set train_size=2000 --set val_size=500 --set eval_every=10 "     \
    "--set threads=1"

static char out_text[1 << 16], err_text[1 << 16];

/* Runs discover with args; stdout and stderr into out_text / err_text; the exit status. */
static int run_discover(const char *env, const char *args)
{
    char errfile[] = "/tmp/dc_cuda_cli_XXXXXX";
    int fd = mkstemp(errfile);
    CHECK(fd >= 0);
    if (fd < 0) return -1;
    close(fd);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s '%s/discover' %s 2>'%s'", env ? env : "", DC_BUILD_DIR, args,
             errfile);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) return -1;
    size_t n = fread(out_text, 1, sizeof out_text - 1, p);
    out_text[n] = 0;
    int status = pclose(p);
    FILE *f = fopen(errfile, "r");
    n = f ? fread(err_text, 1, sizeof err_text - 1, f) : 0;
    err_text[n] = 0;
    if (f) fclose(f);
    unlink(errfile);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The backend named in the first per-seed result of a --json answer ("" if none). */
static const char *backend_of(cJSON *j)
{
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "per_seed");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ps, 0), "backend");
    return cJSON_IsString(b) ? b->valuestring : "";
}

static int mentions_cuda(const char *text)
{
    for (const char *p = text; *p; p++)
        if (tolower((unsigned char)p[0]) == 'c' && tolower((unsigned char)p[1]) == 'u' &&
            tolower((unsigned char)p[2]) == 'd' && tolower((unsigned char)p[3]) == 'a')
            return 1;
    return 0;
}

/* --device auto: exit 0 on the expected backend; with want_quiet, no word about CUDA. */
static void check_auto(const char *env, const char *want_prefix, int want_quiet)
{
    int rc = run_discover(env, "eval '" OBJECTIVE "' --json --device auto " SMALL);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err_text);
    cJSON *j = cJSON_Parse(out_text);
    CHECK(j != NULL);
    const char *b = j ? backend_of(j) : "";
    CHECK_MSG(!strncmp(b, want_prefix, strlen(want_prefix)), "backend '%s'", b);
    if (want_quiet) CHECK_MSG(!mentions_cuda(err_text), "stderr talks about CUDA: %s", err_text);
    cJSON_Delete(j);
}

int main(void)
{
    const dc_backend_ops *cuda = NULL;
    char why[1024] = "";
    int have_cuda = dc_backend_select("cuda", &cuda, why, sizeof why) == 0;
    printf("CUDA here: %s\n", have_cuda ? cuda->name() : why);

    int rc;
    if (!have_cuda) {
        // --device cuda: exit 1, nothing on stdout, the reason on stderr
        rc = run_discover(NULL, "eval '" OBJECTIVE "' --json --device cuda " SMALL);
        CHECK(rc == 1);
        CHECK(out_text[0] == 0);
        CHECK_MSG(strstr(err_text, "device=cuda") && strstr(err_text, why), "stderr: %s",
                  err_text);
        check_auto(NULL, "cpu-openblas", 1);
    } else {
        rc = run_discover(NULL, "eval '" OBJECTIVE "' --json --device cuda " SMALL);
        CHECK_MSG(rc == 0, "exit %d: %s", rc, err_text);
        cJSON *j = cJSON_Parse(out_text);
        CHECK(j && !strcmp(backend_of(j), cuda->name()));
        cJSON_Delete(j);
        check_auto(NULL, "cuda:", 0);
    }
    // --device cpu always runs on the CPU
    rc = run_discover(NULL, "eval '" OBJECTIVE "' --json --device cpu " SMALL);
    CHECK(rc == 0);
    cJSON *j = cJSON_Parse(out_text);
    CHECK(j && !strcmp(backend_of(j), "cpu-openblas"));
    cJSON_Delete(j);

    // a plugin path that does not exist: cuda names the variable; auto falls back quietly
    const char *missing = "DISCOVER_CUDA_PLUGIN=/nonexistent/libdiscover_cuda.so";
    rc = run_discover(missing, "eval '" OBJECTIVE "' --device cuda " SMALL);
    CHECK(rc == 1);
    CHECK_MSG(strstr(err_text, "DISCOVER_CUDA_PLUGIN=/nonexistent"), "stderr: %s", err_text);
    check_auto(missing, "cpu-openblas", 1);

    // a device name that does not exist is a usage error
    rc = run_discover(NULL, "eval '" OBJECTIVE "' --device gpu");
    CHECK(rc == 1 && strstr(err_text, "auto, cpu or cuda"));
    return TEST_REPORT();
}
