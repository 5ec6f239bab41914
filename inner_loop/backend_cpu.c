/* backend_cpu.c — the CPU reference of backend.h: OpenBLAS sgemm for the three matrix
 * products of a linear layer, simple loops for everything else; and the CPU backend table
 * (backend memory is host memory, operations run when called). */
#define _POSIX_C_SOURCE 200809L // setenv
#include "backend.h"
#include "simd.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define DC_HAVE_MXCSR 1
/* MXCSR bits: FTZ (15) writes 0 for a subnormal result, DAZ (6) reads subnormal inputs as 0. */
#define DC_MXCSR_FTZ_DAZ 0x8040u
#else
#define DC_HAVE_MXCSR 0
#endif

/* OpenBLAS (pthreads build) stops its worker threads with this; the next threaded product
 * starts them again from the calling thread. Not in cblas.h, hence weak: absent in another
 * BLAS, and then the probe below reports what it finds. */
extern int blas_thread_shutdown_(void) __attribute__((weak));

/* OpenBLAS's DYNAMIC_ARCH builds choose their kernel table once, at load (reading
 * OPENBLAS_CORETYPE); these drop the choice and make it again. Internal but exported
 * (Debian 12's 0.3.21 has them); weak, so that without them nothing happens. */
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

/* OpenBLAS 0.3.21 (Debian 12) does not know the x86 models released after it (Sapphire
 * Rapids' successors, ...) and falls back to its generic x86-64 kernels, "Prescott" (SSE3):
 * on a 2-core Xeon with AVX-512 the GPT's products ran 2.5x slower than with the AVX-512
 * kernels (bench/RESULTS-cpu.md). When OpenBLAS chose that fallback, the user did not
 * choose a core (OPENBLAS_CORETYPE), and the CPU runs AVX-512 or AVX2 with FMA, the
 * kernels are chosen again as the newer OpenBLAS releases choose for such a CPU:
 * "SkylakeX" or "Haswell". Products on the new kernels round differently in the last bits;
 * a process makes the switch once, before any training. */
static void blas_choose_kernels(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    static int done;
    if (done) return;
    done = 1;
    if (getenv("OPENBLAS_CORETYPE") || !gotoblas_dynamic_init || !gotoblas_dynamic_quit ||
        strcmp(openblas_get_corename(), "Prescott") != 0)
        return;
    __builtin_cpu_init();
    const char *core = NULL;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512cd"))
        core = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        core = "Haswell";
    if (!core || setenv("OPENBLAS_CORETYPE", core, 1) != 0) return;
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE"); // the user's environment as it was, for child processes
#endif
}

const char *dc_backend_name(void)
{
    return "cpu-openblas";
}

int dc_backend_ftz_wanted(void)
{
    const char *e = getenv("DISCOVER_FTZ");
    return !(e && strcmp(e, "0") == 0);
}

int dc_backend_fp_mode_set(void)
{
#if DC_HAVE_MXCSR
    _mm_setcsr(_mm_getcsr() | DC_MXCSR_FTZ_DAZ);
    return 0;
#else
    return -1;
#endif
}

int dc_backend_fp_mode_here(void)
{
#if DC_HAVE_MXCSR
    // behaviour, not the register: a subnormal input must read as 0 (DAZ) and a product
    // below FLT_MIN must come out 0 (FTZ); volatile keeps the compiler from folding them
    volatile float sub = 1e-39f, tiny = 1e-20f, big = 1073741824.0f; // 2^30
    float daz = sub * big, ftz = tiny * tiny;
    return daz == 0.0f && ftz == 0.0f;
#else
    return 0;
#endif
}

/* 1 when a product that OpenBLAS spreads over its threads flushes like this thread does:
 * every element of C = A·Bᵀ is 0 when each thread has FTZ and DAZ, and elements that a
 * thread without them computed are not. Two products: tiny × tiny (1e-40 each: FTZ) and
 * subnormal × 2^30 (≈ 1e-30 each, a normal number unless DAZ reads the input as 0). The
 * size is far above OpenBLAS's single-thread threshold (m·n·k ≈ 262144). */
static int blas_threads_flush(void)
{
    enum { M = 256, N = 256, K = 16 };
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * N * K),
          *c = malloc(sizeof(float) * M * N);
    int ok = a && b && c;
    for (int pass = 0; pass < 2 && ok; pass++) {
        for (int i = 0; i < M * K; i++)
            a[i] = pass == 0 ? 1e-20f : 1e-39f;
        for (int i = 0; i < N * K; i++)
            b[i] = pass == 0 ? 1e-20f : 1073741824.0f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
        for (int i = 0; i < M * N && ok; i++)
            ok = c[i] == 0.0f;
    }
    free(a), free(b), free(c);
    return ok;
}

int dc_backend_fp_mode_blas(void)
{
    return dc_backend_fp_mode_here() && blas_threads_flush();
}

void dc_backend_set_threads(int n)
{
    /* OpenBLAS splits a product across threads by output blocks, but it also picks other
     * kernels for some shapes by thread count: the last bits of a result can depend on n
     * (a fashion run's loss differed in the 9th digit between 1 and 2 threads). */
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
    }
    blas_choose_kernels();
    openblas_set_num_threads(n);
    /* Subnormal floats cost ~100 cycles per operation on x86: Adam's moments of weights
     * that stopped learning decay into them and made the fashion step 10x slower within a
     * few hundred steps. So this thread and OpenBLAS's workers flush them to zero. A new
     * thread copies the FP environment of the thread that creates it, but OpenBLAS starts
     * its workers when the library loads, before any of our code, and Debian's build does
     * not pass the caller's MXCSR to them (it lacks CONSISTENT_FPCSR). So when the probe
     * shows a worker that does not flush, the workers are stopped, and OpenBLAS starts them
     * again, from this thread, at the probe's next product. The probe costs well under a
     * millisecond, once per training run. */
    if (!dc_backend_ftz_wanted()) return; // the benchmark's control run (backend.h)
    if (dc_backend_fp_mode_set() != 0 || blas_threads_flush()) return;
    if (blas_thread_shutdown_) {
        blas_thread_shutdown_(); // n is not above the pool's size: nothing is started here
        openblas_set_num_threads(n);
        if (blas_threads_flush()) return;
    }
    static int warned;
    if (!warned) {
        warned = 1;
        fprintf(stderr, "discover: warning: the BLAS worker threads do not flush subnormal "
                        "floats to zero; training may slow down (OPENBLAS_NUM_THREADS=1 "
                        "avoids it)\n");
    }
}

