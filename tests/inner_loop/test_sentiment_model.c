/* test_sentiment_model.c — the GPT of the sentiment task (any vocabulary; here V = 128 so
 * character codes serve as token ids, id 0 = end-of-text):
 * gradients against finite differences (every parameter tensor sampled), sequence
 * log-probabilities against token sums and a direct per-prefix computation, KV-cached
 * greedy sampling against the full forward pass, and sampling reproducibility;
 * gpt_forward_scored (the output layer at scored positions only) against gpt_forward;
 * the GPT's thread pool, and the same bits on 1 and 2 threads (training and sampling). */
#include "tests/test.h"

#include "inner_loop/sentiment/gpt.h"
#include "inner_loop/sentiment/gpt_pool.h"
#include "inner_loop/sentiment/lm.h"

#include <stdlib.h>

#define V 128
static const gpt_config TINY = {V, 8, 2, 8, 2};

/* J = Σ w·logp over a fixed batch; double accumulation to keep the finite differences
 * above float noise. */
static double objective_value(gpt_model *m, const int *in, const int *tg, const float *w, int B,
                              int T)
{
    float logp[64];
    gpt_forward(m, in, tg, B, T, logp);
    double J = 0;
    for (int i = 0; i < B * T; i++) J += (double)w[i] * logp[i];
    return J;
}

static void test_gradients(void)
{
    gpt_model m;
    CHECK(gpt_init(&m, &TINY, 7) == 0);
    // larger weights than the GPT-2 init so every path carries a visible gradient
    dc_rng rng;
    dc_rng_seed(&rng, 99);
    for (size_t i = 0; i < m.nparams; i++) m.params_mem[i] += 0.3f * (float)dc_rng_normal(&rng);
    enum { B = 2, T = 6 };
    int in[B * T], tg[B * T];
    float w[B * T];
    for (int i = 0; i < B * T; i++) {
        in[i] = (int)dc_rng_below(&rng, 6) + 60; // few distinct tokens: dense wte rows
        tg[i] = i % 5 == 4 ? -1 : (int)dc_rng_below(&rng, 6) + 60;
        w[i] = (float)dc_rng_normal(&rng);
    }
    float logp[B * T];
    CHECK(gpt_forward(&m, in, tg, B, T, logp) == 0);
    CHECK(gpt_zero_grad(&m) == 0);
    CHECK(gpt_backward(&m, w) == 0);
    size_t off = 0;
    int tensors_checked = 0;
    for (int t = 0; t < GPT_NUM_PARAM_TENSORS; t++) {
        size_t n = m.param_sizes[t];
        // the entries with the largest analytic gradient plus random ones
        size_t picks[6];
        size_t best = 0;
        for (size_t j = 1; j < n; j++)
            if (fabsf(m.grads_mem[off + j]) > fabsf(m.grads_mem[off + best])) best = j;
        picks[0] = best;
        for (int k = 1; k < 6; k++) picks[k] = dc_rng_below(&rng, (uint32_t)n);
        int ok = 1;
        for (int k = 0; k < 6; k++) {
            size_t j = off + picks[k];
            float save = m.params_mem[j];
            const float h = 1e-2f;
            m.params_mem[j] = save + h;
            double jp = objective_value(&m, in, tg, w, B, T);
            m.params_mem[j] = save - h;
            double jm = objective_value(&m, in, tg, w, B, T);
            m.params_mem[j] = save;
            double fd = (jp - jm) / (2.0 * h), an = m.grads_mem[j];
            double tol = 2e-3 + 3e-2 * fabs(fd);
            if (fabs(fd - an) > tol) {
                ok = 0;
                fprintf(stderr, "tensor %d entry %zu: finite difference %.6g, backward %.6g\n", t,
                        picks[k], fd, an);
            }
        }
        CHECK_MSG(ok, "gradient of parameter tensor %d", t);
        CHECK_MSG(fabsf(m.grads_mem[off + best]) > 1e-4f, "tensor %d has a gradient", t);
        tensors_checked++;
        off += n;
    }
    CHECK(tensors_checked == GPT_NUM_PARAM_TENSORS);
    gpt_free(&m);
}

