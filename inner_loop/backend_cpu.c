/* backend_cpu.c — the CPU reference of backend.h: OpenBLAS sgemm for the three matrix
 * products of a linear layer, simple loops for everything else; and the CPU backend table
 * (backend memory is host memory, operations run when called). */
#include "backend.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *dc_backend_name(void)
{
    return "cpu-openblas";
}

void dc_backend_set_threads(int n)
{
    /* OpenBLAS splits a product across threads by output blocks, so the summation order of
     * each element (and thus the result) does not depend on the thread count here. */
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
    }
    openblas_set_num_threads(n);
}

void dc_linear_forward(float *out, const float *inp, const float *weight, const float *bias, int B,
                       int C, int OC)
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

void dc_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
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

void dc_relu_forward(float *out, const float *inp, size_t N)
{
    for (size_t i = 0; i < N; i++)
        out[i] = inp[i] > 0.0f ? inp[i] : 0.0f;
}

void dc_relu_backward(float *dinp, const float *dout, const float *out, size_t N)
{
    for (size_t i = 0; i < N; i++)
        dinp[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

void dc_adam_update(float *param, const float *grad, float *m, float *v, size_t N, float lr,
                    float beta1, float beta2, float eps, float weight_decay, int t)
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
