/* test_gpt_kernels.c — the GPT's CPU kernels (inner_loop/sentiment/gpt_kernels.c) against
 * direct double-precision formulas: GELU and its derivative over the whole useful range
 * (they use an inline exp/tanh, not libm's), the vocabulary softmax and its log-prob on rows
 * of large spread, causal attention forward and backward on a random q/k/v, layer norm
 * forward and backward; and that a NaN still comes out of the softmax and GELU as NaN (the
 * trainers detect divergence from it). */
#include "tests/test.h"

#include "inner_loop/sentiment/gpt_kernels.h"
#include "common/rng.h"

#include <stdlib.h>

static double gelu_ref(double x)
{
    return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
}

static void test_gelu(void)
{
    enum { N = 4001 };
    static float x[N], y[N], dx[N], dy[N];
    for (int i = 0; i < N; i++) {
        x[i] = -20.0f + 40.0f * (float)i / (N - 1); // includes 0 and both saturated tails
        dy[i] = 1.0f;
        dx[i] = 0.5f; // backward accumulates
    }
    gptk_gelu_forward(y, x, N);
    gptk_gelu_backward(dx, x, dy, N);
    double worst_f = 0, worst_b = 0;
    for (int i = 0; i < N; i++) {
        double xi = x[i], h = 1e-4;
        double f = gelu_ref(xi), d = (gelu_ref(xi + h) - gelu_ref(xi - h)) / (2 * h);
        // error relative to the value's own scale, and to 1 near 0 (fp32 resolution)
        worst_f = fmax(worst_f, fabs(y[i] - f) / fmax(1.0, fabs(f)));
        worst_b = fmax(worst_b, fabs((dx[i] - 0.5) - d));
    }
    printf("gelu: worst forward error %.2e, derivative %.2e\n", worst_f, worst_b);
    CHECK(worst_f < 1e-6);
    CHECK(worst_b < 1e-5);
    float nan_in = NAN, out;
    gptk_gelu_forward(&out, &nan_in, 1);
    CHECK(isnan(out));
}

static void test_softmax(void)
{
    enum { N = 6, V = 2051 }; // not a multiple of the kernel's lanes
    float *p = malloc(sizeof(float) * N * V), *logits = malloc(sizeof(float) * N * V);
    float logp[N];
    int tg[N] = {0, 17, V - 1, 1000, -1, 5};
    CHECK(p && logits);
    if (!p || !logits) return;
    dc_rng r;
    dc_rng_seed(&r, 4);
    for (int n = 0; n < N; n++)
        for (int v = 0; v < V; v++) // spreads from 0.1 to 30 standard deviations
            logits[n * V + v] = (float)((0.1 + 6.0 * n) * dc_rng_normal(&r));
    logits[3 * V + 1000] = -200.0f; // a target far below the row's maximum
    memcpy(p, logits, sizeof(float) * N * V);
    gptk_softmax_logp_forward(p, logp, tg, N, V);
    double worst_p = 0, worst_l = 0;
    for (int n = 0; n < N; n++) {
        const float *z = logits + n * V;
        double mx = z[0], s = 0;
        for (int v = 1; v < V; v++)
            mx = fmax(mx, z[v]);
        for (int v = 0; v < V; v++)
            s += exp((double)z[v] - mx);
        for (int v = 0; v < V; v++) {
            // from the fp32 difference z − max, as the kernel must form it: its rounding
            // (up to 4e-6 relative at a distance of 80) is fp32's, not the kernel's
            double ref = exp((double)(z[v] - (float)mx)) / s;
            worst_p = fmax(worst_p, fabs(p[n * V + v] - ref) / fmax(ref, 1e-30) * (ref > 1e-30));
        }
        double lref = tg[n] >= 0 ? (double)z[tg[n]] - mx - log(s) : 0.0;
        worst_l = fmax(worst_l, fabs(logp[n] - lref) / fmax(1.0, fabs(lref)));
    }
    printf("softmax: worst relative error of p %.2e, of log p %.2e\n", worst_p, worst_l);
    CHECK(worst_p < 2e-6);
    CHECK(worst_l < 1e-6);
    CHECK(logp[4] == 0.0f);   // no target
    CHECK(logp[3] < -150.0f); // no underflow to log(0)
    memcpy(p, logits, sizeof(float) * V);
    p[7] = NAN;
    gptk_softmax_logp_forward(p, logp, tg, 1, V);
    CHECK(isnan(logp[0]));
    free(p);
    free(logits);
}