static void test_logps(void)
{
    gpt_model m;
    gpt_config c = {V, 16, 2, 16, 4};
    CHECK(gpt_init(&m, &c, 3) == 0);
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    for (size_t i = 0; i < m.nparams; i++) m.params_mem[i] += 0.1f * (float)dc_rng_normal(&rng);
    // three sequences of different lengths: padding must not change anything
    int t0[] = {GPT_EOT, 'a', 'b', 'c', 'd', 'e', 'f'};
    int t1[] = {GPT_EOT, 'x', 'y', 'z', 'a', 'b', 'c', 'd', 'e', 'f', GPT_EOT};
    int t2[] = {GPT_EOT, 'q', 'r', 's'};
    sent_seq s[3] = {{7, 3, t0}, {11, 2, t1}, {4, 3, t2}};
    double sum[3];
    float tok[32];
    CHECK(sent_seq_logps(&m, s, 3, 2, sum, tok) == 0);
    int off = 0;
    for (int k = 0; k < 3; k++) {
        double acc = 0;
        int R = sent_seq_resp_len(&s[k]);
        for (int i = 0; i < R; i++) acc += tok[off + i];
        CHECK_NEAR(sum[k], acc, 1e-5);
        // direct: each response token scored by a forward pass over its prefix alone
        double direct = 0;
        for (int i = 0; i < R; i++) {
            int pos = s[k].plen + i; // index of the token being predicted
            int in[16], tg[16];
            float lp[16];
            for (int t = 0; t < pos; t++) {
                in[t] = s[k].tok[t];
                tg[t] = -1;
            }
            tg[pos - 1] = s[k].tok[pos];
            gpt_forward(&m, in, tg, 1, pos, lp);
            direct += lp[pos - 1];
            // and from the probabilities: log p = log of the softmax row
            const float *probs = m.a.logits + (size_t)(pos - 1) * V;
            CHECK_NEAR(lp[pos - 1], logf(probs[s[k].tok[pos]]), 1e-4);
        }
        CHECK_NEAR(sum[k], direct, 1e-4);
        off += R;
    }
    gpt_free(&m);
}

static void test_sampling(void)
{
    gpt_model m;
    gpt_config c = {V, 24, 2, 16, 2};
    CHECK(gpt_init(&m, &c, 11) == 0);
    dc_rng rng;
    dc_rng_seed(&rng, 6);
    for (size_t i = 0; i < m.nparams; i++) m.params_mem[i] += 0.2f * (float)dc_rng_normal(&rng);
    int p0[] = {GPT_EOT, 'h', 'i'}, p1[] = {GPT_EOT, 'a', 'b', 'c', 'd', 'e'};
    sent_seq prompts[2] = {{3, 3, p0}, {6, 6, p1}};
    sent_seq a[2], b[2], g[2];
    dc_rng r1, r2;
    dc_rng_seed(&r1, 42);
    dc_rng_seed(&r2, 42);
    CHECK(sent_sample(&m, prompts, 2, 2, 12, 1.0f, 0, &r1, a, NULL) == 0);
    CHECK(sent_sample(&m, prompts, 2, 1, 12, 1.0f, 0, &r2, b, NULL) == 0);
    for (int k = 0; k < 2; k++) {
        CHECK(a[k].len == b[k].len);
        CHECK(a[k].len > prompts[k].plen && a[k].len <= prompts[k].plen + 12);
        CHECK(memcmp(a[k].tok, b[k].tok, (size_t)a[k].len * sizeof(int)) == 0);
        CHECK(memcmp(a[k].tok, prompts[k].tok, (size_t)prompts[k].plen * sizeof(int)) == 0);
    }
    // another seed gives another sample
    dc_rng_seed(&r2, 43);
    sent_seq d[2];
    CHECK(sent_sample(&m, prompts, 2, 2, 12, 1.0f, 0, &r2, d, NULL) == 0);
    CHECK(d[0].len != a[0].len || memcmp(d[0].tok, a[0].tok, (size_t)a[0].len * sizeof(int)) != 0 ||
          d[1].len != a[1].len || memcmp(d[1].tok, a[1].tok, (size_t)a[1].len * sizeof(int)) != 0);
    // greedy (top-k 1) through the KV cache equals the argmax of the full forward pass
    CHECK(sent_sample(&m, prompts, 2, 2, 12, 1.0f, 1, &r1, g, NULL) == 0);
    for (int k = 0; k < 2; k++) {
        int ok = 1;
        for (int pos = g[k].plen; pos < g[k].len; pos++) {
            int in[24], tg[24];
            float lp[24];
            for (int t = 0; t < pos; t++) {
                in[t] = g[k].tok[t];
                tg[t] = -1;
            }
            gpt_forward(&m, in, tg, 1, pos, lp);
            const float *probs = m.a.logits + (size_t)(pos - 1) * V;
            int best = 0;
            for (int v = 1; v < V; v++)
                if (probs[v] > probs[best]) best = v;
            if (best != g[k].tok[pos]) ok = 0;
        }
        CHECK_MSG(ok, "greedy sample %d follows the full forward pass", k);
    }
    // top-k 3 at temperature 0.7: every new token is among the 3 most likely of the full
    // forward pass at its position; a near-zero temperature is greedy again
    sent_seq t3[2], cold[2];
    dc_rng_seed(&r1, 7);
    CHECK(sent_sample(&m, prompts, 2, 2, 12, 0.7f, 3, &r1, t3, NULL) == 0);
    dc_rng_seed(&r1, 8);
    CHECK(sent_sample(&m, prompts, 2, 2, 12, 1e-4f, 0, &r1, cold, NULL) == 0);
    for (int k = 0; k < 2; k++) {
        int ok = 1;
        for (int pos = t3[k].plen; pos < t3[k].len; pos++) {
            int in[24], tg[24];
            float lp[24];
            for (int t = 0; t < pos; t++) in[t] = t3[k].tok[t], tg[t] = -1;
            gpt_forward(&m, in, tg, 1, pos, lp);
            const float *probs = m.a.logits + (size_t)(pos - 1) * V;
            int above = 0; // tokens strictly more likely than the one drawn
            for (int v = 0; v < V; v++) above += probs[v] > probs[t3[k].tok[pos]];
            if (above >= 3) ok = 0;
        }
        CHECK_MSG(ok, "top-k 3 sample %d stays within the 3 most likely tokens", k);
        CHECK_MSG(cold[k].len == g[k].len &&
                      memcmp(cold[k].tok, g[k].tok, (size_t)g[k].len * sizeof(int)) == 0,
                  "temperature 1e-4 sample %d equals the greedy one", k);
        sent_seq_free(&t3[k]);
        sent_seq_free(&cold[k]);
    }
    for (int k = 0; k < 2; k++) {
        sent_seq_free(&a[k]);
        sent_seq_free(&b[k]);
        sent_seq_free(&d[k]);
        sent_seq_free(&g[k]);
    }
    gpt_free(&m);
}

