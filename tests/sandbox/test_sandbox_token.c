/* test_sandbox_token.c — the token-level preference interface (SBX_TOKEN_PREF).
 *
 * Token DPO (the sum of per-token log-ratios in a logistic loss) and a similarity-weighted
 * variant against their exact gradients on a ragged batch (responses of 1 token beside
 * longer ones, chosen and rejected sides of different total length); the row-separable
 * decision both ways; a checked objective_grad used, a wrong one ignored; the pre-screen's
 * ragged, tie and extreme-similarity probes catching candidates that fail only there; a
 * write into an input; the host refusing malformed ranges; the fingerprint. */
#include "tests/test.h"

#include "sandbox/sandbox.h"

#include <math.h>
#include <string.h>

#define BETA 0.1

/* Per-token weights as the candidates below use them: 1 (DPO) or 1 - sim (WEIGHTED). */
#define TOKEN_DPO_SRC(WEIGHT_C, WEIGHT_R, EXTRA)                                                   \
    "#include <math.h>\n"                                                                          \
    "void objective(const token_pref_batch *b, double *loss) {\n"                                  \
    "  for (int i = 0; i < b->n; i++) {\n"                                                         \
    "    double m = 0;\n"                                                                          \
    "    for (int t = 0; t < b->chosen_len[i]; t++) {\n"                                           \
    "      int j = b->chosen_off[i] + t;\n"                                                        \
    "      m += (" WEIGHT_C ") * (b->chosen_logps[j] - b->ref_chosen_logps[j]); }\n"               \
    "    for (int t = 0; t < b->rejected_len[i]; t++) {\n"                                         \
    "      int j = b->rejected_off[i] + t;\n"                                                      \
    "      m -= (" WEIGHT_R ") * (b->rejected_logps[j] - b->ref_rejected_logps[j]); }\n"           \
    "    " EXTRA "\n"                                                                              \
    "    loss[i] = log1p(exp(-b->beta * m)); } }\n"

static const char *dpo_src = TOKEN_DPO_SRC("1.0", "1.0", "");
static const char *weighted_src =
    TOKEN_DPO_SRC("1.0 - b->chosen_sim[j]", "1.0 - b->rejected_sim[j]", "");

/* A ragged batch: 4 pairs, chosen lengths 1, 5, 3, 2 (11 tokens), rejected 4, 1, 6, 1
 * (12 tokens); the chosen side is stored in reverse pair order to show offsets are used. */
enum { NP = 4, TC = 11, TR = 12 };
static const int c_len[NP] = {1, 5, 3, 2}, r_len[NP] = {4, 1, 6, 1};
static int c_off[NP], r_off[NP];
static double c_lp[TC], r_lp[TR], c_ref[TC], r_ref[TR], c_sim[TC], r_sim[TR];

static token_pref_batch ragged(void)
{
    int oc = TC, orr = 0;
    for (int i = 0; i < NP; i++) {
        oc -= c_len[i];
        c_off[i] = oc;
        r_off[i] = orr;
        orr += r_len[i];
    }
    for (int j = 0; j < TC; j++) {
        c_lp[j] = -0.5 - 0.3 * sin(1.7 * j);
        c_ref[j] = c_lp[j] + 0.2 * cos(0.9 * j);
        c_sim[j] = 0.5 + 0.5 * sin(2.3 * j);
    }
    for (int j = 0; j < TR; j++) {
        r_lp[j] = -0.8 - 0.4 * cos(1.1 * j);
        r_ref[j] = r_lp[j] - 0.15 * sin(0.7 * j);
        r_sim[j] = 0.5 + 0.5 * cos(1.9 * j);
    }
    token_pref_batch b = {NP,   BETA, c_off, r_off, c_len, r_len,
                          c_lp, r_lp, c_ref, r_ref, c_sim, r_sim};
    return b;
}

