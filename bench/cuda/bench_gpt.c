/* bench_gpt.c — training steps per second of the sentiment task's GPT (inner_loop/sentiment/
 * gpt.h) on a backend: cpu (gpt.c's direct path) or cuda (the plugin's GPT table).
 *
 *   bench_gpt [--device auto|cpu|cuda] [--config default|large|all] [--steps N]
 *             [--warmup W] [--runs R] [--threads T]
 *
 * One step is exactly sent_lm_step (pretraining / SFT): upload token ids and targets,
 * forward, download the per-token log-probs, the mean negative log-likelihood and its
 * gradient d/d logp = -1/count on the host (where preference optimisation calls the
 * sandboxed objective), upload it, backward, global-norm clipping (1.0) + AdamW (lr 3e-4,
 * betas 0.9/0.95, weight decay 0.01 on matrices), and — on a backend — the parameters back
 * to the host (what gpt_device.c does after every step so sampling reads current weights).
 * Batches are random tokens (the data do not change the cost).
 * Configurations: default = the task's model (vocab 2048, context 32, 2 layers, width 96,
 * 4 heads) at lm_batch 32; large = vocab 2048, context 64, 6 layers, width 384, 6 heads,
 * batch 32. Prints one Markdown row per configuration: median steps/s over R timed runs of
 * N steps after W warm-up steps, and the median CPU time per step of the process (all
 * threads; robust when other processes load the machine). The PyTorch equivalent is
 * bench/cuda/torch_gpt.py; results go to bench/RESULTS-cuda.md. */
#define _POSIX_C_SOURCE 200809L
#include "inner_loop/backend.h"
#include "inner_loop/sentiment/gpt.h"
#include "inner_loop/sentiment/gpt_ops.h"
#include "inner_loop/sentiment/gpt_pool.h"
#include "common/rng.h"
#include "common/util.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *label;
    gpt_config cfg;
    int batch;
} bench_config;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* CPU seconds of the whole process (all its threads): beside the wall clock, the measure
 * that stays put when other processes load the machine (each thread's own time only grows
 * while it runs), and that counts what spinning BLAS threads cost. */
static double cpu_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0.0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int bench(const dc_gpt_ops *ops, const bench_config *c, int steps, int warmup, int runs)
{
    gpt_model m;
    char err[1024] = "";
    if (gpt_init(&m, &c->cfg, 1) != 0) {
        fprintf(stderr, "bench_gpt: out of memory for the model\n");
        return -1;
    }
    if (ops && gpt_attach(&m, ops, err, sizeof err) != 0) {
        fprintf(stderr, "bench_gpt: %s\n", err);
        gpt_free(&m);
        return -1;
    }
    int B = c->batch, T = c->cfg.ctx, V = c->cfg.vocab;
    int *in = malloc((size_t)B * T * sizeof(int)), *tg = malloc((size_t)B * T * sizeof(int));
    float *logp = malloc((size_t)B * T * sizeof(float)),
          *dlogp = malloc((size_t)B * T * sizeof(float));
    double *rates = malloc((size_t)runs * sizeof(double));
    double *cpu_ms = malloc((size_t)runs * sizeof(double)); // CPU ms per step, per run
    int rc = 0;
    if (!in || !tg || !logp || !dlogp || !rates || !cpu_ms) {
        fprintf(stderr, "bench_gpt: out of memory\n");
        rc = -1;
        goto done;
    }
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    double last_loss = 0;
    for (int r = -1; r < runs && rc == 0; r++) {
        int n = r < 0 ? warmup : steps;
        double t0 = dc_now(), c0 = cpu_now();
        for (int s = 0; s < n; s++) {
            for (int i = 0; i < B * T; i++) {
                in[i] = (int)dc_rng_below(&rng, (uint32_t)V);
                tg[i] = (int)dc_rng_below(&rng, (uint32_t)V);
            }
            if (gpt_forward(&m, in, tg, B, T, logp) != 0) {
                rc = -1;
                break;
            }
            double nll = 0;
            for (int i = 0; i < B * T; i++)
                nll -= logp[i];
            last_loss = nll / (B * T);
            for (int i = 0; i < B * T; i++)
                dlogp[i] = -1.0f / (float)(B * T);
            if (gpt_zero_grad(&m) != 0 || gpt_backward(&m, dlogp) != 0 ||
                !isfinite(gpt_adamw(&m, 3e-4f, 0.9f, 0.95f, 1e-8f, 0.01f, 1.0f))) {
                rc = -1;
                break;
            }
        }
        if (r >= 0) {
            rates[r] = n / (dc_now() - t0);
            cpu_ms[r] = 1e3 * (cpu_now() - c0) / n;
        }
    }
    if (rc != 0) {
        if (!gpt_device_error(&m, err, sizeof err)) snprintf(err, sizeof err, "a step failed");
        fprintf(stderr, "bench_gpt: %s: %s\n", gpt_backend_name(&m), err);
    } else {
        qsort(rates, (size_t)runs, sizeof *rates, cmp_double);
        qsort(cpu_ms, (size_t)runs, sizeof *cpu_ms, cmp_double);
        double med = runs % 2 ? rates[runs / 2] : 0.5 * (rates[runs / 2 - 1] + rates[runs / 2]);
        double cpu = runs % 2 ? cpu_ms[runs / 2] : 0.5 * (cpu_ms[runs / 2 - 1] + cpu_ms[runs / 2]);
        printf("| %s | %s | V%d T%d L%d C%d H%d | %d | %zu | %d × %d | %.4g | %.4g | %.4g | %.0f | "
               "%.3f | %.1f |\n",
               ops ? gpt_backend_name(&m) : "cpu-openblas", c->label, V, T, c->cfg.layers,
               c->cfg.width, c->cfg.heads, B, m.nparams, runs, steps, med, rates[0],
               rates[runs - 1], med * B * T, last_loss, cpu);
    }
done:
    free(in), free(tg), free(logp), free(dlogp), free(rates), free(cpu_ms);
    gpt_free(&m);
    return rc;
}

