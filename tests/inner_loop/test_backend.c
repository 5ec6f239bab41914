/* test_backend.c — the CPU backend and the MLP's back-propagation against independent
 * references: naive loops in double for the products, central finite differences for the
 * gradients of a 2-hidden-layer MLP; the backend table's memory operations and the device
 * selection (cpu, auto, cuda, unknown names). The CUDA table itself: test_cuda_parity. */
#include "tests/test.h"

#include "inner_loop/backend.h"
#include "inner_loop/fashion/mlp.h"
#include "common/rng.h"

#include <stdint.h>
#include <stdlib.h>

/* AddressSanitizer aborts on an impossible allocation instead of returning NULL: the
 * out-of-memory checks run in the normal build only. */
#if defined(__SANITIZE_ADDRESS__)
#define DC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DC_ASAN 1
#endif
#endif
#ifndef DC_ASAN
#define DC_ASAN 0
#endif

static void fill(dc_rng *r, float *x, int n, double scale)
{
    for (int i = 0; i < n; i++)
        x[i] = (float)(scale * dc_rng_normal(r));
}

/* The linear layer against naive double loops. */
static void test_linear(void)
{
    enum { B = 5, C = 7, OC = 3 };
    dc_rng r;
    dc_rng_seed(&r, 11);
    float inp[B * C], w[OC * C], bias[OC], out[B * OC], dout[B * OC];
    float dinp[B * C], dw[OC * C], db[OC];
    fill(&r, inp, B * C, 1), fill(&r, w, OC * C, 1), fill(&r, bias, OC, 1),
        fill(&r, dout, B * OC, 1);
    dc_linear_forward(out, inp, w, bias, B, C, OC);
    dc_linear_backward(dinp, dw, db, dout, inp, w, B, C, OC);
    for (int b = 0; b < B; b++)
        for (int o = 0; o < OC; o++) {
            double s = bias[o];
            for (int c = 0; c < C; c++)
                s += (double)inp[b * C + c] * w[o * C + c];
            CHECK_NEAR(out[b * OC + o], s, 1e-5);
        }
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int o = 0; o < OC; o++)
                s += (double)dout[b * OC + o] * w[o * C + c];
            CHECK_NEAR(dinp[b * C + c], s, 1e-5);
        }
    for (int o = 0; o < OC; o++) {
        double sb = 0;
        for (int b = 0; b < B; b++)
            sb += dout[b * OC + o];
        CHECK_NEAR(db[o], sb, 1e-5);
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int b = 0; b < B; b++)
                s += (double)dout[b * OC + o] * inp[b * C + c];
            CHECK_NEAR(dw[o * C + c], s, 1e-5);
        }
    }
    // backward overwrites (does not accumulate): a second call gives the same numbers
    float dw2[OC * C];
    dc_linear_backward(NULL, dw2, NULL, dout, inp, w, B, C, OC);
    CHECK(memcmp(dw, dw2, sizeof dw) == 0);
}

static void test_small_ops(void)
{
    float x[6] = {-1, 0, 2, -3, 4, 0.5f}, y[6], dy[6] = {1, 1, 1, 1, 1, 1}, dx[6];
    dc_relu_forward(y, x, 6);
    CHECK(y[0] == 0 && y[1] == 0 && y[2] == 2 && y[3] == 0 && y[4] == 4 && y[5] == 0.5f);
    dc_relu_backward(dx, dy, y, 6);
    CHECK(dx[0] == 0 && dx[1] == 0 && dx[2] == 1 && dx[3] == 0 && dx[4] == 1 && dx[5] == 1);

    float logits[3 * 4] = {0, 1, 2, 3, /**/ 5, 1, 5, 0, /**/ -1, -2, -3, -4};
    int labels[3] = {3, 0, 1};
    CHECK(dc_argmax_correct(logits, labels, 3, 4) == 2); // ties go to the first maximum

    CHECK(dc_all_finite(x, 6));
    x[3] = NAN;
    CHECK(!dc_all_finite(x, 6));

    // Adam against the textbook formula in double, three steps
    float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, -0.25f}, m[2] = {0}, v[2] = {0};
    double pd[2] = {1.0, -2.0}, md[2] = {0}, vd[2] = {0};
    for (int t = 1; t <= 3; t++) {
        dc_adam_update(p, g, m, v, 2, 0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, t);
        for (int i = 0; i < 2; i++) {
            md[i] = 0.9 * md[i] + 0.1 * g[i];
            vd[i] = 0.999 * vd[i] + 0.001 * (double)g[i] * g[i];
            double mh = md[i] / (1 - pow(0.9, t)), vh = vd[i] / (1 - pow(0.999, t));
            pd[i] -= 0.01 * (mh / (sqrt(vh) + 1e-8) + 0.1 * pd[i]);
        }
    }
    CHECK_NEAR(p[0], pd[0], 1e-6);
    CHECK_NEAR(p[1], pd[1], 1e-6);
}