/* Exact losses and gradients of token DPO (weighted: weights 1 - sim). */
static void exact(const token_pref_batch *b, int weighted, double *loss, double *gc, double *gr)
{
    for (int i = 0; i < b->n; i++) {
        double m = 0;
        for (int t = 0; t < b->chosen_len[i]; t++) {
            int j = b->chosen_off[i] + t;
            m += (weighted ? 1 - b->chosen_sim[j] : 1) *
                 (b->chosen_logps[j] - b->ref_chosen_logps[j]);
        }
        for (int t = 0; t < b->rejected_len[i]; t++) {
            int j = b->rejected_off[i] + t;
            m -= (weighted ? 1 - b->rejected_sim[j] : 1) *
                 (b->rejected_logps[j] - b->ref_rejected_logps[j]);
        }
        loss[i] = log1p(exp(-b->beta * m));
        double s = -b->beta / (1 + exp(b->beta * m)); /* d loss / d m */
        for (int t = 0; t < b->chosen_len[i]; t++) {
            int j = b->chosen_off[i] + t;
            gc[j] = s * (weighted ? 1 - b->chosen_sim[j] : 1);
        }
        for (int t = 0; t < b->rejected_len[i]; t++) {
            int j = b->rejected_off[i] + t;
            gr[j] = -s * (weighted ? 1 - b->rejected_sim[j] : 1);
        }
    }
}

static sbx_worker *screened(const char *src, dc_status want, const char *want_msg)
{
    sbx_worker *w = NULL;
    char msg[1024] = "";
    dc_status st = sbx_open(SBX_TOKEN_PREF, src, strlen(src), NULL, &w, msg, sizeof msg);
    if (st == DC_OK) st = sbx_prescreen(w, msg, sizeof msg);
    CHECK_MSG(st == want, "status %s, want %s: %s", dc_status_name(st), dc_status_name(want), msg);
    if (want_msg)
        CHECK_MSG(strstr(msg, want_msg) != NULL, "message '%s' lacks '%s'", msg, want_msg);
    if (st != DC_OK || want != DC_OK) {
        sbx_close(w);
        return NULL;
    }
    return w;
}

/* Largest relative gradient error against the exact values, over both sides. */
static double grad_error(const double *gc, const double *gr, const double *ec, const double *er)
{
    double worst = 0;
    for (int j = 0; j < TC; j++)
        worst = fmax(worst, fabs(gc[j] - ec[j]) / fmax(1e-3, fabs(ec[j])));
    for (int j = 0; j < TR; j++)
        worst = fmax(worst, fabs(gr[j] - er[j]) / fmax(1e-3, fabs(er[j])));
    return worst;
}

static void test_exact(const char *src, int weighted, int want_separable)
{
    sbx_worker *w = screened(src, DC_OK, NULL);
    if (!w) return;
    CHECK(sbx_is_separable(w) == want_separable);
    token_pref_batch b = ragged();
    double loss[NP], gc[TC], gr[TR], el[NP], ec[TC], er[TR];
    char msg[512];
    dc_status st = sbx_token_eval(w, &b, TC, TR, loss, gc, gr, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "%s", msg);
    exact(&b, weighted, el, ec, er);
    for (int i = 0; i < NP; i++)
        CHECK_NEAR(loss[i], el[i], 1e-12);
    double err = grad_error(gc, gr, ec, er);
    CHECK_MSG(err < 1e-6, "relative gradient error %g", err);
    sbx_close(w);
}

/* The same loss plus a batch statistic (the mean margin enters every pair): not separable,
 * gradients through the exact path still right. */
static void test_coupled(void)
{
    const char *src =
        "#include <math.h>\n"
        "void objective(const token_pref_batch *b, double *loss) {\n"
        "  double mean = 0;\n"
        "  for (int i = 0; i < b->n; i++) mean += b->chosen_logps[b->chosen_off[i]];\n"
        "  mean /= b->n;\n"
        "  for (int i = 0; i < b->n; i++) {\n"
        "    double m = 0;\n"
        "    for (int t = 0; t < b->chosen_len[i]; t++) {\n"
        "      int j = b->chosen_off[i] + t; m += b->chosen_logps[j] - b->ref_chosen_logps[j]; }\n"
        "    for (int t = 0; t < b->rejected_len[i]; t++) {\n"
        "      int j = b->rejected_off[i] + t;\n"
        "      m -= b->rejected_logps[j] - b->ref_rejected_logps[j]; }\n"
        "    loss[i] = log1p(exp(-b->beta * m)) + 0.01 * mean; } }\n";
    sbx_worker *w = screened(src, DC_OK, NULL);
    if (!w) return;
    CHECK(sbx_is_separable(w) == 0);
    token_pref_batch b = ragged();
    double loss[NP], gc[TC], gr[TR], el[NP], ec[TC], er[TR];
    char msg[512];
    CHECK(sbx_token_eval(w, &b, TC, TR, loss, gc, gr, msg, sizeof msg) == DC_OK);
    exact(&b, 0, el, ec, er);
    for (int i = 0; i < NP; i++) /* the batch mean's share: 0.01 per pair, NP pairs, / NP */
        ec[c_off[i]] += 0.01;
    double err = grad_error(gc, gr, ec, er);
    CHECK_MSG(err < 1e-6, "relative gradient error %g", err);
    sbx_close(w);
}

