/* gpt_kernels.c — fp32 CPU reference of the transformer layers (after Karpathy's llm.c,
 * MIT). Matmuls go through cblas_sgemm; everything else is loops written so that the
 * compiler vectorises them: no libm call inside a loop (exp and tanh below are inline),
 * reductions over explicit lanes. Issue 15: with libm's tanhf/coshf/expf the GELU and the
 * vocabulary softmax took over half of a training step. */
#include "gpt_kernels.h"

#include "inner_loop/simd.h" // DC_CLONES, DC_NO_UNROLL

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* e^x in fp32 without libm, for loops that must vectorise: x = k·ln2 + r with |r| <= ln2/2
 * (ln2 split in two so that k·ln2_hi is exact), e^r by its Taylor polynomial to r^7/7!
 * (error below 6e-9 relative for |r| <= 0.347), 2^k built in the exponent bits. Within
 * 2 ulp of expf on [-87.3, 88]; 0 below -87.3 (expf would give a subnormal, which the
 * backend flushes anyway) and for -inf; e^88 above 88 (callers never get there); NaN stays
 * NaN. k is read from the bits of the rounded sum, not converted from float to int: a NaN
 * converted to int is undefined behaviour. */
static inline float dc_expf(float x)
{
    const float log2e = 1.44269504f, ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    const float round_magic = 12582912.0f; // 1.5·2^23: the sum's low bits hold round(x·log2e)
    union bits {
        float f;
        uint32_t u;
    };
    float xc = x > 88.0f ? 88.0f : x;
    xc = xc < -87.3f ? -87.3f : xc;
    union bits kf = {.f = xc * log2e + round_magic}, magic = {.f = round_magic};
    float k = kf.f - round_magic;
    float r = (xc - k * ln2_hi) - k * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union bits scale = {.u = (kf.u - magic.u + 127u) << 23}; // 2^k, k in [-126, 127]
    float e = p * scale.f;
    return x < -87.3f ? 0.0f : e;
}

/* GELU's tanh form through e = e^{2u}: ½(1 + tanh u) = e/(1 + e) and 1 − tanh² u =
 * 4e/(1 + e)², neither with a cancellation (1 + t and 1 − t·t lose the digits that a large
 * x multiplies). No clamp of its own: past |u| = 44, dc_expf's makes them 1 or 0 and 0
 * (e² overflows to inf), as they are. */
static inline float half_1p_tanh(float u, float *sech2)
{
    float e = dc_expf(2.0f * u), e1 = e + 1.0f;
    if (sech2) *sech2 = 4.0f * e / (e1 * e1);
    return e / e1;
}

DC_CLONES void gptk_encoder_forward(float *out, const int *inp, const float *wte, const float *wpe,
                               int B, int T, int C)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *te = wte + (size_t)inp[b * T + t] * C;
            const float *pe = wpe + (size_t)t * C;
            for (int i = 0; i < C; i++) o[i] = te[i] + pe[i];
        }
}

DC_CLONES void gptk_encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp, int B,
                                int T, int C)
{
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            float *dte = dwte + (size_t)inp[b * T + t] * C;
            float *dpe = dwpe + (size_t)t * C;
            for (int i = 0; i < C; i++) {
                dte[i] += d[i];
                dpe[i] += d[i];
            }
        }
}

/* Σ x[i] and Σ (x[i] − m)² over 8 lanes (fixed order): C = 96 values are too few for the
 * compiler's reduction but a sequential sum's latency chain dominated the layer norm. */
static inline float lane_sum(const float *restrict x, int n)
{
    float lane[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        DC_NO_UNROLL
        for (int j = 0; j < 8; j++)
            lane[j] += x[i + j];
    }
    float s =
        ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    for (; i < n; i++)
        s += x[i];
    return s;
}