/* L = Σ_b Σ_k c_bk · z_bk² / 2 over the MLP's logits z: a smooth non-linear loss whose
 * gradient dL/dz = c·z is known exactly, so the test checks the MLP's chain rule alone. */
static double mlp_loss(dc_mlp *m, const float *x, const float *c, int B, int K, float *dz)
{
    const float *z = dc_mlp_forward(m, x, B);
    double L = 0;
    for (int i = 0; i < B * K; i++) {
        L += 0.5 * (double)c[i] * z[i] * z[i];
        if (dz) dz[i] = c[i] * z[i];
    }
    return L;
}

static void test_mlp_finite_differences(void)
{
    enum { B = 4, IN = 6, H = 5, K = 3 };
    dc_mlp m;
    char err[128];
    CHECK(dc_mlp_init(&m, dc_backend_cpu(), IN, H, 2, K, B, 7, err, sizeof err) == 0);
    CHECK(m.nparams == (size_t)(H * IN + H + H * H + H + K * H + K));
    dc_rng r;
    dc_rng_seed(&r, 3);
    float x[B * IN], c[B * K], dz[B * K];
    fill(&r, x, B * IN, 1.0);
    for (int i = 0; i < B * K; i++)
        c[i] = (float)(0.5 + dc_rng_uniform(&r));
    // non-zero biases so the bias gradients are exercised away from the initial zeros
    for (int l = 0; l < m.nlin; l++)
        fill(&r, m.b[l], m.dims[l + 1], 0.3);

    mlp_loss(&m, x, c, B, K, dz);
    dc_mlp_backward(&m, dz, B);
    float *analytic = malloc(m.nparams * sizeof(float));
    memcpy(analytic, m.grads, m.nparams * sizeof(float));

    /* Central differences in float parameters, loss summed in double. With h = 1e-2 the
     * truncation error is O(h²) ~ 1e-4 and float rounding of the logits adds ~1e-5 / h;
     * a ReLU kink inside ±h would break the check: tolerance 2e-3 + 2 % relative, and at
     * most 1 parameter may miss it (a kink crossing). */
    const float h = 1e-2f;
    int misses = 0;
    double worst = 0;
    for (size_t i = 0; i < m.nparams; i++) {
        float keep = m.params[i];
        m.params[i] = keep + h;
        double lp = mlp_loss(&m, x, c, B, K, NULL);
        m.params[i] = keep - h;
        double lm = mlp_loss(&m, x, c, B, K, NULL);
        m.params[i] = keep;
        // divide by the step actually taken in float
        double num = (lp - lm) / ((double)(keep + h) - (double)(keep - h));
        double diff = fabs(num - analytic[i]);
        if (diff > 2e-3 + 0.02 * fabs(num)) {
            misses++;
            fprintf(stderr, "param %zu: numeric %.6g analytic %.6g\n", i, num, analytic[i]);
        }
        if (diff > worst) worst = diff;
    }
    printf("MLP finite differences: %zu parameters, worst |diff| %.2e, %d misses\n", m.nparams,
           worst, misses);
    CHECK(misses <= 1);
    // the check is not vacuous: the gradient is not all zeros
    double norm = 0;
    for (size_t i = 0; i < m.nparams; i++)
        norm += fabs(analytic[i]);
    CHECK(norm > 1e-2);
    free(analytic);
    dc_mlp_free(&m);

    // bad sizes are refused with a message
    CHECK(dc_mlp_init(&m, dc_backend_cpu(), IN, H, 3, K, B, 7, err, sizeof err) == -1 &&
          strstr(err, "out of range"));
    // an allocation the machine cannot give: a message naming the backend, no crash
    if (!DC_ASAN) {
        CHECK(dc_mlp_init(&m, dc_backend_cpu(), 1 << 30, 1 << 20, 1, K, B, 7, err, sizeof err) ==
              -1);
        CHECK_MSG(strstr(err, "out of memory") && strstr(err, "cpu-openblas"), "%s", err);
        dc_backend_cpu()->clear_error();
    }
}