#define GRAD_SRC(FACTOR)                                                                           \
    "#include <math.h>\n"                                                                          \
    "static double margin(const token_pref_batch *b, int i) {\n"                                   \
    "  double m = 0;\n"                                                                            \
    "  for (int t = 0; t < b->chosen_len[i]; t++) {\n"                                             \
    "    int j = b->chosen_off[i] + t; m += b->chosen_logps[j] - b->ref_chosen_logps[j]; }\n"      \
    "  for (int t = 0; t < b->rejected_len[i]; t++) {\n"                                           \
    "    int j = b->rejected_off[i] + t; m -= b->rejected_logps[j] - b->ref_rejected_logps[j]; "   \
    "}\n"                                                                                          \
    "  return m; }\n"                                                                              \
    "void objective(const token_pref_batch *b, double *loss) {\n"                                  \
    "  for (int i = 0; i < b->n; i++) loss[i] = log1p(exp(-b->beta * margin(b, i))); }\n"          \
    "void objective_grad(const token_pref_batch *b, double *loss, double *dc, double *dr) {\n"     \
    "  for (int i = 0; i < b->n; i++) {\n"                                                         \
    "    double m = margin(b, i), s = -b->beta / (1 + exp(b->beta * m));\n"                        \
    "    loss[i] = log1p(exp(-b->beta * m));\n"                                                    \
    "    for (int t = 0; t < b->chosen_len[i]; t++) dc[b->chosen_off[i] + t] = " FACTOR " * s;\n"  \
    "    for (int t = 0; t < b->rejected_len[i]; t++) dr[b->rejected_off[i] + t] = -s; } }\n"

static void test_grad_fn(void)
{
    sbx_worker *w = screened(GRAD_SRC("1.0"), DC_OK, NULL);
    if (w) {
        CHECK_MSG(sbx_uses_grad_fn(w) == 1, "note: %s", sbx_grad_note(w));
        token_pref_batch b = ragged();
        double loss[NP], gc[TC], gr[TR], el[NP], ec[TC], er[TR];
        char msg[512];
        CHECK(sbx_token_eval(w, &b, TC, TR, loss, gc, gr, msg, sizeof msg) == DC_OK);
        exact(&b, 0, el, ec, er);
        CHECK(grad_error(gc, gr, ec, er) < 1e-12); /* its own values, not differences */
        sbx_close(w);
    }
    w = screened(GRAD_SRC("1.5"), DC_OK, NULL);
    if (w) {
        CHECK(sbx_uses_grad_fn(w) == 0);
        CHECK_MSG(strstr(sbx_grad_note(w), "d_chosen") != NULL, "note: %s", sbx_grad_note(w));
        sbx_close(w);
    }
}

