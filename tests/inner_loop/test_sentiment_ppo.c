/* test_sentiment_ppo.c — the PPO baseline of the sentiment task: GAE against a worked
 * example, the clipped policy and value losses' gradients against central differences, the
 * per-token KL estimate against the exact value of two small GPTs over a 4-token
 * vocabulary (every response enumerated), and PPO at the CI configuration raising the
 * held-out reward over π_ref at a finite KL, computed once per seed. */
#define _DEFAULT_SOURCE
#include "tests/test.h"

#include "common/rng.h"
#include "common/util.h"
#include "inner_loop/sentiment/ppo.h"
#include "inner_loop/sentiment/sent_internal.h"
#include "inner_loop/sentiment/sentiment.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

/* Worked by hand: rewards (0, 0, 1) (the score at the last token), values (0.5, 0.6, 0.7).
 *   γ = 1, λ = 0.95: δ = (0.1, 0.1, 0.3); A_2 = 0.3, A_1 = 0.1 + 0.95·0.3 = 0.385,
 *                    A_0 = 0.1 + 0.95·0.385 = 0.46575; R = A + V = (0.96575, 0.985, 1.0)
 *   γ = 0.9, λ = 0.95: δ_2 = 1 − 0.7 = 0.3, δ_1 = 0.9·0.7 − 0.6 = 0.03,
 *                    δ_0 = 0.9·0.6 − 0.5 = 0.04; A_2 = 0.3, A_1 = 0.03 + 0.855·0.3 = 0.2865,
 *                    A_0 = 0.04 + 0.855·0.2865 = 0.2849575 */
static void test_gae(void)
{
    const double r[3] = {0, 0, 1}, v[3] = {0.5, 0.6, 0.7};
    double adv[3], ret[3];
    ppo_gae(r, v, 3, 1.0, 0.95, adv, ret);
    CHECK_NEAR(adv[2], 0.3, 1e-12);
    CHECK_NEAR(adv[1], 0.385, 1e-12);
    CHECK_NEAR(adv[0], 0.46575, 1e-12);
    CHECK_NEAR(ret[0], 0.96575, 1e-12);
    CHECK_NEAR(ret[1], 0.985, 1e-12);
    CHECK_NEAR(ret[2], 1.0, 1e-12);
    ppo_gae(r, v, 3, 0.9, 0.95, adv, ret);
    CHECK_NEAR(adv[2], 0.3, 1e-12);
    CHECK_NEAR(adv[1], 0.2865, 1e-12);
    CHECK_NEAR(adv[0], 0.2849575, 1e-12);
    // λ = 1, γ = 1: the advantage is the return-to-go minus the value (Monte Carlo)
    ppo_gae(r, v, 3, 1.0, 1.0, adv, ret);
    for (int t = 0; t < 3; t++)
        CHECK_NEAR(adv[t], 1.0 - v[t], 1e-12);
    // λ = 0: one-step TD errors
    ppo_gae(r, v, 3, 1.0, 0.0, adv, ret);
    CHECK_NEAR(adv[0], 0.1, 1e-12);
    CHECK_NEAR(adv[1], 0.1, 1e-12);
    CHECK_NEAR(adv[2], 0.3, 1e-12);
    // a one-token response: A = r − V
    ppo_gae(r + 2, v, 1, 1.0, 0.95, adv, ret);
    CHECK_NEAR(adv[0], 0.5, 1e-12);
    CHECK_NEAR(ret[0], 1.0, 1e-12);

    double x[4] = {1, 2, 3, 6};
    ppo_whiten(x, 4); // mean 3, population sd sqrt(3.5)
    CHECK_NEAR(x[0], -2 / sqrt(3.5 + 1e-8), 1e-12);
    CHECK_NEAR(x[3], 3 / sqrt(3.5 + 1e-8), 1e-12);
}

/* Central differences of f over each coordinate of x (n values) against the analytic g. */
static double max_fd_error(double (*f)(const double *x, void *ctx), double *x, int n,
                           const double *g, void *ctx)
{
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const double h = 1e-6, x0 = x[i];
        x[i] = x0 + h;
        double fp = f(x, ctx);
        x[i] = x0 - h;
        double fm = f(x, ctx);
        x[i] = x0;
        worst = fmax(worst, fabs((fp - fm) / (2 * h) - g[i]));
    }
    return worst;
}

