/* test_sandbox_objectives.c — good objectives compile, pass the pre-screen, give the
 * losses of an independent (gcc-compiled) reference and gradients within tolerance of the
 * analytic ones, through both gradient paths (exact one-input-at-a-time before the
 * pre-screen, column-at-once after it proved the objective row-separable).
 *
 * Tolerance: |numeric - analytic| <= 1e-7 * max(1, |analytic|). The largest relative error
 * is printed; with h = 3e-7 * max(1, |x|) it is about 7e-9 (see sandbox/worker_eval.c). */
#include "sbx_test_util.h"

#include "sandbox/objective_adapter.h"

#include "common/rng.h"

#include <math.h>

#define GRAD_TOL 1e-7

static const char *DPO_SRC =
    "#include <math.h>\n"
    "/* DPO: -log sigmoid(beta * margin), written stably */\n"
    "static double log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }\n"
    "void objective(const pref_batch *b, double *loss) {\n"
    "    for (int i = 0; i < b->n; i++) {\n"
    "        double x = b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -\n"
    "                              (b->rejected_logps[i] - b->ref_rejected_logps[i]));\n"
    "        loss[i] = -log_sigmoid(x);\n"
    "    }\n"
    "}\n";

/* The same objective renamed and reformatted: must have the same fingerprint. */
static const char *DPO_COPY_SRC =
    "static double ls(double z){return z>=0?-log1p(exp(-z)):z-log1p(exp(z));}\n"
    "void objective(const pref_batch *batch, double *out){int k;\n"
    "for(k=0;k<batch->n;k++){double m=(batch->chosen_logps[k]-batch->ref_chosen_logps[k])"
    "-(batch->rejected_logps[k]-batch->ref_rejected_logps[k]);out[k]=-ls(batch->beta*m);}}\n";

static const char *LRML_SRC =
    "#include <math.h>\n"
    "/* LRML / DiscoPOP: log-ratio modulated mix of logistic and exponential losses */\n"
    "static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }\n"
    "void objective(const pref_batch *b, double *loss) {\n"
    "    const double tau = 0.05;\n"
    "    for (int i = 0; i < b->n; i++) {\n"
    "        double x = b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -\n"
    "                              (b->rejected_logps[i] - b->ref_rejected_logps[i]));\n"
    "        double w = sigmoid(x / tau);\n"
    "        double f_dpo = x >= 0 ? log1p(exp(-x)) : -x + log1p(exp(x));\n"
    "        loss[i] = (1 - w) * f_dpo + w * exp(-x);\n"
    "    }\n"
    "}\n";

/* Batch statistics: the margin is centred on the batch mean (not row-separable). */
static const char *BATCHMEAN_SRC =
    "#include <math.h>\n"
    "void objective(const pref_batch *b, double *loss) {\n"
    "    double m = 0;\n"
    "    for (int i = 0; i < b->n; i++)\n"
    "        m += (b->chosen_logps[i] - b->ref_chosen_logps[i]) - (b->rejected_logps[i] - b->ref_rejected_logps[i]);\n"
    "    m /= b->n;\n"
    "    for (int i = 0; i < b->n; i++) {\n"
    "        double r = (b->chosen_logps[i] - b->ref_chosen_logps[i]) - (b->rejected_logps[i] - b->ref_rejected_logps[i]);\n"
    "        double z = b->beta * (r - m) + b->beta * r;\n"
    "        loss[i] = z >= 0 ? log1p(exp(-z)) : -z + log1p(exp(z));\n"
    "    }\n"
    "}\n";

static const char *CE_SRC =
    "#include <math.h>\n"
    "void objective(int n, int k, const double *logits, const int *labels, double *loss) {\n"
    "    for (int i = 0; i < n; i++) {\n"
    "        const double *row = logits + i * k;\n"
    "        double mx = row[0];\n"
    "        for (int j = 1; j < k; j++) mx = fmax(mx, row[j]);\n"
    "        double s = 0;\n"
    "        for (int j = 0; j < k; j++) s += exp(row[j] - mx);\n"
    "        loss[i] = mx + log(s) - row[labels[i]];\n"
    "    }\n"
    "}\n";

/* ---------------------------------------------------------------- references (gcc) */

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }
static double softplus_neg(double x) { return x >= 0 ? log1p(exp(-x)) : -x + log1p(exp(x)); }

typedef struct {
    int n;
    double beta;
    double a[6][64];
} batch;

static void make_batch(batch *B, int n, double beta, uint64_t seed)
{
    dc_rng r;
    dc_rng_seed(&r, seed);
    B->n = n;
    B->beta = beta;
    for (int i = 0; i < n; i++) {
        B->a[0][i] = -20 - 200 * dc_rng_uniform(&r);
        B->a[1][i] = -20 - 200 * dc_rng_uniform(&r);
        B->a[2][i] = B->a[0][i] + 6 * (dc_rng_uniform(&r) - 0.5);
        B->a[3][i] = B->a[1][i] + 6 * (dc_rng_uniform(&r) - 0.5);
        B->a[4][i] = 10 + i;
        B->a[5][i] = 12 + i;
    }
}