/* Candidates that go wrong only on what the token probes contain. */
static void test_prescreen_probes(void)
{
    /* a 1-token response */
    screened(TOKEN_DPO_SRC("1.0", "1.0", "if (b->chosen_len[i] == 1) m = log(-1.0);"), DC_NONFINITE,
             "pair 0");
    /* the longest response of the task's shape (32 by default) */
    screened(TOKEN_DPO_SRC("1.0", "1.0", "if (b->rejected_len[i] >= 32) m = log(-1.0);"),
             DC_NONFINITE, NULL);
    /* similarity exactly 1 everywhere (the high extreme probe) */
    screened(TOKEN_DPO_SRC("1.0", "1.0",
                           "double z = 0; for (int t = 0; t < b->chosen_len[i]; t++)"
                           " z += 1.0 - b->chosen_sim[b->chosen_off[i] + t]; m = m * z / z;"),
             DC_NONFINITE, "all sim 1");
    /* a tie: identical responses */
    screened(TOKEN_DPO_SRC("1.0", "1.0", "m = m / m;"), DC_NONFINITE, "chosen == rejected");
    /* a write through a cast-away const */
    screened("void objective(const token_pref_batch *b, double *loss) {\n"
             "  ((double *)b->chosen_sim)[0] = 2;\n"
             "  for (int i = 0; i < b->n; i++) loss[i] = b->chosen_logps[b->chosen_off[i]]; }\n",
             DC_INVALID, "chosen_sim");
    /* ignores the trainable inputs */
    screened("void objective(const token_pref_batch *b, double *loss) {\n"
             "  for (int i = 0; i < b->n; i++) loss[i] = b->chosen_sim[b->chosen_off[i]]; }\n",
             DC_INVALID, "every gradient is zero");
    /* the pair interface's signature is a compile error that names the token one */
    screened("void objective(const pref_batch *b, double *loss) { loss[0] = b->beta; }\n",
             DC_COMPILE_ERROR, "token_pref_batch");
}

static void test_host_checks(void)
{
    sbx_worker *w = screened(dpo_src, DC_OK, NULL);
    if (!w) return;
    token_pref_batch b = ragged();
    double loss[NP], gc[TC], gr[TR];
    char msg[512];
    int bad_off[NP];
    memcpy(bad_off, r_off, sizeof bad_off);
    bad_off[1] = bad_off[0]; /* pair 1 overlaps pair 0 */
    b.rejected_off = bad_off;
    CHECK(sbx_token_eval(w, &b, TC, TR, loss, gc, gr, msg, sizeof msg) == DC_ERROR);
    CHECK_MSG(strstr(msg, "pair 1's rejected") != NULL, "%s", msg);
    b = ragged();
    int zero_len[NP] = {0, 5, 3, 2};
    b.chosen_len = zero_len;
    CHECK(sbx_token_eval(w, &b, TC, TR, loss, gc, gr, msg, sizeof msg) == DC_ERROR);
    b = ragged();
    CHECK(sbx_token_eval(w, &b, TC - 1, TR, loss, gc, gr, msg, sizeof msg) == DC_ERROR);
    /* the worker is still usable after refused requests */
    b = ragged();
    CHECK(sbx_token_eval(w, &b, TC, TR, loss, NULL, NULL, msg, sizeof msg) == DC_OK);
    sbx_close(w);
}

static void test_fingerprint(void)
{
    char a[17] = "", c[17] = "", d[17] = "", msg[512];
    sbx_worker *w = screened(dpo_src, DC_OK, NULL);
    if (w) {
        CHECK(sbx_fingerprint(w, a, sizeof a, msg, sizeof msg) == DC_OK);
        sbx_close(w);
    }
    /* the same loss written differently */
    w = screened("#include <math.h>\n"
                 "void objective(const token_pref_batch *q, double *out) {\n"
                 "  for (int p = 0; p < q->n; p++) { double s = 0;\n"
                 "    for (int t = 0; t < q->rejected_len[p]; t++)\n"
                 "      s -= q->rejected_logps[q->rejected_off[p] + t] -\n"
                 "           q->ref_rejected_logps[q->rejected_off[p] + t];\n"
                 "    for (int t = 0; t < q->chosen_len[p]; t++)\n"
                 "      s += q->chosen_logps[q->chosen_off[p] + t] -\n"
                 "           q->ref_chosen_logps[q->chosen_off[p] + t];\n"
                 "    out[p] = log1p(exp(-q->beta * s)); } }\n",
                 DC_OK, NULL);
    if (w) {
        CHECK(sbx_fingerprint(w, c, sizeof c, msg, sizeof msg) == DC_OK);
        sbx_close(w);
    }
    w = screened(weighted_src, DC_OK, NULL);
    if (w) {
        CHECK(sbx_fingerprint(w, d, sizeof d, msg, sizeof msg) == DC_OK);
        sbx_close(w);
    }
    CHECK_STR(a, c);
    CHECK(strcmp(a, d) != 0);
}

int main(void)
{
    test_exact(dpo_src, 0, 1);
    test_exact(weighted_src, 1, 1);
    test_coupled();
    test_grad_fn();
    test_prescreen_probes();
    test_host_checks();
    test_fingerprint();
    return TEST_REPORT();
}
