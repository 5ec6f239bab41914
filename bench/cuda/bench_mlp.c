/* bench_mlp.c — training steps per second of the fashion MLP on a backend (cpu or cuda).
 *
 *   bench_mlp [--device auto|cpu|cuda] [--config default|large|all] [--hidden H]
 *             [--layers L] [--batch B] [--steps N] [--warmup W] [--runs R] [--threads T]
 *             [--drift N]
 *
 * One step is exactly what task `fashion` does per step, minus the sandbox call: gather a
 * batch of 784-pixel rows on the host (from a synthetic uint8 pool, scaled to [0,1)), upload
 * it, forward, download the logits, softmax cross-entropy gradient in double on the host
 * (where the sandboxed objective would run), upload d(loss)/d(logits), backward, Adam.
 * Configurations: default = hidden 256 × 1 layer, batch 128 (the task's defaults);
 * large = hidden 4096 × 2 layers, batch 1024. Prints one Markdown table row per
 * configuration: the median steps/s over R timed runs of N steps (after W warm-up steps),
 * and the median CPU time per step of the process (all threads; robust under load).
 * The PyTorch equivalent is bench/cuda/torch_mlp.py; results go to bench/RESULTS-cuda.md.
 *
 * --drift N: instead, one run of N steps per configuration, each step timed, and the rate
 * of the first 20 % of the steps against the last 20 % (1 / median step time of each, so a
 * moment of load from another process does not count). The step must not slow down as
 * training goes on (issue 15: subnormal floats made it 10x slower); the row says "ok"
 * when the last fifth runs at >= 80 % of the first fifth's rate, else "SLOWER", and the
 * exit status is 2. Results: bench/RESULTS-cpu.md. */
#define _POSIX_C_SOURCE 200809L
#include "inner_loop/backend.h"
#include "inner_loop/fashion/mlp.h"
#include "common/rng.h"
#include "common/util.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { PIXELS = 784, CLASSES = 10, POOL = 8192 };

typedef struct {
    const char *label;
    int hidden, layers, batch;
} bench_config;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void ce_grad(const float *z, const int *y, int B, float *dz)
{
    for (int b = 0; b < B; b++) {
        const float *row = z + (size_t)b * CLASSES;
        double mx = row[0], s = 0;
        for (int k = 1; k < CLASSES; k++)
            mx = row[k] > mx ? row[k] : mx;
        for (int k = 0; k < CLASSES; k++)
            s += exp(row[k] - mx);
        for (int k = 0; k < CLASSES; k++)
            dz[(size_t)b * CLASSES + k] = (float)((exp(row[k] - mx) / s - (k == y[b])) / B);
    }
}

/* CPU seconds of the whole process (all its threads): beside the wall clock, the measure
 * that stays put when other processes load the machine, and that counts what spinning
 * BLAS threads cost. */
static double cpu_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* Runs one configuration; 0, or -1 with a message on stderr. drift > 0: one run of drift
 * timed steps and the drift row instead (2 when the step slowed down). */