static inline float lane_sum_sqdev(const float *restrict x, float m, int n)
{
    float lane[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        DC_NO_UNROLL
        for (int j = 0; j < 8; j++) {
            float d = x[i + j] - m;
            lane[j] += d * d;
        }
    }
    float s =
        ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    for (; i < n; i++) {
        float d = x[i] - m;
        s += d * d;
    }
    return s;
}

DC_CLONES void gptk_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                 const float *weight, const float *bias, int N, int C)
{
    const float eps = 1e-5f;
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float m = lane_sum(x, C) / (float)C;
        float v = lane_sum_sqdev(x, m, C) / (float)C;
        float s = 1.0f / sqrtf(v + eps);
        float *o = out + (size_t)n * C;
        for (int i = 0; i < C; i++)
            o[i] = (s * (x[i] - m)) * weight[i] + bias[i];
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = s;
    }
}

DC_CLONES void gptk_layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                  const float *inp, const float *weight, const float *mean,
                                  const float *rstd, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const float *restrict d = dout + (size_t)n * C;
        const float *restrict x = inp + (size_t)n * C;
        float *restrict dx = dinp + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        // two reductions, over 8 lanes: mean of dnorm and mean of dnorm·norm
        float l1[8] = {0}, l2[8] = {0};
        int i = 0;
        for (; i + 8 <= C; i += 8) {
            DC_NO_UNROLL
            for (int j = 0; j < 8; j++) {
                float norm = (x[i + j] - m) * s;
                float dnorm = weight[i + j] * d[i + j];
                l1[j] += dnorm;
                l2[j] += dnorm * norm;
            }
        }
        float dnorm_mean =
            ((l1[0] + l1[1]) + (l1[2] + l1[3])) + ((l1[4] + l1[5]) + (l1[6] + l1[7]));
        float dnorm_norm_mean =
            ((l2[0] + l2[1]) + (l2[2] + l2[3])) + ((l2[4] + l2[5]) + (l2[6] + l2[7]));
        for (; i < C; i++) {
            float norm = (x[i] - m) * s;
            float dnorm = weight[i] * d[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= (float)C;
        dnorm_norm_mean /= (float)C;
        float *restrict dw = dweight, *restrict db = dbias;
        for (int k = 0; k < C; k++) {
            float norm = (x[k] - m) * s;
            float dnorm = weight[k] * d[k];
            db[k] += d[k];
            dw[k] += norm * d[k];
            dx[k] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
}

DC_CLONES void gptk_matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                              int N, int C, int OC)
{
    // out (N,OC) = inp (N,C) · weightᵀ (C,OC) [+ bias]. With a bias, out starts as the bias
    // and the product adds to it (beta 1): one pass over out instead of OpenBLAS zeroing it
    // (beta 0) and a second adding the bias, and the same bits (the kernel rounds acc + c
    // once either way; checked for this model's shapes, issue 15)
    if (bias)
        for (int n = 0; n < N; n++)
            memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C,
                bias ? 1.0f : 0.0f, out, OC);
}

DC_CLONES void gptk_matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, int N, int C, int OC)
{
    // dinp (N,C) += dout (N,OC) · weight (OC,C)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C,
                1.0f, dinp, C);
    // dweight (OC,C) += doutᵀ (OC,N) · inp (N,C)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f,
                dweight, C);
    if (dbias)
        for (int n = 0; n < N; n++) {
            const float *d = dout + (size_t)n * OC;
            for (int j = 0; j < OC; j++) dbias[j] += d[j];
        }
}

/* Σ a[i]·b[i] over 8 lanes (a fixed order, so the same bits every run): the head size is
 * small (24 in the default model), too short for the compiler's loops but long enough
 * that a scalar sum's latency chain dominated the attention. */