/* The CPU table: zeroed allocation, upload/download round trip, memset, sticky errors. */
static void test_cpu_table(void)
{
    const dc_backend_ops *be = dc_backend_cpu();
    CHECK(be->abi == DC_BACKEND_ABI);
    CHECK_STR(be->kind, "cpu");
    CHECK_STR(be->name(), "cpu-openblas");
    enum { N = 37 };
    float *d = be->alloc(N * sizeof(float));
    CHECK(d != NULL);
    if (!d) return;
    int zero = 1;
    for (int i = 0; i < N; i++)
        zero &= d[i] == 0.0f;
    CHECK(zero);
    float src[N], back[N];
    for (int i = 0; i < N; i++)
        src[i] = (float)i - 3.5f;
    be->upload(d, src, sizeof src);
    CHECK(be->download(back, d, sizeof back) == 0);
    CHECK(memcmp(src, back, sizeof src) == 0);
    be->memset0(d, 5 * sizeof(float));
    CHECK(be->download(back, d, sizeof back) == 0);
    CHECK(back[4] == 0.0f && back[5] == src[5]);
    CHECK(be->synchronize() == 0);
    CHECK(be->all_finite(d, N) == 1);
    be->free(d);
    be->free(NULL);

    // a failed allocation is sticky: download/synchronize report it until cleared
    char msg[256] = "";
    CHECK(be->error(msg, sizeof msg) == 0);
    if (DC_ASAN) return;
    void *huge = be->alloc(SIZE_MAX / 2);
    CHECK(huge == NULL);
    CHECK(be->error(msg, sizeof msg) == 1 && strstr(msg, "out of memory"));
    CHECK(be->synchronize() == -1 && be->download(back, src, 4) == -1);
    be->clear_error();
    CHECK(be->error(msg, sizeof msg) == 0 && be->synchronize() == 0);
}

/* Selection by name. "cuda" either works (a GPU machine) or says why not; "auto" never
 * fails and falls back to the CPU exactly when "cuda" does not work. */
static void test_select(void)
{
    const dc_backend_ops *be = NULL;
    char err[1024] = "";
    CHECK(dc_backend_select("cpu", &be, err, sizeof err) == 0 && be == dc_backend_cpu());
    be = NULL;
    CHECK(dc_backend_select("gpu", &be, err, sizeof err) == -1 && be == NULL);
    CHECK_MSG(strstr(err, "'gpu'") && strstr(err, "auto, cpu or cuda"), "%s", err);
    CHECK(dc_backend_select(NULL, &be, err, sizeof err) == -1);

    const dc_backend_ops *cuda = NULL;
    err[0] = 0;
    int rc = dc_backend_select("cuda", &cuda, err, sizeof err);
    CHECK(dc_backend_select("auto", &be, err + 512, sizeof err - 512) == 0 && be);
    if (rc == 0) {
        CHECK_STR(cuda->kind, "cuda");
        CHECK(strncmp(cuda->name(), "cuda:", 5) == 0);
        CHECK(be == cuda);
        printf("CUDA backend available: %s\n", cuda->name());
    } else {
        CHECK(cuda == NULL && strlen(err) > 20);
        CHECK(be == dc_backend_cpu());
        printf("no CUDA backend here (auto picks the CPU): %s\n", err);
        // the same answer a second time (the probe is remembered)
        char again[512] = "";
        CHECK(dc_backend_select("cuda", &cuda, again, sizeof again) == -1);
        CHECK_STR(again, err);
    }
}

/* A CPU table with one operation broken on purpose, for the self-check to catch. */
static dc_backend_ops broken;
static void (*real_linear_forward)(float *, const float *, const float *, const float *, int,
                                   int, int);
static void (*real_adam)(float *, const float *, float *, float *, size_t, float, float, float,
                         float, float, int);
static void linear_forward_off(float *out, const float *inp, const float *w, const float *b,
                               int B, int C, int OC)
{
    real_linear_forward(out, inp, w, b, B, C, OC);
    out[B * OC - 1] += 1e-3f; // one element, slightly: more than fp32 rounding
}
static void adam_no_decay(float *p, const float *g, float *m, float *v, size_t N, float lr,
                          float b1, float b2, float eps, float wd, int t)
{
    (void)wd; // forgets the weight decay
    real_adam(p, g, m, v, N, lr, b1, b2, eps, 0.0f, t);
}

/* The start-up self-check (dc_backend_verify): the CPU table agrees with itself, its inputs
 * keep every pre-activation clear of 0, and a table with one wrong operation is refused
 * with that operation named. */
static void test_verify(void)
{
    const dc_backend_ops *cpu = dc_backend_cpu();
    char err[512] = "";
    CHECK_MSG(dc_backend_verify(cpu, cpu, err, sizeof err) == 0, "%s", err);
    double margin = dc_backend_verify_margin(cpu);
    CHECK_MSG(margin > 1e-3, "a pre-activation of the self-check is %g from 0", margin);
    broken = *cpu;
    real_linear_forward = cpu->linear_forward;
    broken.linear_forward = linear_forward_off;
    CHECK(dc_backend_verify(&broken, cpu, err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "linear_forward differs"), "message: %s", err);
    broken = *cpu;
    real_adam = cpu->adam_update;
    broken.adam_update = adam_no_decay;
    CHECK(dc_backend_verify(&broken, cpu, err, sizeof err) != 0);
    CHECK_MSG(strstr(err, "adam_update (weights)"), "message: %s", err);
}

int main(void)
{
    dc_backend_set_threads(1);
    test_verify();
    test_linear();
    test_small_ops();
    test_mlp_finite_differences();
    test_cpu_table();
    test_select();
    return TEST_REPORT();
}