static int bench(const dc_backend_ops *be, const bench_config *c, int steps, int warmup, int runs,
                 int drift, const unsigned char *pool, const unsigned char *pool_y)
{
    if (drift > 0) {
        runs = 1;
        steps = drift;
    }
    char err[512];
    dc_mlp m;
    if (dc_mlp_init(&m, be, PIXELS, c->hidden, c->layers, CLASSES, c->batch, 1, err,
                    sizeof err)) {
        fprintf(stderr, "bench_mlp: %s\n", err);
        return -1;
    }
    int B = c->batch;
    float *xb = malloc((size_t)B * PIXELS * sizeof(float));
    float *logits = malloc((size_t)B * CLASSES * sizeof(float));
    float *dz = malloc((size_t)B * CLASSES * sizeof(float));
    int *yb = malloc((size_t)B * sizeof(int));
    float *x_dev = be->alloc((size_t)B * PIXELS * sizeof(float));
    float *dz_dev = be->alloc((size_t)B * CLASSES * sizeof(float));
    double *rates = malloc((size_t)runs * sizeof(double));
    double *cpu_ms = malloc((size_t)runs * sizeof(double));  // CPU ms per step, per run
    double *step_s = malloc((size_t)steps * sizeof(double)); // --drift: each step's seconds
    int rc = 0;
    if (!xb || !logits || !dz || !yb || !x_dev || !dz_dev || !rates || !cpu_ms || !step_s) {
        be->error(err, sizeof err);
        fprintf(stderr, "bench_mlp: out of memory (%s)\n", err);
        rc = -1;
        goto done;
    }
    long cursor = 0;
    for (int r = -1; r < runs && rc == 0; r++) {
        int n = r < 0 ? warmup : steps; // r = -1: the warm-up (cuBLAS heuristics, caches)
        double t0 = dc_now(), c0 = cpu_now();
        for (int s = 0; s < n; s++) {
            double ts = dc_now();
            for (int b = 0; b < B; b++, cursor = (cursor + 1) % POOL) {
                const unsigned char *src = pool + (size_t)cursor * PIXELS;
                float *dst = xb + (size_t)b * PIXELS;
                for (int p = 0; p < PIXELS; p++)
                    dst[p] = (float)src[p] * (1.0f / 255.0f);
                yb[b] = pool_y[cursor];
            }
            be->upload(x_dev, xb, (size_t)B * PIXELS * sizeof(float));
            const float *z = dc_mlp_forward(&m, x_dev, B);
            if (be->download(logits, z, (size_t)B * CLASSES * sizeof(float))) {
                be->error(err, sizeof err);
                fprintf(stderr, "bench_mlp: %s backend failed: %s\n", be->name(), err);
                rc = -1;
                break;
            }
            ce_grad(logits, yb, B, dz);
            be->upload(dz_dev, dz, (size_t)B * CLASSES * sizeof(float));
            dc_mlp_backward(&m, dz_dev, B);
            dc_mlp_adam(&m, 1e-3f, 0.0f);
            if (r >= 0) {
                // the next step's download waits for this one on a GPU: sync to time it
                if (drift > 0 && be->synchronize()) break;
                step_s[s] = dc_now() - ts;
            }
        }
        if (be->synchronize()) { // the last step's backward and Adam belong to the timing
            be->error(err, sizeof err);
            fprintf(stderr, "bench_mlp: %s backend failed: %s\n", be->name(), err);
            rc = -1;
        }
        if (r >= 0) {
            rates[r] = n / (dc_now() - t0);
            cpu_ms[r] = 1e3 * (cpu_now() - c0) / n;
        }
    }
    if (rc == 0 && drift > 0) {
        int fifth = steps / 5 > 0 ? steps / 5 : 1;
        double first = 1.0 / median(step_s, fifth);
        double last = 1.0 / median(step_s + steps - fifth, fifth);
        int ok = last >= 0.8 * first;
        printf("| %s | %s | %d×%d | %d | %d | %.1f | %.1f | %.2f | %s |\n", be->name(), c->label,
               c->hidden, c->layers, B, steps, first, last, last / first, ok ? "ok" : "SLOWER");
        rc = ok ? 0 : 2;
    } else if (rc == 0) {
        double med = median(rates, runs), cpu = median(cpu_ms, runs);
        printf("| %s | %s | %d×%d | %d | %zu | %d × %d | %.4g | %.4g | %.4g | %.0f | %.2f |\n",
               be->name(), c->label, c->hidden, c->layers, B, m.nparams, runs, steps, med, rates[0],
               rates[runs - 1], med * B, cpu);
    }
done:
    be->free(x_dev);
    be->free(dz_dev);
    free(xb), free(logits), free(dz), free(yb), free(rates), free(cpu_ms), free(step_s);
    dc_mlp_free(&m);
    return rc;
}

static int parse_int(const char *flag, const char *v, int lo, int hi)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        fprintf(stderr, "bench_mlp: %s wants a whole number in %d..%d, not '%s'\n", flag, lo, hi,
                v);
        exit(1);
    }
    return (int)x;
}