DC_CLONES void dc_linear_forward(float *out, const float *inp, const float *weight,
                                 const float *bias, int B, int C, int OC)
{
    // out (B,OC) = inp (B,C) @ weight^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, OC, C, 1.0f, inp, C, weight, C, 0.0f,
                out, OC);
    if (bias) {
        for (int b = 0; b < B; b++) {
            float *row = out + (size_t)b * OC;
            for (int o = 0; o < OC; o++)
                row[o] += bias[o];
        }
    }
}

DC_CLONES void dc_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                  const float *inp, const float *weight, int B, int C, int OC)
{
    if (dinp) // dinp (B,C) = dout (B,OC) @ weight (OC,C)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, C, OC, 1.0f, dout, OC, weight, C,
                    0.0f, dinp, C);
    // dweight (OC,C) = dout^T (OC,B) @ inp (B,C)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, B, 1.0f, dout, OC, inp, C, 0.0f,
                dweight, C);
    if (dbias) {
        for (int o = 0; o < OC; o++)
            dbias[o] = 0.0f;
        for (int b = 0; b < B; b++) {
            const float *row = dout + (size_t)b * OC;
            for (int o = 0; o < OC; o++)
                dbias[o] += row[o];
        }
    }
}

DC_CLONES void dc_relu_forward(float *out, const float *inp, size_t N)
{
    for (size_t i = 0; i < N; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

DC_CLONES void dc_relu_backward(float *dinp, const float *dout, const float *out, size_t N)
{
    for (size_t i = 0; i < N; i++)
        dinp[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

DC_CLONES void dc_adam_update(float *param, const float *grad, float *m, float *v, size_t N,
                              float lr, float beta1, float beta2, float eps, float weight_decay,
                              int t)
{
    // bias corrections in double: beta^t underflows gracefully and stays exact enough
    float c1 = (float)(1.0 - pow(beta1, t)), c2 = (float)(1.0 - pow(beta2, t));
    for (size_t i = 0; i < N; i++) {
        float g = grad[i];
        m[i] = beta1 * m[i] + (1.0f - beta1) * g;
        v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
        float mhat = m[i] / c1, vhat = v[i] / c2;
        param[i] -= lr * (mhat / (sqrtf(vhat) + eps) + weight_decay * param[i]);
    }
}

int dc_argmax_correct(const float *logits, const int *labels, int B, int K)
{
    int correct = 0;
    for (int b = 0; b < B; b++) {
        const float *row = logits + (size_t)b * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (row[k] > row[best]) best = k;
        correct += best == labels[b];
    }
    return correct;
}

int dc_all_finite(const float *x, size_t N)
{
    for (size_t i = 0; i < N; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* ---- the backend table ---- */

/* The first failure since the last clear (only allocation can fail on the CPU). */
static int cpu_failed;
static char cpu_message[256];

static void *cpu_alloc(size_t bytes)
{
    void *p = calloc(bytes ? bytes : 1, 1);
    if (!p && !cpu_failed) {
        cpu_failed = 1;
        snprintf(cpu_message, sizeof cpu_message, "out of memory allocating %zu bytes", bytes);
    }
    return p;
}

static void cpu_free(void *p)
{
    free(p);
}

/* memmove: a caller may stage data in the very buffer it uploads from */
static void cpu_upload(void *dst, const void *host_src, size_t bytes)
{
    if (dst != host_src && bytes) memmove(dst, host_src, bytes);
}

static int cpu_download(void *host_dst, const void *src, size_t bytes)
{
    if (host_dst != src && bytes) memmove(host_dst, src, bytes);
    return cpu_failed ? -1 : 0;
}

static void cpu_memset0(void *p, size_t bytes)
{
    if (bytes) memset(p, 0, bytes);
}

static int cpu_synchronize(void)
{
    return cpu_failed ? -1 : 0;
}

static int cpu_error(char *buf, size_t cap)
{
    if (!cpu_failed) return 0;
    if (buf && cap) snprintf(buf, cap, "%s", cpu_message);
    return 1;
}

static void cpu_clear_error(void)
{
    cpu_failed = 0;
    cpu_message[0] = 0;
}

static const dc_backend_ops cpu_ops = {
    .abi = DC_BACKEND_ABI,
    .kind = "cpu",
    .name = dc_backend_name,
    .set_threads = dc_backend_set_threads,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .memset0 = cpu_memset0,
    .synchronize = cpu_synchronize,
    .error = cpu_error,
    .clear_error = cpu_clear_error,
    .linear_forward = dc_linear_forward,
    .linear_backward = dc_linear_backward,
    .relu_forward = dc_relu_forward,
    .relu_backward = dc_relu_backward,
    .adam_update = dc_adam_update,
    .argmax_correct = dc_argmax_correct,
    .all_finite = dc_all_finite,
};

const dc_backend_ops *dc_backend_cpu(void)
{
    return &cpu_ops;
}