typedef struct {
    int n;
    const double *other, *adv_or_ret, *old;
    double eps;
} loss_ctx;

static double pg_of(const double *lp, void *ctx)
{
    const loss_ctx *c = ctx;
    return ppo_policy_loss(c->n, lp, c->old, c->adv_or_ret, c->eps, NULL, NULL);
}

static double vf_of(const double *v, void *ctx)
{
    const loss_ctx *c = ctx;
    return ppo_value_loss(c->n, v, c->old, c->adv_or_ret, c->eps, NULL);
}

static void test_clipped_gradients(void)
{
    // hand cases at ε = 0.2: A > 0 with the ratio above 1 + ε is clipped (no gradient, loss
    // −A(1 + ε)); A > 0 below 1 − ε is not (the pessimistic term is the unclipped one);
    // A < 0 above 1 + ε is not; A < 0 below 1 − ε is clipped
    const double lp_old[4] = {0, 0, 0, 0};
    const double lp[4] = {log(1.5), log(0.5), log(1.5), log(0.5)};
    const double adv[4] = {1, 1, -1, -1};
    double d[4], clipfrac;
    double L = ppo_policy_loss(4, lp, lp_old, adv, 0.2, d, &clipfrac);
    CHECK_NEAR(L, (-1.2 - 0.5 + 1.5 + 0.8) / 4, 1e-12);
    CHECK_NEAR(clipfrac, 0.5, 1e-12);
    CHECK(d[0] == 0 && d[3] == 0);
    CHECK_NEAR(d[1], -0.5 / 4, 1e-12); // −A·ratio / n
    CHECK_NEAR(d[2], 1.5 / 4, 1e-12);

    // random points away from the kinks (|ratio − (1 ± ε)| > 1e-3): central differences
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    enum { N = 40 };
    double x[N], old[N], a[N], g[N];
    int clipped = 0;
    for (int i = 0; i < N; i++) {
        old[i] = -2 + dc_rng_uniform(&rng);
        double ratio;
        do {
            ratio = 0.5 + dc_rng_uniform(&rng); // 0.5 .. 1.5: both sides of the clip range
        } while (fabs(ratio - 0.8) < 1e-3 || fabs(ratio - 1.2) < 1e-3);
        x[i] = old[i] + log(ratio);
        a[i] = dc_rng_normal(&rng);
    }
    ppo_policy_loss(N, x, old, a, 0.2, g, &clipfrac);
    for (int i = 0; i < N; i++)
        clipped += g[i] == 0;
    CHECK(clipped > 5 && clipped < N - 5); // both regimes are exercised
    CHECK_NEAR(clipfrac, (double)clipped / N, 1e-12);
    loss_ctx c = {N, NULL, a, old, 0.2};
    double e = max_fd_error(pg_of, x, N, g, &c);
    CHECK_MSG(e < 1e-8, "policy loss gradient vs central differences: %g", e);

    // the value loss: inside the clip range the plain squared error, outside the clipped
    // one whenever it is the larger
    double v[N], vold[N], ret[N], gv[N];
    int zero = 0;
    for (int i = 0; i < N; i++) {
        vold[i] = dc_rng_uniform(&rng);
        double dlt;
        do {
            dlt = -0.5 + dc_rng_uniform(&rng);
        } while (fabs(fabs(dlt) - 0.2) < 1e-3);
        v[i] = vold[i] + dlt;
        ret[i] = dc_rng_uniform(&rng) * 1.5 - 0.25;
        if (fabs(fabs(v[i] - ret[i]) - fabs(vold[i] + fmax(-0.2, fmin(0.2, dlt)) - ret[i])) < 1e-3)
            ret[i] += 0.01; // away from the tie of the two terms
    }
    ppo_value_loss(N, v, vold, ret, 0.2, gv);
    for (int i = 0; i < N; i++)
        zero += gv[i] == 0;
    CHECK(zero > 2 && zero < N - 2);
    loss_ctx cv = {N, NULL, ret, vold, 0.2};
    e = max_fd_error(vf_of, v, N, gv, &cv);
    CHECK_MSG(e < 1e-8, "value loss gradient vs central differences: %g", e);
    double one_v = 0.1, one_old = 0.0, one_ret = 1.0, one_g;
    CHECK_NEAR(ppo_value_loss(1, &one_v, &one_old, &one_ret, 0.2, &one_g), 0.5 * 0.81, 1e-12);
    CHECK_NEAR(one_g, -0.9, 1e-12);
}

