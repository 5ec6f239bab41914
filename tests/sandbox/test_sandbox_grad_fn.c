/* test_sandbox_grad_fn.c — the optional analytic gradient `objective_grad`.
 *
 * A correct one passes the pre-screen's comparison with central differences and then
 * supplies every gradient (its exact values come back, not the numerical ones); a wrong one
 * (a factor, a sign, a loss that differs from objective's, state kept between calls) is
 * ignored with a note naming what differs, and central differences are used as if it were
 * absent; one that breaks the contract (writes outside its arrays, leaves an element
 * unwritten, crashes, has the wrong signature) fails the candidate like objective would. */
#include "tests/test.h"

#include "sandbox/sandbox.h"

#include <math.h>
#include <string.h>

enum { N = 24, K = 10 };

/* Cross-entropy with its exact gradient; FACTOR and LOSS_SHIFT break it on purpose. */
#define CE_SRC(FACTOR, LOSS_SHIFT)                                                                 \
    "#include <math.h>\n"                                                                          \
    "static double lse(const double *z, int k) {\n"                                                \
    "  double mx = z[0]; for (int j = 1; j < k; j++) mx = fmax(mx, z[j]);\n"                       \
    "  double s = 0; for (int j = 0; j < k; j++) s += exp(z[j] - mx); return mx + log(s); }\n"     \
    "void objective(int n, int k, const double *z, const int *y, double *loss) {\n"                \
    "  for (int i = 0; i < n; i++) loss[i] = lse(z + i * k, k) - z[i * k + y[i]]; }\n"             \
    "void objective_grad(int n, int k, const double *z, const int *y, double *loss,\n"             \
    "                    double *g) {\n"                                                           \
    "  for (int i = 0; i < n; i++) {\n"                                                            \
    "    double l = lse(z + i * k, k);\n"                                                          \
    "    loss[i] = l - z[i * k + y[i]] + " LOSS_SHIFT ";\n"                                        \
    "    for (int j = 0; j < k; j++)\n"                                                            \
    "      g[i * k + j] = " FACTOR " * (exp(z[i * k + j] - l) - (j == y[i] ? 1.0 : 0.0)); } }\n"

static void cls_batch(double *z, int *y)
{
    for (int i = 0; i < N; i++) {
        y[i] = (i * 7) % K;
        for (int j = 0; j < K; j++)
            z[i * K + j] = sin(0.37 * i + 1.3 * j) * 3.0;
    }
}

/* The exact cross-entropy gradient of batch (z, y). */
static void ce_grad(const double *z, const int *y, double *g)
{
    for (int i = 0; i < N; i++) {
        double mx = z[i * K], s = 0;
        for (int j = 1; j < K; j++)
            mx = fmax(mx, z[i * K + j]);
        for (int j = 0; j < K; j++)
            s += exp(z[i * K + j] - mx);
        double l = mx + log(s);
        for (int j = 0; j < K; j++)
            g[i * K + j] = exp(z[i * K + j] - l) - (j == y[i]);
    }
}