static int parse_int(const char *flag, const char *v, int lo, int hi)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        fprintf(stderr, "bench_gpt: %s wants a whole number in %d..%d, not '%s'\n", flag, lo, hi,
                v);
        exit(1);
    }
    return (int)x;
}

int main(int argc, char **argv)
{
    const char *device = "auto", *which = "all";
    int steps = 100, warmup = 10, runs = 5, threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: bench_gpt [--device auto|cpu|cuda] [--config default|large|all]\n"
                   "                 [--steps N] [--warmup W] [--runs R] [--threads T]\n");
            return 0;
        }
        if (!v) {
            fprintf(stderr, "bench_gpt: %s needs a value (see --help)\n", a);
            return 1;
        }
        i++;
        if (!strcmp(a, "--device"))
            device = v;
        else if (!strcmp(a, "--config"))
            which = v;
        else if (!strcmp(a, "--steps"))
            steps = parse_int(a, v, 1, 1000000);
        else if (!strcmp(a, "--warmup"))
            warmup = parse_int(a, v, 0, 1000000);
        else if (!strcmp(a, "--runs"))
            runs = parse_int(a, v, 1, 1000);
        else if (!strcmp(a, "--threads"))
            threads = parse_int(a, v, 1, 1024);
        else {
            fprintf(stderr, "bench_gpt: unknown option '%s' (see --help)\n", a);
            return 1;
        }
    }
    const dc_gpt_ops *ops;
    char err[1024];
    if (gpt_ops_select(device, &ops, err, sizeof err) != 0) {
        fprintf(stderr, "bench_gpt: --device %s: %s\n", device, err);
        return 1;
    }
    // as the task does: FTZ/DAZ and the kernels, one BLAS thread per piece of the GPT's own
    // pool (inner_loop/sentiment/gpt_pool.h)
    dc_backend_set_threads(1);
    gpt_pool_set_threads(threads);
    // the CPU runs gpt.c's direct path, exactly as the task does on the CPU
    if (ops == gpt_ops_cpu()) ops = NULL;
    bench_config configs[2];
    int n = 0;
    if (!strcmp(which, "default") || !strcmp(which, "all"))
        configs[n++] = (bench_config){"default", {2048, 32, 2, 96, 4}, 32};
    if (!strcmp(which, "large") || !strcmp(which, "all"))
        configs[n++] = (bench_config){"large", {2048, 64, 6, 384, 6}, 32};
    if (!n) {
        fprintf(stderr, "bench_gpt: --config must be default, large or all\n");
        return 1;
    }
    // which OpenBLAS kernels ran: they set the speed of the products (backend_cpu.c)
    if (!ops) printf("OpenBLAS %s\n", openblas_get_corename());
    printf("| backend | config | model | batch | parameters | runs × steps | median steps/s | min "
           "| max | tokens/s | last loss | CPU ms/step |\n");
    printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    for (int i = 0; i < n; i++)
        if (bench(ops, &configs[i], steps, warmup, runs) != 0) return 1;
    return 0;
}