/* ---- the KL estimate against the exact value ---- */

enum { KV = 4, KMAX = 3 }; /* vocabulary (end-of-text + 3 words), longest response */

/* Next-token distribution of m after tok[0..len). */
static void next_dist(gpt_model *m, const int *tok, int len, double *p)
{
    int in[8], tg[8];
    float lp[8];
    for (int i = 0; i < len; i++)
        in[i] = tok[i], tg[i] = -1;
    CHECK(gpt_forward(m, in, tg, 1, len, lp) == 0);
    for (int v = 0; v < KV; v++)
        p[v] = m->a.logits[(size_t)(len - 1) * KV + v];
}

/* Σ over prefixes reachable under π of P_π(prefix) · KL(π(·|prefix) ‖ π_ref(·|prefix)) and
 * of P_π(prefix) (each such prefix draws one response token). */
static void exact_kl(gpt_model *pi, gpt_model *ref, int *tok, int len, double prob, double *kl_sum,
                     double *tokens)
{
    double p[KV], q[KV];
    next_dist(pi, tok, len, p);
    next_dist(ref, tok, len, q);
    double kl = 0;
    for (int v = 0; v < KV; v++)
        kl += p[v] * (log(p[v]) - log(q[v]));
    *kl_sum += prob * kl;
    *tokens += prob;
    if (len == KMAX) return;       // the last response token: every choice ends the response
    for (int v = 1; v < KV; v++) { // end-of-text (0) ends it
        tok[len] = v;
        exact_kl(pi, ref, tok, len + 1, prob * p[v], kl_sum, tokens);
    }
}

static void test_kl_estimate(void)
{
    const gpt_config cfg = {.vocab = KV, .ctx = 8, .layers = 1, .width = 8, .heads = 2};
    gpt_model pi, ref;
    CHECK(gpt_init(&pi, &cfg, 11) == 0 && gpt_init(&ref, &cfg, 12) == 0);
    // embeddings large enough that the two next-token distributions differ clearly
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    gpt_model *ms[2] = {&pi, &ref};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < ms[k]->param_sizes[0]; i++)
            ms[k]->p.wte[i] = (float)(0.6 * dc_rng_normal(&rng));
        for (size_t i = 0; i < ms[k]->param_sizes[1]; i++)
            ms[k]->p.wpe[i] = (float)(0.6 * dc_rng_normal(&rng));
    }
    int tok[8] = {GPT_EOT};
    double kl_sum = 0, tokens = 0;
    exact_kl(&pi, &ref, tok, 1, 1.0, &kl_sum, &tokens);
    double exact = kl_sum / tokens;
    CHECK(tokens > 1 && tokens <= KMAX);

    enum { K = 20000 };
    sent_seq prompt = {1, 1, tok}, *rep = dc_malloc(K * sizeof *rep),
             *gen = dc_calloc(K, sizeof *gen);
    for (int k = 0; k < K; k++)
        rep[k] = prompt;
    CHECK(sent_sample(&pi, rep, K, 64, KMAX, 1.0f, 0, &rng, gen, NULL) == 0);
    double est;
    CHECK(sent_seq_kl(&pi, &ref, gen, K, &est) == 0);
    // its standard error (delta method for a ratio of sums), from per-response log-ratios
    double *lp = dc_malloc(K * sizeof *lp), *lr = dc_malloc(K * sizeof *lr), len = 0, ss = 0;
    CHECK(sent_seq_logps(&pi, gen, K, 64, lp, NULL) == 0 &&
          sent_seq_logps(&ref, gen, K, 64, lr, NULL) == 0);
    for (int k = 0; k < K; k++)
        len += sent_seq_resp_len(&gen[k]);
    for (int k = 0; k < K; k++) {
        double r = (lp[k] - lr[k]) - est * sent_seq_resp_len(&gen[k]);
        ss += r * r;
    }
    double se = sqrt(ss) / len;
    printf(
        "per-token KL: exact %.5f, estimate %.5f (se %.5f) from %d responses, E[len] exact %.4f, "
        "sampled %.4f\n",
        exact, est, se, K, tokens, len / K);
    CHECK_MSG(exact > 0.05, "the two models must differ for the test to mean something: %g", exact);
    CHECK(se < exact / 10);
    CHECK_MSG(fabs(est - exact) <= 4 * se, "estimate %.5f vs exact %.5f (se %.5f)", est, exact, se);
    CHECK_NEAR(len / K, tokens, 0.03); // the sampler draws the lengths the enumeration weighs
    for (int k = 0; k < K; k++)
        sent_seq_free(&gen[k]);
    free(gen);
    free(rep);
    free(lp);
    free(lr);
    gpt_free(&pi);
    gpt_free(&ref);
}

