/* test_mlp_reference.c — the fashion task's MLP (mlp.h on the CPU backend) against an
 * independent PyTorch implementation (tests/reference/make_reference.py →
 * tests/reference/mlp.bin): 12 inputs → 16 → 16 (ReLU) → 5 logits, a batch of 8 with labels.
 * With the fixture's parameters the C model must reproduce
 *   - the logits, and the mean cross-entropy over the batch (fashion.c's training loss:
 *     the objective's d(Σ loss)/d logits scaled by 1/B),
 *   - the gradient of every weight and bias,
 *   - over 3 steps of dc_mlp_adam (Adam, decoupled weight decay on every parameter): the
 *     loss of every step and every parameter after the last one.
 * The reference is float64 on the same float32 values, and it chose its parameters so that
 * no ReLU pre-activation comes within 1e-3 of 0 in any of the passes (a mask decided by
 * rounding would make an honest disagreement). Tolerances (the test prints the worst seen):
 *   logits            |err| <= 1e-5 + 1e-5 |ref|
 *   losses            |err| <= 1e-5 + 1e-5 |ref|
 *   gradients         |err| <= 1e-6 + 1e-4 |ref|
 *   parameters after  |err| <= 1e-5 + 1e-5 |ref|   (lr 1e-2: each step moves ~1e-2) */
#include "tests/test.h"

#include "inner_loop/backend.h"
#include "inner_loop/fashion/mlp.h"
#include "ref_fixture.h"

#include <stdlib.h>

#define LOGIT_ATOL 1e-5
#define LOGIT_RTOL 1e-5
#define LOSS_ATOL 1e-5
#define LOSS_RTOL 1e-5
#define GRAD_ATOL 1e-6
#define GRAD_RTOL 1e-4
#define PARAM_ATOL 1e-5
#define PARAM_RTOL 1e-5

typedef struct {
    int in, hidden, hidden_layers, K, B, steps;
    float lr, beta1, beta2, eps, weight_decay;
    const int32_t *labels;
    const float *x, *params, *logits, *loss, *grads, *params_after;
} mlp_ref;

/* Mean softmax cross-entropy over the batch in double, and dlogits = d(mean)/d logits in
 * float32: what fashion.c computes from the baseline objective's per-row losses and
 * d(Σ loss)/d logits. */
static double mean_ce(const float *logits, const int *labels, int B, int K, float *dlogits)
{
    double total = 0;
    for (int b = 0; b < B; b++) {
        const float *z = logits + (size_t)b * K;
        double mx = z[0], s = 0;
        for (int k = 1; k < K; k++)
            mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < K; k++)
            s += exp(z[k] - mx);
        total += mx + log(s) - z[labels[b]];
        for (int k = 0; k < K; k++)
            dlogits[(size_t)b * K + k] = (float)((exp(z[k] - mx) / s - (k == labels[b])) / B);
    }
    return total / B;
}

static int load(ref_file *f, mlp_ref *r)
{
    if (ref_open(f, "mlp.bin", REF_KIND_MLP) != 0) return -1;
    const int32_t *h = f->header;
    r->in = h[3];
    r->hidden = h[4];
    r->hidden_layers = h[5];
    r->K = h[6];
    r->B = h[7];
    r->steps = h[8];
    if (r->in < 1 || r->in > 4096 || r->hidden < 1 || r->hidden > 4096 || r->hidden_layers < 1 ||
        r->hidden_layers > DC_MLP_MAX_HIDDEN_LAYERS || r->K < 2 || r->K > 4096 || r->B < 1 ||
        r->B > 4096 || r->steps < 1 || r->steps > 100) {
        fprintf(stderr, "%s: bad configuration\n", f->path);
        return -1;
    }
    r->lr = f->hyper[0];
    r->beta1 = f->hyper[1];
    r->beta2 = f->hyper[2];
    r->eps = f->hyper[3];
    r->weight_decay = f->hyper[4];
    return 0;
}