int main(int argc, char **argv)
{
    const char *device = "auto", *which = "all";
    int steps = 200, warmup = 20, runs = 5, threads = 0, hidden = 0, layers = 0, batch = 0,
        drift = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: bench_mlp [--device auto|cpu|cuda] [--config default|large|all]\n"
                   "                 [--hidden H --layers L --batch B] [--steps N] [--warmup W]\n"
                   "                 [--runs R] [--threads T] [--drift N]\n");
            return 0;
        }
        if (!v) {
            fprintf(stderr, "bench_mlp: %s needs a value (see --help)\n", a);
            return 1;
        }
        i++;
        if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--config")) which = v;
        else if (!strcmp(a, "--steps")) steps = parse_int(a, v, 1, 1000000);
        else if (!strcmp(a, "--warmup")) warmup = parse_int(a, v, 0, 1000000);
        else if (!strcmp(a, "--runs")) runs = parse_int(a, v, 1, 1000);
        else if (!strcmp(a, "--threads")) threads = parse_int(a, v, 0, 1024);
        else if (!strcmp(a, "--drift")) drift = parse_int(a, v, 5, 10000000);
        else if (!strcmp(a, "--hidden")) hidden = parse_int(a, v, 1, 65536);
        else if (!strcmp(a, "--layers")) layers = parse_int(a, v, 1, DC_MLP_MAX_HIDDEN_LAYERS);
        else if (!strcmp(a, "--batch")) batch = parse_int(a, v, 1, 65536);
        else {
            fprintf(stderr, "bench_mlp: unknown option '%s' (see --help)\n", a);
            return 1;
        }
    }
    const dc_backend_ops *be;
    char err[1024];
    if (dc_backend_select(device, &be, err, sizeof err)) {
        fprintf(stderr, "bench_mlp: --device %s: %s\n", device, err);
        return 1;
    }
    be->set_threads(threads);

    bench_config configs[3];
    int n = 0;
    if (hidden || layers || batch) {
        configs[n++] = (bench_config){"custom", hidden ? hidden : 256, layers ? layers : 1,
                                      batch ? batch : 128};
    } else {
        if (!strcmp(which, "default") || !strcmp(which, "all"))
            configs[n++] = (bench_config){"default", 256, 1, 128};
        if (!strcmp(which, "large") || !strcmp(which, "all"))
            configs[n++] = (bench_config){"large", 4096, 2, 1024};
        if (!n) {
            fprintf(stderr, "bench_mlp: --config must be default, large or all\n");
            return 1;
        }
    }

    // a synthetic pool standing in for the training set (the data do not change the cost)
    unsigned char *pool = malloc((size_t)POOL * PIXELS), *pool_y = malloc(POOL);
    if (!pool || !pool_y) {
        fprintf(stderr, "bench_mlp: out of memory\n");
        return 1;
    }
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    for (size_t i = 0; i < (size_t)POOL * PIXELS; i++)
        pool[i] = (unsigned char)dc_rng_below(&rng, 256);
    for (int i = 0; i < POOL; i++)
        pool_y[i] = (unsigned char)dc_rng_below(&rng, CLASSES);

    // which OpenBLAS kernels ran: they set the speed of the products (backend_cpu.c)
    if (!strcmp(be->kind, "cpu")) printf("OpenBLAS %s\n", openblas_get_corename());
    if (drift > 0)
        printf("| backend | config | hidden×layers | batch | steps | first 20 %% steps/s | last 20 "
               "%% steps/s | last / first | drift |\n| --- | --- | --- | --- | --- | --- | --- | "
               "--- | --- |\n");
    else
        printf("| backend | config | hidden×layers | batch | parameters | runs × steps | median "
               "steps/s | min | max | samples/s | CPU ms/step |\n| --- | --- | --- | --- | --- | "
               "--- | --- | --- | --- | --- | --- |\n");
    int rc = 0, slower = 0;
    for (int i = 0; i < n && rc >= 0; i++) {
        rc = bench(be, &configs[i], steps, warmup, runs, drift, pool, pool_y);
        slower |= rc == 2;
    }
    free(pool);
    free(pool_y);
    return rc < 0 ? 1 : slower ? 2 : 0;
}