/* gpt_forward_scored + gpt_backward give gpt_forward's log-probs and gradients (to fp32
 * rounding: the products sum the rows in other blocks), with prompt-like unscored runs
 * at the start of sequences, padding at the end, a fully scored and a fully unscored
 * batch. */
static void test_scored(void)
{
    gpt_model a, b;
    CHECK(gpt_init(&a, &TINY, 5) == 0);
    CHECK(gpt_clone(&b, &a) == 0);
    enum { B = 3, T = 8 };
    dc_rng rng;
    dc_rng_seed(&rng, 17);
    int in[B * T], tg[B * T];
    float w[B * T], lpa[B * T], lpb[B * T];
    for (int pass = 0; pass < 3; pass++) {
        for (int i = 0; i < B * T; i++) {
            int t = i % T, k = i / T;
            in[i] = (int)dc_rng_below(&rng, V);
            int scored = pass == 0 ? 1 : pass == 1 ? t >= 2 && t < T - k : 0;
            tg[i] = scored ? (int)dc_rng_below(&rng, V) : -1;
            w[i] = scored ? (float)dc_rng_normal(&rng) : 0.0f;
        }
        CHECK(gpt_forward(&a, in, tg, B, T, lpa) == 0);
        CHECK(gpt_forward_scored(&b, in, tg, B, T, lpb) == 0);
        double worst = 0;
        int zeros = 1;
        for (int i = 0; i < B * T; i++) {
            worst = fmax(worst, fabs(lpa[i] - lpb[i]));
            if (tg[i] < 0) zeros &= lpb[i] == 0.0f;
        }
        CHECK_MSG(worst < 1e-6, "pass %d: log-probs differ by %g", pass, worst);
        CHECK(zeros);
        CHECK(gpt_zero_grad(&a) == 0 && gpt_zero_grad(&b) == 0);
        CHECK(gpt_backward(&a, w) == 0 && gpt_backward(&b, w) == 0);
        double gmax = 0, gdiff = 0;
        for (size_t j = 0; j < a.nparams; j++) {
            gmax = fmax(gmax, fabs(a.grads_mem[j]));
            gdiff = fmax(gdiff, fabs(a.grads_mem[j] - b.grads_mem[j]));
        }
        CHECK_MSG(gdiff <= 1e-5 * fmax(gmax, 1e-30) && (pass == 2 || gmax > 0),
                  "pass %d: gradients differ by %g (largest %g)", pass, gdiff, gmax);
    }
    gpt_free(&a);
    gpt_free(&b);
}