static pref_batch as_pref(const batch *B)
{
    pref_batch p = {B->n, B->beta, B->a[0], B->a[1], B->a[2], B->a[3], B->a[4], B->a[5]};
    return p;
}

static double margin(const batch *B, int i)
{
    return (B->a[0][i] - B->a[2][i]) - (B->a[1][i] - B->a[3][i]);
}

/* loss and dloss/dx (x = beta * margin) of the separable objectives */
static void ref_dpo(double x, double *l, double *dl)
{
    *l = softplus_neg(x);
    *dl = -sigm(-x);
}

static void ref_lrml(double x, double *l, double *dl)
{
    double tau = 0.05, w = sigm(x / tau), fd = softplus_neg(x), fe = exp(-x);
    *l = (1 - w) * fd + w * fe;
    double dw = w * (1 - w) / tau;
    *dl = -dw * fd + (1 - w) * (-sigm(-x)) + dw * fe - w * fe;
}

static double g_max_rel = 0;

static void check_grad(const char *what, double num, double ana)
{
    double err = fabs(num - ana), scale = fmax(1.0, fabs(ana));
    if (err / scale > g_max_rel) g_max_rel = err / scale;
    CHECK_MSG(err <= GRAD_TOL * scale, "%s: numeric %.12g analytic %.12g", what, num, ana);
}

/* Separable preference objective: losses and both gradients vs the reference. */
static void check_separable(sbx_worker *w, const batch *B, void (*ref)(double, double *, double *),
                            const char *name)
{
    pref_batch p = as_pref(B);
    double loss[64], dc[64], dr[64];
    char msg[512];
    dc_status st = sbx_pref_eval(w, &p, loss, dc, dr, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "%s eval: %s", name, msg);
    for (int i = 0; i < B->n; i++) {
        double l, dl;
        ref(B->beta * margin(B, i), &l, &dl);
        CHECK_NEAR(loss[i], l, 1e-12 * fmax(1, fabs(l)));
        check_grad(name, dc[i], B->beta * dl);
        check_grad(name, dr[i], -B->beta * dl);
    }
}

static sbx_worker *open_ok(sbx_kind kind, const char *src)
{
    sbx_limits l;
    sbx_test_limits(&l);
    sbx_worker *w = NULL;
    char msg[1024];
    dc_status st = sbx_open(kind, src, strlen(src), &l, &w, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "open: %s: %s", dc_status_name(st), msg);
    return w;
}

static void test_dpo_and_lrml(void)
{
    const char *srcs[2] = {DPO_SRC, LRML_SRC};
    void (*refs[2])(double, double *, double *) = {ref_dpo, ref_lrml};
    const char *names[2] = {"DPO", "LRML"};
    for (int o = 0; o < 2; o++) {
        sbx_worker *w = open_ok(SBX_PREF, srcs[o]);
        if (!w) continue;
        batch B;
        make_batch(&B, 64, 0.1, 7 + (uint64_t)o);
        check_separable(w, &B, refs[o], names[o]); /* exact path: not yet pre-screened */
        char msg[1024];
        dc_status st = sbx_prescreen(w, msg, sizeof msg);
        CHECK_MSG(st == DC_OK, "%s prescreen: %s", names[o], msg);
        CHECK(sbx_is_separable(w) == 1);
        make_batch(&B, 64, 0.5, 99 + (uint64_t)o);
        check_separable(w, &B, refs[o], names[o]); /* column-at-once path */
        /* the adapter reaches the same worker */
        dc_objective obj;
        sbx_objective(w, &obj);
        pref_batch p = as_pref(&B);
        double loss[64];
        st = obj.pref(obj.ctx, &p, loss, NULL, NULL, msg, sizeof msg);
        CHECK(st == DC_OK);
        double l, dl;
        refs[o](B.beta * margin(&B, 5), &l, &dl);
        CHECK_NEAR(loss[5], l, 1e-12);
        CHECK(sbx_seconds_in_calls(w) > 0);
        sbx_close(w);
    }
}

static void test_batch_mean(void)
{
    sbx_worker *w = open_ok(SBX_PREF, BATCHMEAN_SRC);
    if (!w) return;
    char msg[1024];
    dc_status st = sbx_prescreen(w, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "batch-mean prescreen: %s", msg);
    CHECK(sbx_is_separable(w) == 0);
    batch B;
    make_batch(&B, 24, 0.2, 3);
    pref_batch p = as_pref(&B);
    double loss[64], dc[64], dr[64];
    st = sbx_pref_eval(w, &p, loss, dc, dr, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "%s", msg);
    /* z_i = beta (r_i - m) + beta r_i; d(sum_i f(z_i))/dr_j = beta (2 f'(z_j) - mean_i f'(z_i)) */
    int n = B.n;
    double m = 0, fp[64], mean_fp = 0;
    for (int i = 0; i < n; i++) m += margin(&B, i);
    m /= n;
    for (int i = 0; i < n; i++) {
        double z = B.beta * (margin(&B, i) - m) + B.beta * margin(&B, i);
        CHECK_NEAR(loss[i], softplus_neg(z), 1e-12);
        fp[i] = -sigm(-z);
        mean_fp += fp[i] / n;
    }
    for (int j = 0; j < n; j++) {
        double g = B.beta * (2 * fp[j] - mean_fp);
        check_grad("batch-mean d/dchosen", dc[j], g);
        check_grad("batch-mean d/drejected", dr[j], -g);
    }
    sbx_close(w);
}