static inline float dot(const float *restrict a, const float *restrict b, int n)
{
    float lane[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        // as in row_max: a loop of 8 becomes one vector operation
        DC_NO_UNROLL
        for (int j = 0; j < 8; j++)
            lane[j] += a[i + j] * b[i + j];
    }
    float s =
        ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* y[i] += a·x[i]; restrict: the callers' rows never overlap, and saying so spares the
 * vectorised loop its run-time overlap test, which costs as much as 24 elements. */
static inline void axpy(float *restrict y, const float *restrict x, float a, int n)
{
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

DC_CLONES void gptk_attention_forward(float *out, float *att, const float *inp, int B, int T, int C,
                                 int NH)
{
    int C3 = 3 * C, hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++) {
                const float *q = inp + ((size_t)b * T + t) * C3 + h * hs;
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float maxv = -1e30f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = inp + ((size_t)b * T + t2) * C3 + C + h * hs;
                    float v = dot(q, k, hs) * scale;
                    a[t2] = v;
                    maxv = v > maxv ? v : maxv;
                }
                for (int t2 = 0; t2 <= t; t2++)
                    a[t2] = dc_expf(a[t2] - maxv);
                float sum = 0.0f;
                for (int t2 = 0; t2 <= t; t2++)
                    sum += a[t2];
                float inv = 1.0f / sum;
                for (int t2 = 0; t2 < T; t2++) a[t2] = t2 <= t ? a[t2] * inv : 0.0f; // causal mask
                float *o = out + ((size_t)b * T + t) * C + h * hs;
                memset(o, 0, (size_t)hs * sizeof *o);
                for (int t2 = 0; t2 <= t; t2++)
                    axpy(o, inp + ((size_t)b * T + t2) * C3 + 2 * C + h * hs, a[t2], hs);
            }
}

DC_CLONES void gptk_attention_backward(float *dinp, const float *dout, const float *inp,
                                  const float *att, int B, int T, int C, int NH)
{
    int C3 = 3 * C, hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    float datt[T > 0 ? T : 1];
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < NH; h++) {
                const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                const float *d = dout + ((size_t)b * T + t) * C + h * hs;
                const float *q = inp + ((size_t)b * T + t) * C3 + h * hs;
                float *dq = dinp + ((size_t)b * T + t) * C3 + h * hs;
                // into datt and dvalue
                for (int t2 = 0; t2 <= t; t2++) {
                    size_t row = ((size_t)b * T + t2) * C3 + 2 * C + h * hs;
                    datt[t2] = dot(inp + row, d, hs);
                    axpy(dinp + row, d, a[t2], hs);
                }
                // softmax backward: dpre = a ⊙ (datt − Σ a·datt)
                float dotp = 0.0f;
                for (int t2 = 0; t2 <= t; t2++)
                    dotp += a[t2] * datt[t2];
                for (int t2 = 0; t2 <= t; t2++) {
                    float dpre = a[t2] * (datt[t2] - dotp) * scale;
                    size_t row = ((size_t)b * T + t2) * C3 + C + h * hs;
                    axpy(dq, inp + row, dpre, hs);
                    axpy(dinp + row, q, dpre, hs);
                }
            }
}

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

DC_CLONES void gptk_gelu_forward(float *out, const float *inp, int N)
{
    for (int i = 0; i < N; i++) {
        float x = inp[i];
        float cube = 0.044715f * x * x * x;
        out[i] = x * half_1p_tanh(GELU_SCALE * (x + cube), NULL);
    }
}

DC_CLONES void gptk_gelu_backward(float *dinp, const float *inp, const float *dout, int N)
{
    for (int i = 0; i < N; i++) {
        float x = inp[i];
        float cube = 0.044715f * x * x * x;
        float sech2;
        float half = half_1p_tanh(GELU_SCALE * (x + cube), &sech2);
        float local = half + x * 0.5f * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += local * dout[i];
    }
}

DC_CLONES void gptk_residual_forward(float *out, const float *a, const float *b, int N)
{
    for (int i = 0; i < N; i++) out[i] = a[i] + b[i];
}

DC_CLONES void gptk_residual_backward(float *da, float *db, const float *dout, int N)
{
    for (int i = 0; i < N; i++) {
        da[i] += dout[i];
        db[i] += dout[i];
    }
}