/* ---- PPO at the CI configuration ---- */

/* As tests/inner_loop/test_sentiment_task.c's CI configuration, with PPO on. */
static const char *CI[][2] = {
    {"vocab", "1024"},      {"layers", "1"},           {"width", "48"},        {"heads", "2"},
    {"context", "40"},      {"pretrain_steps", "100"}, {"sft_steps", "400"},   {"lm_batch", "16"},
    {"sft_lr", "0.004"},    {"pretrain_lr", "0.004"},  {"prompts", "256"},     {"samples", "8"},
    {"eval_prompts", "64"}, {"eval_samples", "4"},     {"response_len", "16"}, {"steps", "10"},
    {"batch", "16"},        {"lr", "0.002"},           {"beta", "0.5"},        {"threads", "1"},
    {"curve_points", "3"},  {"gap", "0.15"},           {"ppo", "24"},          {"ppo_batch", "32"},
    {"ppo_lr", "0.0005"},
};

/* Held-out reward gain (mean of validation and test) that PPO must reach over π_ref: over
 * seeds 1–8 at this configuration it was +0.133 to +0.181 (mean 0.155, sd 0.018) at
 * per-token KL 0.24–0.42 (bench/RESULTS-value-drift.md); the margin is half the worst
 * seed's gain, about 4.5 sd below the mean. */
#define PPO_MARGIN 0.07

static dc_status native_dpo(void *ctx, const pref_batch *b, double *loss, double *dc, double *dr,
                            char *msg, size_t cap)
{
    (void)ctx, (void)msg, (void)cap;
    for (int i = 0; i < b->n; i++) {
        double d = b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -
                              (b->rejected_logps[i] - b->ref_rejected_logps[i]));
        loss[i] = d > 0 ? log1p(exp(-d)) : -d + log1p(exp(d));
        double g = -1.0 / (1.0 + exp(d));
        if (dc) dc[i] = g * b->beta;
        if (dr) dr[i] = -g * b->beta;
    }
    return DC_OK;
}

static double metric(const dc_task_result *r, const char *name)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->metrics, name);
    return cJSON_IsNumber(m) ? m->valuedouble : NAN;
}