/* gpt_pool_run: every piece exactly once, on 1 to 3 threads; a run from inside a piece
 * runs its pieces inline (and completely). */
typedef struct {
    int hits[40];
    int nested[40];
} pool_count;

static void count_inner(void *ctx, int i)
{
    int *n = ctx;
    __atomic_fetch_add(&n[i], 1, __ATOMIC_RELAXED);
}

static void count_piece(void *ctx, int i)
{
    pool_count *c = ctx;
    __atomic_fetch_add(&c->hits[i], 1, __ATOMIC_RELAXED);
    if (i % 7 == 0) gpt_pool_run(40, count_inner, c->nested);
}

static void test_pool(void)
{
    for (int th = 1; th <= 3; th++) {
        gpt_pool_set_threads(th);
        CHECK(gpt_pool_threads() == th);
        for (int rep = 0; rep < 20; rep++) {
            pool_count c;
            memset(&c, 0, sizeof c);
            gpt_pool_run(40, count_piece, &c);
            int ok = 1;
            for (int i = 0; i < 40; i++) ok &= c.hits[i] == 1 && c.nested[i] == 6; // i = 0, 7, .., 35
            CHECK_MSG(ok, "%d threads, run %d: a piece ran other than once", th, rep);
        }
    }
    gpt_pool_set_threads(1);
}

/* The GPT's threads change nothing: training steps (odd batch: shards of unequal size)
 * and sampling give the same bits on 1 thread and on 2; the sampler's log-probabilities of
 * its samples are the forward pass's (to fp32 rounding). */
static void test_threads(void)
{
    gpt_config c = {V, 24, 2, 16, 2};
    gpt_model a[2];
    enum { B = 5, T = 10, K = 70 };
    int in[B * T], tg[B * T];
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    for (int i = 0; i < B * T; i++) {
        in[i] = (int)dc_rng_below(&rng, V);
        tg[i] = i % T < 2 ? -1 : (int)dc_rng_below(&rng, V);
    }
    int p0[] = {GPT_EOT, 'h', 'i'}, p1[] = {GPT_EOT, 'a'};
    sent_seq prompts[K], out[2][K];
    for (int k = 0; k < K; k++) prompts[k] = k % 3 ? (sent_seq){3, 3, p0} : (sent_seq){2, 2, p1};
    double lp[2][K];
    for (int th = 1; th <= 2; th++) {
        gpt_pool_set_threads(th);
        CHECK(gpt_init(&a[th - 1], &c, 9) == 0);
        for (int step = 0; step < 3; step++)
            CHECK(isfinite(sent_lm_step(&a[th - 1], in, tg, B, T, 1e-2f)));
        dc_rng r;
        dc_rng_seed(&r, 77);
        CHECK(sent_sample(&a[th - 1], prompts, K, 16, 14, 1.0f, 0, &r, out[th - 1], lp[th - 1]) == 0);
    }
    gpt_pool_set_threads(1);
    CHECK_MSG(memcmp(a[0].params_mem, a[1].params_mem, a[0].nparams * sizeof(float)) == 0,
              "training on 2 threads gave other parameters than on 1");
    int same = 1;
    for (int k = 0; k < K; k++)
        same &= out[0][k].len == out[1][k].len && lp[0][k] == lp[1][k] &&
                memcmp(out[0][k].tok, out[1][k].tok, (size_t)out[0][k].len * sizeof(int)) == 0;
    CHECK_MSG(same, "sampling on 2 threads gave other samples than on 1");
    double sum[K], worst = 0;
    CHECK(sent_seq_logps(&a[0], out[0], K, 32, sum, NULL) == 0);
    for (int k = 0; k < K; k++) worst = fmax(worst, fabs(sum[k] - lp[0][k]));
    CHECK_MSG(worst < 1e-4, "sampler log-probs differ from the forward pass by %g", worst);
    for (int th = 0; th < 2; th++) {
        for (int k = 0; k < K; k++) sent_seq_free(&out[th][k]);
        gpt_free(&a[th]);
    }
}

int main(void)
{
    test_pool();
    test_threads();
    test_scored();
    test_gradients();
    test_logps();
    test_sampling();
    return TEST_REPORT();
}
