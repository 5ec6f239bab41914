/* test_sentiment_token.c — the task `sentiment-token` at the CI configuration of
 * test_sentiment_task.c (its cached stages are shared): the per-token reference log-probs
 * sum to the cached summed ones, the similarities are min-max normalised within each pair,
 * examples/objectives/sentiment-token/dpo_token.c trains to the same reward and KL as
 * sentiment's dpo.c on the same seed (both through the sandbox with their checked
 * objective_grad), and a token weighting that ignores the chosen response's late tokens
 * trains to something else (the per-token gradients reach the model). */
#define _DEFAULT_SOURCE
#include "tests/test.h"

#include "common/util.h"
#include "inner_loop/sentiment/sent_internal.h"
#include "inner_loop/sentiment/sentiment.h"
#include "sandbox/objective_adapter.h"
#include "sandbox/sandbox.h"

#include <stdlib.h>
#include <unistd.h>

static const char *CI[][2] = {
    {"vocab", "1024"},      {"layers", "1"},           {"width", "48"},        {"heads", "2"},
    {"context", "40"},      {"pretrain_steps", "100"}, {"sft_steps", "400"},   {"lm_batch", "16"},
    {"sft_lr", "0.004"},    {"pretrain_lr", "0.004"},  {"prompts", "256"},     {"samples", "8"},
    {"eval_prompts", "64"}, {"eval_samples", "4"},     {"response_len", "16"}, {"steps", "40"},
    {"batch", "16"},        {"lr", "0.002"},           {"beta", "0.5"},        {"threads", "1"},
    {"curve_points", "2"},  {"gap", "0.15"},
};

static dc_task *ci_task(const dc_task_ops *ops)
{
    dc_task *t = ops->create();
    char err[512];
    for (size_t i = 0; i < sizeof CI / sizeof CI[0]; i++) {
        int rc = ops->set_option(t, CI[i][0], CI[i][1], err, sizeof err);
        CHECK_MSG(rc == 0, "%s=%s: %s", CI[i][0], CI[i][1], err);
    }
    CHECK_MSG(ops->prepare(t, NULL, err, sizeof err) == 0, "%s", err);
    return t;
}

static double metric(const dc_task_result *r, const char *name)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(r->metrics, name);
    return cJSON_IsNumber(m) ? m->valuedouble : NAN;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = dc_calloc(65536, 1);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

/* Trains task t (of ops) with the example file on seed 1; the result in out. */
static void train_with(const dc_task_ops *ops, dc_task *t, const char *file, dc_task_result *out)
{
    char *src = read_file(file);
    CHECK_MSG(src != NULL, "%s", file);
    dc_task_result_init(out);
    sbx_worker *w = NULL;
    char msg[512] = "";
    sbx_limits lim;
    sbx_limits_default(&lim);
    lim.probe = ops->probe;
    dc_status st =
        src ? sbx_open(ops->kind, src, strlen(src), &lim, &w, msg, sizeof msg) : DC_ERROR;
    if (st == DC_OK) st = sbx_prescreen(w, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "%s: %s", file, msg);
    if (st == DC_OK) {
        CHECK(sbx_uses_grad_fn(w) || !strstr(src, "objective_grad"));
        dc_objective obj;
        sbx_objective(w, &obj);
        ops->run(t, &obj, 1, NULL, out);
        CHECK_MSG(out->status == DC_OK, "%s: %s", file, out->message);
    }
    sbx_close(w);
    free(src);
}

static void test_normalise(void)
{
    double c[3] = {0.2, 0.6, 1.0}, r[2] = {0.4, 0.2};
    sent_token_normalise(c, 3, r, 2);
    CHECK_NEAR(c[0], 0.0, 1e-12);
    CHECK_NEAR(c[1], 0.5, 1e-12);
    CHECK_NEAR(c[2], 1.0, 1e-12);
    CHECK_NEAR(r[0], 0.25, 1e-12);
    double c1[1] = {0.99}, r1[1] = {0.99}; // one token each: the raw cosine stays
    sent_token_normalise(c1, 1, r1, 1);
    CHECK_NEAR(c1[0], 0.99, 1e-12);
}