static void test_reference(void)
{
    ref_file f;
    mlp_ref r;
    int loaded = load(&f, &r) == 0;
    CHECK_MSG(loaded, "the fixture tests/reference/mlp.bin loads");
    if (!loaded) {
        ref_close(&f);
        return;
    }
    // dc_mlp_adam fixes these (mlp.h); a fixture made for others is not this optimiser
    CHECK_MSG(r.beta1 == 0.9f && r.beta2 == 0.999f && r.eps == 1e-8f,
              "the fixture's Adam (betas %g/%g, eps %g) is dc_mlp_adam's (0.9/0.999, 1e-8)",
              r.beta1, r.beta2, r.eps);
    const dc_backend_ops *be = dc_backend_cpu();
    dc_mlp m;
    char err[256];
    int inited =
        dc_mlp_init(&m, be, r.in, r.hidden, r.hidden_layers, r.K, r.B, 1, err, sizeof err) == 0;
    CHECK_MSG(inited, "dc_mlp_init: %s", err);
    if (!inited) {
        ref_close(&f);
        return;
    }
    size_t N = m.nparams, BK = (size_t)r.B * r.K;
    r.labels = ref_ints(&f, (size_t)r.B, "labels");
    r.x = ref_floats(&f, (size_t)r.B * r.in, "x");
    r.params = ref_floats(&f, N, "params");
    r.logits = ref_floats(&f, BK, "logits");
    r.loss = ref_floats(&f, (size_t)r.steps + 1, "loss");
    r.grads = ref_floats(&f, N, "grads");
    r.params_after = ref_floats(&f, N, "params_after");
    int whole = r.params_after && f.pos == f.size;
    CHECK_MSG(whole, "%s holds exactly this MLP's tensors (%zu parameters; byte %zu of %zu)",
              f.path, N, f.pos, f.size);
    int *labels = malloc((size_t)r.B * sizeof *labels);
    float *logits = malloc(BK * sizeof *logits), *dlogits = malloc(BK * sizeof *dlogits);
    float *host = malloc(N * sizeof *host);
    float *x_dev = be->alloc((size_t)r.B * r.in * sizeof(float));
    float *dlogits_dev = be->alloc(BK * sizeof(float));
    CHECK(labels && logits && dlogits && host && x_dev && dlogits_dev);
    if (!whole || !labels || !logits || !dlogits || !host || !x_dev || !dlogits_dev) goto out;
    for (int b = 0; b < r.B; b++) {
        labels[b] = r.labels[b];
        CHECK(labels[b] >= 0 && labels[b] < r.K);
        if (labels[b] < 0 || labels[b] >= r.K) goto out;
    }
    be->upload(m.params, r.params, N * sizeof(float));
    be->upload(x_dev, r.x, (size_t)r.B * r.in * sizeof(float));

    // forward and backward at the fixture's parameters
    CHECK(be->download(logits, dc_mlp_forward(&m, x_dev, r.B), BK * sizeof(float)) == 0);
    ref_near("logits", logits, r.logits, BK, LOGIT_ATOL, LOGIT_RTOL);
    float loss = (float)mean_ce(logits, labels, r.B, r.K, dlogits);
    ref_near("loss", &loss, &r.loss[0], 1, LOSS_ATOL, LOSS_RTOL);
    be->upload(dlogits_dev, dlogits, BK * sizeof(float));
    dc_mlp_backward(&m, dlogits_dev, r.B);
    CHECK(be->download(host, m.grads, N * sizeof(float)) == 0);
    size_t off = 0;
    for (int i = 0; i < m.nlin; i++) {
        char name[64];
        size_t nw = (size_t)m.dims[i + 1] * m.dims[i], nb = (size_t)m.dims[i + 1];
        snprintf(name, sizeof name, "gradient W%d", i);
        ref_near(name, host + off, r.grads + off, nw, GRAD_ATOL, GRAD_RTOL);
        snprintf(name, sizeof name, "gradient b%d", i);
        ref_near(name, host + off + nw, r.grads + off + nw, nb, GRAD_ATOL, GRAD_RTOL);
        off += nw + nb;
    }

    // the optimiser steps, as fashion.c's loop
    for (int s = 0; s < r.steps; s++) {
        char name[64];
        CHECK(be->download(logits, dc_mlp_forward(&m, x_dev, r.B), BK * sizeof(float)) == 0);
        loss = (float)mean_ce(logits, labels, r.B, r.K, dlogits);
        snprintf(name, sizeof name, "loss before step %d", s + 1);
        ref_near(name, &loss, &r.loss[s], 1, LOSS_ATOL, LOSS_RTOL);
        be->upload(dlogits_dev, dlogits, BK * sizeof(float));
        dc_mlp_backward(&m, dlogits_dev, r.B);
        dc_mlp_adam(&m, r.lr, r.weight_decay);
    }
    CHECK(be->download(logits, dc_mlp_forward(&m, x_dev, r.B), BK * sizeof(float)) == 0);
    loss = (float)mean_ce(logits, labels, r.B, r.K, dlogits);
    ref_near("loss after the steps", &loss, &r.loss[r.steps], 1, LOSS_ATOL, LOSS_RTOL);
    CHECK(be->download(host, m.params, N * sizeof(float)) == 0);
    off = 0;
    for (int i = 0; i < m.nlin; i++) {
        char name[64];
        size_t nw = (size_t)m.dims[i + 1] * m.dims[i], nb = (size_t)m.dims[i + 1];
        snprintf(name, sizeof name, "after the steps W%d", i);
        ref_near(name, host + off, r.params_after + off, nw, PARAM_ATOL, PARAM_RTOL);
        snprintf(name, sizeof name, "after the steps b%d", i);
        ref_near(name, host + off + nw, r.params_after + off + nw, nb, PARAM_ATOL, PARAM_RTOL);
        off += nw + nb;
    }
out:
    be->free(x_dev);
    be->free(dlogits_dev);
    free(labels);
    free(logits);
    free(dlogits);
    free(host);
    dc_mlp_free(&m);
    ref_close(&f);
}

int main(void)
{
    test_reference();
    return TEST_REPORT();
}