/* At a small size (heads of 4, several of them) and a long one (T 90, one head of 96: the
 * dot products' lanes and their tail). */
static void test_attention(int B, int T, int C, int NH)
{
    const int HS = C / NH, C3 = 3 * C;
    size_t nin = (size_t)B * T * C3, nout = (size_t)B * T * C, natt = (size_t)B * NH * T * T;
    float *inp = malloc(nin * sizeof(float)), *out = malloc(nout * sizeof(float)),
          *att = malloc(natt * sizeof(float)), *dout = malloc(nout * sizeof(float)),
          *dinp = malloc(nin * sizeof(float));
    double *ref_out = calloc(nout, sizeof(double)), *ref_dinp = calloc(nin, sizeof(double)),
           *ref_att = calloc(natt, sizeof(double)), *s = malloc(T * sizeof(double)),
           *da = malloc(T * sizeof(double));
    CHECK(inp && out && att && dout && dinp && ref_out && ref_dinp && ref_att && s && da);
    if (!(inp && out && att && dout && dinp && ref_out && ref_dinp && ref_att && s && da)) return;
    dc_rng r;
    dc_rng_seed(&r, 9);
    for (size_t i = 0; i < nin; i++)
        inp[i] = (float)(1.5 / sqrt(HS / 4.0) * dc_rng_normal(&r));
    for (size_t i = 0; i < nout; i++)
        dout[i] = (float)dc_rng_normal(&r);
    for (size_t i = 0; i < nin; i++)
        dinp[i] = 0.25f; // backward accumulates
    gptk_attention_forward(out, att, inp, B, T, C, NH);
    gptk_attention_backward(dinp, dout, inp, att, B, T, C, NH);
    // reference: softmax(q·kᵀ/√hs) with the causal mask, in double; backward by hand
    double sc = 1.0 / sqrt((double)HS);
#define Q(b, t, h, i) inp[((size_t)(b)*T + (t)) * C3 + (h)*HS + (i)]
#define K(b, t, h, i) inp[((size_t)(b)*T + (t)) * C3 + C + (h)*HS + (i)]
#define VV(b, t, h, i) inp[((size_t)(b)*T + (t)) * C3 + 2 * C + (h)*HS + (i)]
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                double mx = -1e300, sum = 0, *a = ref_att + (((size_t)b * NH + h) * T + t) * T;
                for (int u = 0; u <= t; u++) {
                    s[u] = 0;
                    for (int i = 0; i < HS; i++)
                        s[u] += (double)Q(b, t, h, i) * K(b, u, h, i);
                    s[u] *= sc;
                    mx = fmax(mx, s[u]);
                }
                for (int u = 0; u <= t; u++)
                    sum += exp(s[u] - mx);
                for (int u = 0; u <= t; u++)
                    a[u] = exp(s[u] - mx) / sum;
                const float *d = dout + ((size_t)b * T + t) * C + h * HS;
                double dot = 0;
                for (int i = 0; i < HS; i++) {
                    double o = 0;
                    for (int u = 0; u <= t; u++)
                        o += a[u] * VV(b, u, h, i);
                    ref_out[((size_t)b * T + t) * C + h * HS + i] = o;
                }
                for (int u = 0; u <= t; u++) {
                    da[u] = 0;
                    for (int i = 0; i < HS; i++) {
                        da[u] += (double)d[i] * VV(b, u, h, i);
                        ref_dinp[((size_t)b * T + u) * C3 + 2 * C + h * HS + i] += a[u] * d[i];
                    }
                    dot += a[u] * da[u];
                }
                for (int u = 0; u <= t; u++) {
                    double g = a[u] * (da[u] - dot) * sc;
                    for (int i = 0; i < HS; i++) {
                        ref_dinp[((size_t)b * T + t) * C3 + h * HS + i] += g * K(b, u, h, i);
                        ref_dinp[((size_t)b * T + u) * C3 + C + h * HS + i] += g * Q(b, t, h, i);
                    }
                }
            }