int main(void)
{
    test_normalise();
    const dc_task_ops *tok_ops = dc_task_find("sentiment-token"), *seq_ops = &dc_task_sentiment;
    CHECK(tok_ops == &dc_task_sentiment_token && tok_ops->kind == SBX_TOKEN_PREF);
    if (!tok_ops) return TEST_REPORT();
    dc_task *tt = ci_task(tok_ops), *ts = ci_task(seq_ops);

    // per-token data: sums equal the cached sums; similarities normalised per pair
    const sent_pairs *P = &tt->train_pairs;
    const sent_token_data *d = &tt->tok;
    CHECK(P->n >= 2 && d->tc > P->n && d->tr > P->n);
    int spans = 1;
    for (int i = 0; i < P->n; i++) {
        int nc = sent_seq_resp_len(&P->chosen[i]), nr = sent_seq_resp_len(&P->rejected[i]);
        double sc = 0, sr = 0, lo = 2, hi = -1;
        for (int q = 0; q < nc; q++) {
            sc += d->ref_c[d->off_c[i] + q];
            lo = fmin(lo, d->sim_c[d->off_c[i] + q]), hi = fmax(hi, d->sim_c[d->off_c[i] + q]);
        }
        for (int q = 0; q < nr; q++) {
            sr += d->ref_r[d->off_r[i] + q];
            lo = fmin(lo, d->sim_r[d->off_r[i] + q]), hi = fmax(hi, d->sim_r[d->off_r[i] + q]);
        }
        CHECK_NEAR(sc, P->ref_chosen[i], 1e-9);
        CHECK_NEAR(sr, P->ref_rejected[i], 1e-9);
        if (nc + nr > 2)
            spans &= lo == 0.0 && hi == 1.0;
        else
            spans &= lo >= 0.0 && hi <= 1.0;
    }
    CHECK_MSG(spans, "every pair's similarities span [0, 1]");

    // dpo_token.c trains as dpo.c does
    dc_task_result rt, rs, rw;
    double t0 = dc_now();
    train_with(tok_ops, tt, DC_SOURCE_DIR "/examples/objectives/sentiment-token/dpo_token.c", &rt);
    double secs_tok = dc_now() - t0;
    t0 = dc_now();
    train_with(seq_ops, ts, DC_SOURCE_DIR "/examples/objectives/sentiment/dpo.c", &rs);
    double secs_seq = dc_now() - t0;
    printf("reward: token %.6f sequence %.6f; kl: token %.6f sequence %.6f (%.1f s vs %.1f s)\n",
           metric(&rt, "beta_0.5/reward"), metric(&rs, "beta_0.5/reward"),
           metric(&rt, "beta_0.5/kl"), metric(&rs, "beta_0.5/kl"), secs_tok, secs_seq);
    CHECK_NEAR(metric(&rt, "beta_0.5/reward"), metric(&rs, "beta_0.5/reward"), 1e-6);
    CHECK_NEAR(metric(&rt, "beta_0.5/kl"), metric(&rs, "beta_0.5/kl"), 1e-6);
    CHECK_NEAR(metric(&rt, "beta_0.5/test_reward"), metric(&rs, "beta_0.5/test_reward"), 1e-6);

    // a weighting by position (only each chosen response's first token counts) trains to
    // another policy: the per-token gradients reach the model
    const char *first_only =
        "#include <math.h>\n"
        "void objective(const token_pref_batch *b, double *loss) {\n"
        "  for (int i = 0; i < b->n; i++) {\n"
        "    int j = b->chosen_off[i];\n"
        "    double m = b->chosen_logps[j] - b->ref_chosen_logps[j];\n"
        "    for (int t = 0; t < b->rejected_len[i]; t++) {\n"
        "      int k = b->rejected_off[i] + t; m -= b->rejected_logps[k] - "
        "b->ref_rejected_logps[k]; }\n"
        "    double x = b->beta * m; loss[i] = x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x)); } }\n";
    char path[] = "/tmp/dc_token_first_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f) {
        fputs(first_only, f);
        fclose(f);
        train_with(tok_ops, tt, path, &rw);
        CHECK_MSG(fabs(metric(&rw, "beta_0.5/kl") - metric(&rt, "beta_0.5/kl")) > 1e-4,
                  "first-token weighting kl %.6f vs dpo_token %.6f", metric(&rw, "beta_0.5/kl"),
                  metric(&rt, "beta_0.5/kl"));
        dc_task_result_free(&rw);
        unlink(path);
    }
    dc_task_result_free(&rt);
    dc_task_result_free(&rs);
    tok_ops->destroy(tt);
    seq_ops->destroy(ts);
    return TEST_REPORT();
}