static void test_cross_entropy(void)
{
    sbx_worker *w = open_ok(SBX_CLS, CE_SRC);
    if (!w) return;
    char msg[1024];
    dc_status st = sbx_prescreen(w, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "CE prescreen: %s", msg);
    CHECK(sbx_is_separable(w) == 1);
    enum { N = 32, K = 10 };
    double logits[N * K], loss[N], grad[N * K];
    int labels[N];
    dc_rng r;
    dc_rng_seed(&r, 11);
    for (int i = 0; i < N * K; i++) logits[i] = 4 * dc_rng_normal(&r);
    for (int i = 0; i < N; i++) labels[i] = (int)dc_rng_below(&r, K);
    st = sbx_cls_eval(w, N, K, logits, labels, loss, grad, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "%s", msg);
    for (int i = 0; i < N; i++) {
        const double *row = logits + i * K;
        double mx = row[0], s = 0;
        for (int j = 1; j < K; j++) mx = fmax(mx, row[j]);
        for (int j = 0; j < K; j++) s += exp(row[j] - mx);
        CHECK_NEAR(loss[i], mx + log(s) - row[labels[i]], 1e-12);
        for (int j = 0; j < K; j++)
            check_grad("CE", grad[i * K + j], exp(row[j] - mx) / s - (j == labels[i]));
    }
    /* a label outside [0, k) is the caller's error, reported without killing the worker */
    labels[0] = K;
    st = sbx_cls_eval(w, N, K, logits, labels, loss, NULL, msg, sizeof msg);
    CHECK(st == DC_ERROR);
    labels[0] = 0;
    st = sbx_cls_eval(w, N, K, logits, labels, loss, NULL, msg, sizeof msg);
    CHECK(st == DC_OK);
    sbx_close(w);
}

static void test_fingerprint(void)
{
    const char *srcs[3] = {DPO_SRC, DPO_COPY_SRC, LRML_SRC};
    char fp[3][32];
    for (int i = 0; i < 3; i++) {
        fp[i][0] = '\0';
        sbx_worker *w = open_ok(SBX_PREF, srcs[i]);
        if (!w) continue;
        char msg[512];
        CHECK(sbx_fingerprint(w, fp[i], sizeof fp[i], msg, sizeof msg) == DC_OK);
        CHECK(strlen(fp[i]) == 16);
        sbx_close(w);
    }
    CHECK_STR(fp[0], fp[1]);
    CHECK(strcmp(fp[0], fp[2]) != 0);
}

static void test_compile_error_lines(void)
{
    char msg[1024];
    const char *src = "#include <math.h>\n"
                      "void objective(const pref_batch *b, double *loss) {\n"
                      "    for (int i = 0; i < b->n; i++)\n"
                      "        loss[i] = undefined_variable * 2;\n"
                      "}\n";
    dc_status st = sbx_test_check(SBX_PREF, src, strlen(src), msg, sizeof msg);
    CHECK(st == DC_COMPILE_ERROR);
    CHECK_MSG(strstr(msg, "objective.c:4:") != NULL, "message: %s", msg);
    CHECK_MSG(strstr(msg, "undefined_variable") != NULL, "message: %s", msg);
}

/* After a failure the worker is dead and every later call repeats the status. */
static void test_sticky_failure(void)
{
    const char *src = "void objective(const pref_batch *b, double *loss) {\n"
                      "  for (int i = 0; i < b->n; i++) loss[i] = b->n > 3 ? 0.0 / 0.0 : b->chosen_logps[i]; }\n";
    sbx_worker *w = open_ok(SBX_PREF, src);
    if (!w) return;
    batch B;
    make_batch(&B, 8, 0.1, 5);
    pref_batch p = as_pref(&B);
    double loss[64];
    char msg[512];
    CHECK(sbx_pref_eval(w, &p, loss, NULL, NULL, msg, sizeof msg) == DC_NONFINITE);
    CHECK(strstr(msg, "row 0") != NULL);
    p.n = 2;
    CHECK(sbx_pref_eval(w, &p, loss, NULL, NULL, msg, sizeof msg) == DC_NONFINITE);
    sbx_close(w);
}

int main(void)
{
    sbx_test_use_build_worker();
    test_dpo_and_lrml();
    test_batch_mean();
    test_cross_entropy();
    test_fingerprint();
    test_compile_error_lines();
    test_sticky_failure();
    printf("largest relative gradient error vs analytic: %.3g (tolerance %.0e)\n", g_max_rel,
           GRAD_TOL);
    return TEST_REPORT();
}