#undef Q
#undef K
#undef VV
    double wo = 0, wa = 0, wd = 0;
    for (size_t i = 0; i < nout; i++)
        wo = fmax(wo, fabs(out[i] - ref_out[i]));
    for (size_t i = 0; i < natt; i++)
        wa = fmax(wa, fabs(att[i] - ref_att[i]));
    for (size_t i = 0; i < nin; i++)
        wd = fmax(wd, fabs((dinp[i] - 0.25) - ref_dinp[i]));
    printf("attention B%d T%d C%d NH%d: worst error out %.2e, att %.2e, dinp %.2e\n", B, T, C, NH,
           wo, wa, wd);
    CHECK(wo < 1e-5);
    CHECK(wa < 1e-6);
    CHECK(wd < 1e-5);
    // the causal mask: nothing of a later position reaches an earlier one
    CHECK(att[(size_t)2 * T + 3] == 0.0f); // head 0, position 2, key 3
    free(inp), free(out), free(att), free(dout), free(dinp);
    free(ref_out), free(ref_dinp), free(ref_att), free(s), free(da);
}

static void test_layernorm(void)
{
    enum { N = 5, C = 37 };
    float x[N * C], w[C], bias[C], y[N * C], mean[N], rstd[N], dy[N * C], dx[N * C], dw[C], db[C];
    dc_rng r;
    dc_rng_seed(&r, 21);
    for (int i = 0; i < N * C; i++)
        x[i] = (float)(3.0 + 2.0 * dc_rng_normal(&r));
    for (int i = 0; i < N * C; i++)
        dy[i] = (float)dc_rng_normal(&r), dx[i] = 0.0f;
    for (int c = 0; c < C; c++) {
        w[c] = (float)(1.0 + 0.3 * dc_rng_normal(&r)), bias[c] = (float)dc_rng_normal(&r);
        dw[c] = db[c] = 0.0f;
    }
    gptk_layernorm_forward(y, mean, rstd, x, w, bias, N, C);
    gptk_layernorm_backward(dx, dw, db, dy, x, w, mean, rstd, N, C);
    double wy = 0, wx = 0, ww = 0;
    double rdw[C] = {0};
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++)
            m += x[n * C + c];
        m /= C;
        for (int c = 0; c < C; c++)
            v += (x[n * C + c] - m) * (x[n * C + c] - m);
        double s = 1.0 / sqrt(v / C + 1e-5);
        double gm = 0, gn = 0;
        for (int c = 0; c < C; c++) {
            double xn = (x[n * C + c] - m) * s;
            wy = fmax(wy, fabs(y[n * C + c] - (xn * w[c] + bias[c])));
            gm += w[c] * dy[n * C + c];
            gn += w[c] * dy[n * C + c] * xn;
            rdw[c] += xn * dy[n * C + c];
        }
        for (int c = 0; c < C; c++) {
            double xn = (x[n * C + c] - m) * s;
            double ref = s * (w[c] * dy[n * C + c] - gm / C - xn * gn / C);
            wx = fmax(wx, fabs(dx[n * C + c] - ref));
        }
    }
    for (int c = 0; c < C; c++)
        ww = fmax(ww, fabs(dw[c] - rdw[c]));
    printf("layernorm: worst error out %.2e, dinp %.2e, dweight %.2e\n", wy, wx, ww);
    CHECK(wy < 1e-5);
    CHECK(wx < 1e-5);
    CHECK(ww < 1e-5);
}

int main(void)
{
    test_gelu();
    test_softmax();
    test_attention(2, 7, 12, 3);
    test_attention(1, 90, 97, 1);
    test_layernorm();
    return TEST_REPORT();
}
