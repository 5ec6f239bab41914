/* bench_sandbox.c — what a candidate costs in the sandbox.
 *
 *   start-up: sbx_open (fork + exec + map + compile + relocate + seccomp + ready) followed
 *             by sbx_close, median of RUNS; beside it the same objective compiled by
 *             `gcc -O2 -shared` and dlopen'ed (the unsandboxed alternative), median of
 *             GCC_RUNS.
 *   per call: the round trip alone (losses of 1 pair, DPO), then loss + gradient through
 *             sbx_pref_eval / sbx_cls_eval: 64 preference pairs with a row-separable
 *             objective (DPO, column-at-once path) and a batch-statistics one (one input
 *             at a time), and 256 x 10 logits (cross-entropy); median and mean of CALLS
 *             after a warm-up (the mean includes the worker's random audits, which the
 *             median mostly does not).
 *
 * Usage: bench_sandbox [RUNS] (default 200). Build: cmake --build BUILD --target bench_sandbox.
 * Results: bench/RESULTS-sandbox.md. */
#define _GNU_SOURCE
#include "sandbox/sandbox.h"

#include "common/rng.h"
#include "common/util.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *DPO =
    "#include <math.h>\n"
    "static double log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }\n"
    "void objective(const pref_batch *b, double *loss) {\n"
    "    for (int i = 0; i < b->n; i++) {\n"
    "        double x = b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -\n"
    "                              (b->rejected_logps[i] - b->ref_rejected_logps[i]));\n"
    "        loss[i] = -log_sigmoid(x);\n"
    "    }\n"
    "}\n";

static const char *BATCHVAR = /* DBAQL-like: weight from the batch variance of x/tau */
    "#include <math.h>\n"
    "void objective(const pref_batch *b, double *loss) {\n"
    "    double m = 0, v = 0, tau = 0.05;\n"
    "    for (int i = 0; i < b->n; i++) m += b->beta * ((b->chosen_logps[i] - "
    "b->ref_chosen_logps[i]) - (b->rejected_logps[i] - b->ref_rejected_logps[i])) / tau;\n"
    "    m /= b->n;\n"
    "    for (int i = 0; i < b->n; i++) { double z = b->beta * ((b->chosen_logps[i] - "
    "b->ref_chosen_logps[i]) - (b->rejected_logps[i] - b->ref_rejected_logps[i])) / tau - m; v += "
    "z * z; }\n"
    "    v /= (b->n > 1 ? b->n - 1 : 1);\n"
    "    double w = 1 / (1 + exp(-v));\n"
    "    for (int i = 0; i < b->n; i++) {\n"
    "        double x = b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) - "
    "(b->rejected_logps[i] - b->ref_rejected_logps[i]));\n"
    "        double xd = x / 0.9, f = xd >= 0 ? log1p(exp(-xd)) : -xd + log1p(exp(xd));\n"
    "        loss[i] = w * f + (1 - w) * exp(-0.9 * x);\n"
    "    }\n"
    "}\n";