/* Opens and pre-screens src; the worker (or NULL after a failed CHECK). */
static sbx_worker *screened(sbx_kind kind, const char *src, dc_status want, const char *want_msg)
{
    sbx_worker *w = NULL;
    char msg[1024] = "";
    dc_status st = sbx_open(kind, src, strlen(src), NULL, &w, msg, sizeof msg);
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

/* Largest |a - b| over the batch's gradient. */
static double worst(const double *a, const double *b, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++)
        m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

static void test_cls_correct(void)
{
    sbx_worker *w = screened(SBX_CLS, CE_SRC("1.0", "0.0"), DC_OK, NULL);
    if (!w) return;
    CHECK(sbx_uses_grad_fn(w) == 1);
    CHECK_STR(sbx_grad_note(w), "");
    double z[N * K], g[N * K], ref[N * K], loss[N];
    int y[N];
    char msg[512];
    cls_batch(z, y);
    ce_grad(z, y, ref);
    CHECK(sbx_cls_eval(w, N, K, z, y, loss, g, msg, sizeof msg) == DC_OK);
    // the analytic values themselves (central differences would be off by ~1e-9)
    CHECK_MSG(worst(g, ref, N * K) < 1e-15, "analytic gradient off by %g", worst(g, ref, N * K));
    sbx_close(w);
}

static void test_cls_wrong_factor(void)
{
    sbx_worker *w = screened(SBX_CLS, CE_SRC("2.0", "0.0"), DC_OK, NULL);
    if (!w) return;
    CHECK(sbx_uses_grad_fn(w) == 0);
    const char *note = sbx_grad_note(w);
    CHECK_MSG(strstr(note, "objective_grad is not used") && strstr(note, "d_logits[") &&
                  strstr(note, "central differences give"),
              "note: %s", note);
    double z[N * K], g[N * K], ref[N * K], loss[N];
    int y[N];
    char msg[512];
    cls_batch(z, y);
    ce_grad(z, y, ref);
    CHECK(sbx_cls_eval(w, N, K, z, y, loss, g, msg, sizeof msg) == DC_OK);
    // central differences: right (to their accuracy), not the doubled analytic values
    double e = worst(g, ref, N * K);
    CHECK_MSG(e < 1e-7 && e > 0, "numerical gradient off by %g", e);
    sbx_close(w);
}

static void test_cls_loss_differs(void)
{
    sbx_worker *w = screened(SBX_CLS, CE_SRC("1.0", "1e-6"), DC_OK, NULL);
    if (!w) return;
    CHECK(sbx_uses_grad_fn(w) == 0);
    CHECK_MSG(strstr(sbx_grad_note(w), "loss[") && strstr(sbx_grad_note(w), "same loss"),
              "note: %s", sbx_grad_note(w));
    sbx_close(w);
}

/* DPO with its gradient (SIGN = -1 flips d_rejected: wrong) and a batch-mean objective whose
 * gradient couples every row (exact: used, and the path stays exact). */
#define DPO_SRC(SIGN)                                                                              \
    "#include <math.h>\n"                                                                          \
    "static double rho(const pref_batch *b, int i) {\n"                                            \
    "  return (b->chosen_logps[i] - b->ref_chosen_logps[i]) -\n"                                   \
    "         (b->rejected_logps[i] - b->ref_rejected_logps[i]); }\n"                              \
    "static double sp(double z) { return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z)); }\n"          \
    "void objective(const pref_batch *b, double *loss) {\n"                                        \
    "  for (int i = 0; i < b->n; i++) loss[i] = sp(-b->beta * rho(b, i)); }\n"                     \
    "void objective_grad(const pref_batch *b, double *loss, double *dc, double *dr) {\n"           \
    "  for (int i = 0; i < b->n; i++) {\n"                                                         \
    "    double x = b->beta * rho(b, i), s = 1.0 / (1.0 + exp(x));\n"                              \
    "    loss[i] = sp(-x); dc[i] = -b->beta * s; dr[i] = " SIGN " * b->beta * s; } }\n"

static const char *BATCH_MEAN_SRC =
    "#include <math.h>\n"
    "/* loss_i = (x_i - mean x)^2 / 2 - x_i: every row depends on every x */\n"
    "static double x_of(const pref_batch *b, int i) {\n"
    "  return b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -\n"
    "                    (b->rejected_logps[i] - b->ref_rejected_logps[i])); }\n"
    "static double mean_x(const pref_batch *b) {\n"
    "  double m = 0; for (int i = 0; i < b->n; i++) m += x_of(b, i); return m / b->n; }\n"
    "void objective(const pref_batch *b, double *loss) {\n"
    "  double m = mean_x(b);\n"
    "  for (int i = 0; i < b->n; i++) { double d = x_of(b, i) - m; loss[i] = 0.5 * d * d - x_of(b, "
    "i); } }\n"
    "void objective_grad(const pref_batch *b, double *loss, double *dc, double *dr) {\n"
    "  /* d(sum loss)/dx_j = (x_j - m) - sum_i (x_i - m)/n - 1 = (x_j - m) - 1 */\n"
    "  double m = mean_x(b);\n"
    "  for (int j = 0; j < b->n; j++) {\n"
    "    double d = x_of(b, j) - m;\n"
    "    loss[j] = 0.5 * d * d - x_of(b, j);\n"
    "    dc[j] = b->beta * (d - 1.0); dr[j] = -b->beta * (d - 1.0); } }\n";

static void pref_batch_fill(double *c, double *r, double *rc, double *rr, double *len)
{
    for (int i = 0; i < N; i++) {
        c[i] = -40.0 - 3.0 * sin(0.7 * i);
        r[i] = -42.0 + 2.0 * cos(0.3 * i);
        rc[i] = -41.0;
        rr[i] = -41.5;
        len[i] = 10 + i % 5;
    }
}

static void test_pref(void)
{
    double c[N], r[N], rc[N], rr[N], len[N], loss[N], dc[N], dr[N];
    pref_batch_fill(c, r, rc, rr, len);
    pref_batch b = {N, 0.1, c, r, rc, rr, len, len};
    char msg[512];

    sbx_worker *w = screened(SBX_PREF, DPO_SRC("1.0"), DC_OK, NULL);
    if (w) {
        CHECK(sbx_uses_grad_fn(w) == 1);
        CHECK(sbx_pref_eval(w, &b, loss, dc, dr, msg, sizeof msg) == DC_OK);
        for (int i = 0; i < N; i++) {
            double x = 0.1 * ((c[i] - rc[i]) - (r[i] - rr[i])), s = 1.0 / (1.0 + exp(x));
            CHECK_NEAR(dc[i], -0.1 * s, 1e-15);
            CHECK_NEAR(dr[i], 0.1 * s, 1e-15);
        }
        sbx_close(w);
    }
    w = screened(SBX_PREF, DPO_SRC("-1.0"), DC_OK, NULL);
    if (w) {
        CHECK(sbx_uses_grad_fn(w) == 0);
        CHECK_MSG(strstr(sbx_grad_note(w), "d_rejected["), "note: %s", sbx_grad_note(w));
        sbx_close(w);
    }
    w = screened(SBX_PREF, BATCH_MEAN_SRC, DC_OK, NULL);
    if (w) {
        CHECK(sbx_uses_grad_fn(w) == 1);
        CHECK(sbx_is_separable(w) == 0);
        CHECK(sbx_pref_eval(w, &b, loss, dc, dr, msg, sizeof msg) == DC_OK);
        double m = 0;
        for (int i = 0; i < N; i++)
            m += 0.1 * ((c[i] - rc[i]) - (r[i] - rr[i])) / N;
        for (int j = 0; j < N; j++) {
            double d = 0.1 * ((c[j] - rc[j]) - (r[j] - rr[j])) - m;
            CHECK_NEAR(dc[j], 0.1 * (d - 1.0), 1e-15);
        }
        sbx_close(w);
    }
}

static void test_contract(void)
{
    // writes past d_logits: rejected as objective would be
    screened(SBX_CLS,
             "void objective(int n, int k, const double *z, const int *y, double *loss) {\n"
             "  for (int i = 0; i < n; i++) loss[i] = -z[i * k + y[i]]; }\n"
             "void objective_grad(int n, int k, const double *z, const int *y, double *loss,\n"
             "                    double *g) {\n"
             "  for (int i = 0; i < n; i++) loss[i] = -z[i * k + y[i]];\n"
             "  for (int i = 0; i <= n * k; i++) g[i] = 0; }\n",
             DC_INVALID, "objective_grad wrote outside d_logits");
    // leaves elements unwritten
    screened(
        SBX_CLS,
        "void objective(int n, int k, const double *z, const int *y, double *loss) {\n"
        "  for (int i = 0; i < n; i++) loss[i] = -z[i * k + y[i]]; }\n"
        "void objective_grad(int n, int k, const double *z, const int *y, double *loss,\n"
        "                    double *g) {\n"
        "  for (int i = 0; i < n; i++) { loss[i] = -z[i * k + y[i]]; g[i * k + y[i]] = -1; } }\n",
        DC_INVALID, "objective_grad returned without writing d_logits[");
    // the wrong signature is a compile error that names it
    screened(SBX_PREF,
             "void objective(const pref_batch *b, double *loss) {\n"
             "  for (int i = 0; i < b->n; i++) loss[i] = -b->chosen_logps[i]; }\n"
             "void objective_grad(const pref_batch *b, double *loss, double *d) {\n"
             "  (void)b; (void)loss; (void)d; }\n",
             DC_COMPILE_ERROR, "objective_grad");
    // a crash inside objective_grad is the candidate's crash
    screened(SBX_PREF,
             "void objective(const pref_batch *b, double *loss) {\n"
             "  for (int i = 0; i < b->n; i++) loss[i] = -b->chosen_logps[i]; }\n"
             "void objective_grad(const pref_batch *b, double *loss, double *dc, double *dr) {\n"
             "  double *p = 0; for (int i = 0; i < b->n; i++) { loss[i] = -b->chosen_logps[i];\n"
             "  dc[i] = -1; dr[i] = 0; } p[0] = 1; }\n",
             DC_CRASH, "objective_grad");
    // state kept between calls: not used
    sbx_worker *w = screened(SBX_PREF,
                             "static int calls;\n"
                             "void objective(const pref_batch *b, double *loss) {\n"
                             "  for (int i = 0; i < b->n; i++) loss[i] = -b->chosen_logps[i]; }\n"
                             "void objective_grad(const pref_batch *b, double *loss, double *dc,\n"
                             "                    double *dr) {\n"
                             "  calls++;\n"
                             "  for (int i = 0; i < b->n; i++) { loss[i] = -b->chosen_logps[i];\n"
                             "  dc[i] = -1.0 + (calls % 2) * 1e-12; dr[i] = 0; } }\n",
                             DC_OK, NULL);
    if (w) {
        CHECK(sbx_uses_grad_fn(w) == 0);
        CHECK_MSG(strstr(sbx_grad_note(w), "keep state"), "note: %s", sbx_grad_note(w));
        sbx_close(w);
    }
}

/* Cross-entropy whose objective_grad multiplies its gradient by FACTOR when COND holds: a
 * mistake the pre-screen's probes do not reach, which the audits during training catch. */
#define CE_WHEN_SRC(COND, FACTOR)                                                                  \
    "#include <math.h>\n"                                                                          \
    "static int calls;\n"                                                                          \
    "static double lse(const double *z, int k) {\n"                                                \
    "  double mx = z[0]; for (int j = 1; j < k; j++) mx = fmax(mx, z[j]);\n"                       \
    "  double s = 0; for (int j = 0; j < k; j++) s += exp(z[j] - mx); return mx + log(s); }\n"     \
    "void objective(int n, int k, const double *z, const int *y, double *loss) {\n"                \
    "  for (int i = 0; i < n; i++) loss[i] = lse(z + i * k, k) - z[i * k + y[i]]; }\n"             \
    "void objective_grad(int n, int k, const double *z, const int *y, double *loss,\n"             \
    "                    double *g) {\n"                                                           \
    "  calls++;\n"                                                                                 \
    "  double f = (" COND ") ? " FACTOR " : 1.0;\n"                                                \
    "  for (int i = 0; i < n; i++) {\n"                                                            \
    "    double l = lse(z + i * k, k);\n"                                                          \
    "    loss[i] = l - z[i * k + y[i]];\n"                                                         \
    "    for (int j = 0; j < k; j++)\n"                                                            \
    "      g[i * k + j] = f * (exp(z[i * k + j] - l) - (j == y[i] ? 1.0 : 0.0)); } }\n"

/* Runs `calls` gradient requests of n rows; the worst error against the exact gradient. */
static double train_calls(sbx_worker *w, int n, int calls)
{
    double z[64 * K], g[64 * K], ref[64 * K], loss[64], e = 0;
    int y[64];
    char msg[512];
    for (int i = 0; i < n; i++) {
        y[i] = (i * 7) % K;
        for (int j = 0; j < K; j++)
            z[i * K + j] = sin(0.37 * i + 1.3 * j) * 3.0;
    }
    for (int i = 0; i < n; i++) { // the exact gradient of this batch
        double mx = z[i * K], s = 0;
        for (int j = 1; j < K; j++)
            mx = fmax(mx, z[i * K + j]);
        for (int j = 0; j < K; j++)
            s += exp(z[i * K + j] - mx);
        for (int j = 0; j < K; j++)
            ref[i * K + j] = exp(z[i * K + j] - mx) / s - (j == y[i]);
    }
    for (int c = 0; c < calls; c++) {
        dc_status st = sbx_cls_eval(w, n, K, z, y, loss, g, msg, sizeof msg);
        CHECK_MSG(st == DC_OK, "call %d: %s", c, msg);
        if (st != DC_OK) return INFINITY;
        for (int i = 0; i < n * K; i++)
            e = fmax(e, fabs(g[i] - ref[i]));
    }
    return e;
}

static void test_audits(void)
{
    // wrong only for batches larger than every probe of the pre-screen: the first batch of
    // a new size is audited, so not one wrong gradient reaches the trainer
    sbx_worker *w = screened(SBX_CLS, CE_WHEN_SRC("n > 20", "2.0"), DC_OK, NULL);
    if (w) {
        CHECK(sbx_uses_grad_fn(w) == 1);
        double e = train_calls(w, 24, 5);
        CHECK_MSG(e < 1e-7, "a wrong gradient reached the trainer (error %g)", e);
        CHECK(sbx_uses_grad_fn(w) == 0);
        CHECK_MSG(strstr(sbx_grad_note(w), "gradient call 1 (n = 24)"), "note: %s",
                  sbx_grad_note(w));
        sbx_close(w);
    }
    // wrong after a while (its 21st call: the pre-screen makes 6): caught by the audit at the
    // 16th training call at the latest, and never used again after it
    w = screened(SBX_CLS, CE_WHEN_SRC("calls > 20", "2.0"), DC_OK, NULL);
    if (w) {
        CHECK(sbx_uses_grad_fn(w) == 1);
        train_calls(w, 16, 20);
        CHECK(sbx_uses_grad_fn(w) == 0);
        CHECK_MSG(strstr(sbx_grad_note(w), "gradient call 16 "), "note: %s", sbx_grad_note(w));
        double e = train_calls(w, 16, 3); // central differences from then on
        CHECK_MSG(e < 1e-7, "error after the switch %g", e);
        sbx_close(w);
    }
    // non-finite on the extreme probes only: not used, the candidate is fine
    // (the extreme probes' logits are uniform in [-30, 30]; training's here stay within 3)
    w = screened(
        SBX_CLS,
        CE_WHEN_SRC("n > 1 && fabs(z[0]) + fabs(z[1]) + fabs(z[k]) + fabs(z[k + 1]) > 40", "NAN"),
        DC_OK, NULL);
    if (w) {
        CHECK(sbx_uses_grad_fn(w) == 0);
        CHECK_MSG(strstr(sbx_grad_note(w), "non-finite"), "note: %s", sbx_grad_note(w));
        CHECK(train_calls(w, 16, 2) < 1e-7);
        sbx_close(w);
    }
    // non-finite in training (after its 20th call): that step falls back, the run goes on
    w = screened(SBX_CLS, CE_WHEN_SRC("calls > 20", "NAN"), DC_OK, NULL);
    if (w) {
        CHECK(sbx_uses_grad_fn(w) == 1);
        double e = train_calls(w, 16, 20);
        CHECK_MSG(e < 1e-7, "error %g", e);
        CHECK(sbx_uses_grad_fn(w) == 0);
        CHECK_MSG(strstr(sbx_grad_note(w), "non-finite"), "note: %s", sbx_grad_note(w));
        sbx_close(w);
    }
}

int main(void)
{
    test_cls_correct();
    test_cls_wrong_factor();
    test_cls_loss_differs();
    test_pref();
    test_contract();
    test_audits();
    return TEST_REPORT();
}