/* The largest of x[0..n) (n >= 1), over 16 lanes so that it vectorises; NaN is lost as in a
 * plain comparison loop (its row's sum then carries it). */
static inline float row_max(const float *x, int n)
{
    float lane[16];
    for (int j = 0; j < 16; j++)
        lane[j] = x[0];
    int v = 0;
    for (; v + 16 <= n; v += 16) {
        // GCC 12 unrolls this loop early and then does not vectorise the unrolled
        // compare-and-select; as a loop it becomes one vector max
        DC_NO_UNROLL
        for (int j = 0; j < 16; j++)
            lane[j] = x[v + j] > lane[j] ? x[v + j] : lane[j];
    }
    float m = x[0];
    for (int j = 0; j < 16; j++)
        m = lane[j] > m ? lane[j] : m;
    for (; v < n; v++)
        m = x[v] > m ? x[v] : m;
    return m;
}

DC_CLONES void gptk_softmax_logp_forward(float *probs, float *logp, const int *targets, int N, int V)
{
    for (int n = 0; n < N; n++) {
        float *p = probs + (size_t)n * V;
        float maxv = row_max(p, V);
        int tg = targets ? targets[n] : -1;
        float tlogit = tg >= 0 ? p[tg] - maxv : 0.0f;
        for (int v = 0; v < V; v++)
            p[v] = dc_expf(p[v] - maxv);
        // the sum in double over 8 fixed lanes: vectorised, and the same order every run
        double lane[8] = {0};
        int v = 0;
        for (; v + 8 <= V; v += 8) {
            DC_NO_UNROLL
            for (int j = 0; j < 8; j++)
                lane[j] += p[v + j];
        }
        double sum = 0.0;
        for (int j = 0; j < 8; j++)
            sum += lane[j];
        for (; v < V; v++)
            sum += p[v];
        float inv = (float)(1.0 / sum);
        // log p(target) from the shifted logit: no underflow to log(0)
        if (logp) logp[n] = tg >= 0 ? tlogit - (float)log(sum) : 0.0f;
        for (int v2 = 0; v2 < V; v2++)
            p[v2] *= inv;
    }
}

DC_CLONES void gptk_softmax_logp_backward(float *dlogits, const float *probs, const int *targets,
                                     const float *dlogp, int N, int V)
{
    for (int n = 0; n < N; n++) {
        float *d = dlogits + (size_t)n * V;
        int tg = targets[n];
        if (tg < 0 || dlogp[n] == 0.0f) {
            memset(d, 0, (size_t)V * sizeof *d);
            continue;
        }
        const float *p = probs + (size_t)n * V;
        float g = dlogp[n];
        for (int v = 0; v < V; v++) d[v] = -g * p[v];
        d[tg] += g;
    }
}

DC_CLONES double gptk_grad_sumsq(const float *g, size_t N)
{
    // double over 8 fixed lanes: vectorised, and the same order every run and on every CPU
    double lane[8] = {0};
    size_t i = 0;
    for (; i + 8 <= N; i += 8) {
        DC_NO_UNROLL
        for (int j = 0; j < 8; j++)
            lane[j] += (double)g[i + j] * g[i + j];
    }
    double s =
        ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    for (; i < N; i++)
        s += (double)g[i] * g[i];
    return s;
}

DC_CLONES void gptk_adamw_update(float *param, const float *grad, float *m, float *v, size_t N, float lr,
                            float beta1, float beta2, float eps, float weight_decay, float clip,
                            float bc1, float bc2)
{
    for (size_t j = 0; j < N; j++) {
        float gr = grad[j] * clip;
        float mm = beta1 * m[j] + (1.0f - beta1) * gr;
        float vv = beta2 * v[j] + (1.0f - beta2) * gr * gr;
        m[j] = mm;
        v[j] = vv;
        float upd = (mm / bc1) / (sqrtf(vv / bc2) + eps);
        if (weight_decay != 0.0f) upd += weight_decay * param[j];
        param[j] -= lr * upd;
    }
}