static void test_ppo_ci(void)
{
    const dc_task_ops *ops = &dc_task_sentiment;
    dc_task *t = ops->create();
    char err[512];
    for (size_t i = 0; i < sizeof CI / sizeof CI[0]; i++) {
        int rc = ops->set_option(t, CI[i][0], CI[i][1], err, sizeof err);
        CHECK_MSG(rc == 0, "%s=%s: %s", CI[i][0], CI[i][1], err);
    }
    CHECK(ops->set_option(t, "ppo_minibatches", "64", err, sizeof err) == 0);
    CHECK(ops->prepare(t, NULL, err, sizeof err) != 0 && strstr(err, "ppo_minibatches"));
    CHECK(ops->set_option(t, "ppo_minibatches", "4", err, sizeof err) == 0);
    double t0 = dc_now();
    CHECK_MSG(ops->prepare(t, NULL, err, sizeof err) == 0, "%s", err);
    printf("prepare: %.1f s\n", dc_now() - t0);
    dc_objective dpo = {.ctx = NULL, .cls = NULL, .pref = native_dpo};
    dc_task_result r, r2, r3;
    dc_task_result_init(&r);
    dc_task_result_init(&r2);
    dc_task_result_init(&r3);
    t0 = dc_now();
    ops->run(t, &dpo, 1, NULL, &r);
    double first = dc_now() - t0;
    CHECK_MSG(r.status == DC_OK, "%s", r.message);
    double ref = 0.5 * (metric(&r, "ref_reward") + metric(&r, "ref_test_reward"));
    double ppo = 0.5 * (metric(&r, "ppo/reward") + metric(&r, "ppo/test_reward"));
    double kl = metric(&r, "ppo/kl");
    printf("PPO (%.1f s with the DPO run): held-out reward %.4f vs π_ref %.4f (%+.4f), KL %.4f, "
           "test KL %.4f, length %.1f, pref_accuracy %.3f\n",
           first, ppo, ref, ppo - ref, kl, metric(&r, "ppo/test_kl"), metric(&r, "ppo/length"),
           metric(&r, "ppo/pref_accuracy"));
    CHECK_MSG(ppo >= ref + PPO_MARGIN, "PPO raises the held-out reward: %.4f vs π_ref %.4f", ppo,
              ref);
    CHECK_MSG(kl > 0 && kl < 1.0, "PPO's per-token KL is finite and positive: %g", kl);
    CHECK(isfinite(metric(&r, "ppo/test_kl")));
    CHECK_NEAR(metric(&r, "ppo/kl_coef"), 0.05, 1e-15);
    // the drift curves through PPO, with their magnitude and time
    const char *curves[] = {"ppo/po/reward", "ppo/po/kl", "ppo/po/length", "ppo/po/pref_accuracy"};
    for (int i = 0; i < 4; i++) {
        const dc_curve *c = dc_curves_find(&r.curves, curves[i]);
        CHECK_MSG(c && c->len == 3 && c->step[0] == 0 && c->step[2] == 24, "curve %s", curves[i]);
    }
    const dc_curve *pc = dc_curves_find(&r.curves, "ppo/po/reward");
    if (pc && pc->len == 3)
        CHECK_NEAR(metric(&r, "ppo/po_reward_drift"), pc->value[2] - pc->value[0], 1e-12);
    const dc_curve *kc = dc_curves_find(&r.curves, "ppo/po/kl");
    if (kc && kc->len == 3) CHECK_NEAR(kc->value[0], 0.0, 1e-6); // starts at π_ref
    const dc_curve *ac = dc_curves_find(&r.curves, "ppo/po/pref_accuracy");
    if (ac && ac->len == 3) CHECK_NEAR(ac->value[0], 0.5, 1e-12);
    CHECK(isfinite(metric(&r, "ppo/po_length_drift")) &&
          isfinite(metric(&r, "ppo/po_length_drift_time")));
    const dc_curve *sc = dc_curves_find(&r.curves, "ppo/rollout_score");
    CHECK(sc && sc->len == 24);
    CHECK(
        isfinite(metric(&r, "beta_0.5/po_length_drift"))); // and the trained policy's length drift

    // once per seed: the next candidate reuses seed 1's PPO (quickly), seed 2 trains its own
    t0 = dc_now();
    ops->run(t, &dpo, 1, NULL, &r2);
    double again = dc_now() - t0;
    ops->run(t, &dpo, 2, NULL, &r3);
    CHECK(r2.status == DC_OK && r3.status == DC_OK);
    CHECK(metric(&r2, "ppo/reward") == metric(&r, "ppo/reward"));
    CHECK(metric(&r2, "ppo/po_reward_drift") == metric(&r, "ppo/po_reward_drift"));
    CHECK(dc_curves_find(&r2.curves, "ppo/po/reward") != NULL);
    CHECK(metric(&r3, "ppo/reward") != metric(&r, "ppo/reward"));
    printf("second candidate, seed 1: %.1f s (PPO memoised); seed 2 PPO reward %.4f\n", again,
           metric(&r3, "ppo/reward"));
    CHECK(again < first);
    dc_task_result_free(&r);
    dc_task_result_free(&r2);
    dc_task_result_free(&r3);
    ops->destroy(t);
}

int main(void)
{
    test_gae();
    test_clipped_gradients();
    test_kl_estimate();

    char tmpl[] = "/tmp/dc_sentiment_ppo_XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (!dir) return TEST_REPORT();
    setenv("DISCOVER_CACHE", dir, 1);
    test_ppo_ci();
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        remove(p);
    }
    if (d) closedir(d);
    rmdir(dir);
    return TEST_REPORT();
}