static const char *CE =
    "#include <math.h>\n"
    "void objective(int n, int k, const double *logits, const int *labels, double *loss) {\n"
    "    for (int i = 0; i < n; i++) {\n"
    "        const double *row = logits + i * k;\n"
    "        double mx = row[0], s = 0;\n"
    "        for (int j = 1; j < k; j++) mx = fmax(mx, row[j]);\n"
    "        for (int j = 0; j < k; j++) s += exp(row[j] - mx);\n"
    "        loss[i] = mx + log(s) - row[labels[i]];\n"
    "    }\n"
    "}\n";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double mean(const double *v, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    return s / n;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double bench_startup(const char *src, int runs)
{
    double *t = dc_calloc((size_t)runs, sizeof *t);
    char msg[512];
    for (int r = 0; r < runs; r++) {
        sbx_worker *w = NULL;
        double t0 = dc_now();
        dc_status st = sbx_open(SBX_PREF, src, strlen(src), NULL, &w, msg, sizeof msg);
        t[r] = dc_now() - t0;
        if (st != DC_OK) {
            fprintf(stderr, "open failed: %s\n", msg);
            exit(1);
        }
        sbx_close(w);
    }
    double m = median(t, runs);
    free(t);
    return m;
}

/* gcc -O2 -shared + dlopen of the same objective: (whole, dlopen only) medians. */
static void bench_gcc(const char *src, int runs, double *whole, double *dl_only)
{
    char dir[] = "/tmp/dc_bench_gcc_XXXXXX";
    if (!mkdtemp(dir)) exit(1);
    char cpath[256], sopath[256], cmd[1024];
    snprintf(cpath, sizeof cpath, "%s/cand.c", dir);
    FILE *f = fopen(cpath, "w");
    fprintf(f, "%s", src);
    fclose(f);
    double *t = dc_calloc((size_t)runs, sizeof *t), *d = dc_calloc((size_t)runs, sizeof *d);
    for (int r = 0; r < runs; r++) {
        snprintf(sopath, sizeof sopath, "%s/cand%d.so", dir, r);
        snprintf(
            cmd, sizeof cmd,
            "gcc -O2 -shared -fPIC -include '%s/sandbox/discover_objective.h' '%s' -o '%s' -lm",
            DC_SOURCE_DIR, cpath, sopath);
        double t0 = dc_now();
        if (system(cmd) != 0) exit(1);
        double t1 = dc_now();
        void *h = dlopen(sopath, RTLD_NOW | RTLD_LOCAL);
        if (!h || !dlsym(h, "objective")) exit(1);
        double t2 = dc_now();
        dlclose(h);
        unlink(sopath);
        t[r] = t2 - t0;
        d[r] = t2 - t1;
    }
    unlink(cpath);
    rmdir(dir);
    *whole = median(t, runs);
    *dl_only = median(d, runs);
    free(t);
    free(d);
}

/* Median of `calls` requests (mean into *avg); n pairs, with gradients when grad. */
static double bench_pref(const char *src, int calls, int n, int grad, int *separable, double *avg)
{
    sbx_worker *w = NULL;
    char msg[512];
    if (sbx_open(SBX_PREF, src, strlen(src), NULL, &w, msg, sizeof msg) != DC_OK ||
        sbx_prescreen(w, msg, sizeof msg) != DC_OK) {
        fprintf(stderr, "pref objective rejected: %s\n", msg);
        exit(1);
    }
    *separable = sbx_is_separable(w);
    enum { N = 64 };
    double a[6][N], loss[N], gc[N], gr[N];
    dc_rng r;
    dc_rng_seed(&r, 1);
    for (int i = 0; i < N; i++) {
        a[0][i] = -50 - 100 * dc_rng_uniform(&r);
        a[1][i] = -50 - 100 * dc_rng_uniform(&r);
        a[2][i] = a[0][i] + dc_rng_normal(&r);
        a[3][i] = a[1][i] + dc_rng_normal(&r);
        a[4][i] = a[5][i] = 100;
    }
    pref_batch b = {n, 0.05, a[0], a[1], a[2], a[3], a[4], a[5]};
    double *t = dc_calloc((size_t)calls, sizeof *t);
    for (int c = -20; c < calls; c++) {
        double t0 = dc_now();
        if (sbx_pref_eval(w, &b, loss, grad ? gc : NULL, grad ? gr : NULL, msg, sizeof msg) !=
            DC_OK) {
            fprintf(stderr, "eval failed: %s\n", msg);
            exit(1);
        }
        if (c >= 0) t[c] = dc_now() - t0;
    }
    sbx_close(w);
    *avg = mean(t, calls);
    double m = median(t, calls);
    free(t);
    return m;
}

static double bench_cls(int calls, double *avg)
{
    sbx_worker *w = NULL;
    char msg[512];
    if (sbx_open(SBX_CLS, CE, strlen(CE), NULL, &w, msg, sizeof msg) != DC_OK ||
        sbx_prescreen(w, msg, sizeof msg) != DC_OK) {
        fprintf(stderr, "CE rejected: %s\n", msg);
        exit(1);
    }
    enum { N = 256, K = 10 };
    static double logits[N * K], loss[N], grad[N * K];
    static int labels[N];
    dc_rng r;
    dc_rng_seed(&r, 2);
    for (int i = 0; i < N * K; i++)
        logits[i] = 3 * dc_rng_normal(&r);
    for (int i = 0; i < N; i++)
        labels[i] = (int)dc_rng_below(&r, K);
    double *t = dc_calloc((size_t)calls, sizeof *t);
    for (int c = -20; c < calls; c++) {
        double t0 = dc_now();
        if (sbx_cls_eval(w, N, K, logits, labels, loss, grad, msg, sizeof msg) != DC_OK) exit(1);
        if (c >= 0) t[c] = dc_now() - t0;
    }
    sbx_close(w);
    *avg = mean(t, calls);
    double m = median(t, calls);
    free(t);
    return m;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 200;
    if (runs < 1) runs = 200;
    if (!getenv("DISCOVER_WORKER")) setenv("DISCOVER_WORKER", DC_BUILD_DIR "/discover-sandbox", 1);
    int sep0, sep1, sep2;
    double start = bench_startup(DPO, runs);
    int gcc_runs = runs < 50 ? runs : 50;
    double gcc_whole, gcc_dl;
    bench_gcc(DPO, gcc_runs, &gcc_whole, &gcc_dl);
    double a_rt, a_sep, a_non, a_cls;
    double rt = bench_pref(DPO, runs * 5, 1, 0, &sep0, &a_rt);
    double p_sep = bench_pref(DPO, runs * 5, 64, 1, &sep1, &a_sep);
    double p_non = bench_pref(BATCHVAR, runs, 64, 1, &sep2, &a_non);
    double cls = bench_cls(runs, &a_cls);
    printf("start-up, sandbox (spawn+compile+relocate+lock-down+ready), median of %d: %.3f ms\n",
           runs, start * 1e3);
    printf("start-up, gcc -O2 -shared + dlopen, median of %d: %.1f ms (dlopen alone %.3f ms)\n",
           gcc_runs, gcc_whole * 1e3, gcc_dl * 1e3);
    printf("round trip, losses of 1 pair, DPO, median (mean) of %d: %.1f us (%.1f us)\n", runs * 5,
           rt * 1e6, a_rt * 1e6);
    printf("loss+grad, 64 pairs, DPO (%s), median (mean) of %d: %.1f us (%.1f us)\n",
           sep1 ? "row-separable path" : "exact path", runs * 5, p_sep * 1e6, a_sep * 1e6);
    printf("loss+grad, 64 pairs, batch-variance (%s), median (mean) of %d: %.1f us (%.1f us)\n",
           sep2 ? "row-separable path" : "exact path", runs, p_non * 1e6, a_non * 1e6);
    printf("loss+grad, 256x10 logits, cross-entropy, median (mean) of %d: %.1f us (%.1f us)\n",
           runs, cls * 1e6, a_cls * 1e6);
    return 0;
}
