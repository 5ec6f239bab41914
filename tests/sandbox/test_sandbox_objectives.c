/* test_sandbox_objectives.c — good objectives compile, pass the pre-screen, give the
 * losses of an independent (gcc-compiled) reference and gradients within tolerance of the
 * analytic ones, through both gradient paths (exact one-input-at-a-time before the
 * pre-screen, column-at-once after it proved the objective row-separable).
 *
 * Batch statistics (mean, variance, max, a smooth rank, DBAQL from examples/) are checked
 * against analytic gradients written here, and objectives whose rows couple only in large
 * batches or for extreme inputs must be found non-separable.
 *
 * Tolerance: |numeric - analytic| <= 1e-7 * max(1, |analytic|) for every objective. The
 * largest relative error is printed per test and overall; with h = 3e-7 * max(1, |x|) it is
 * about 7e-9 (LRML, whose loss bends on the scale tau/beta; see sandbox/worker_eval.c) and
 * about 1e-10 for the batch-statistic objectives. A wrong gradient path (per-row
 * differences for a coupled objective) errs by 1e-2 or more, so 1e-7 still separates. */
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

/* Batch variance: loss_i = f(x_i) + c·Var_batch(x), x = β·margin, f(x) = log(1 + e^-x),
 * c = 0.5, population variance. Every row's loss depends on every row's inputs. */
static const char *BATCHVAR_SRC =
    "#include <math.h>\n"
    "static double x_of(const pref_batch *b, int i) {\n"
    "    return b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -\n"
    "                      (b->rejected_logps[i] - b->ref_rejected_logps[i]));\n"
    "}\n"
    "void objective(const pref_batch *b, double *loss) {\n"
    "    double m = 0, v = 0;\n"
    "    for (int i = 0; i < b->n; i++) m += x_of(b, i);\n"
    "    m /= b->n;\n"
    "    for (int i = 0; i < b->n; i++) { double d = x_of(b, i) - m; v += d * d; }\n"
    "    v /= b->n;\n"
    "    for (int i = 0; i < b->n; i++) {\n"
    "        double x = x_of(b, i);\n"
    "        loss[i] = (x >= 0 ? log1p(exp(-x)) : -x + log1p(exp(x))) + 0.5 * v;\n"
    "    }\n"
    "}\n";

/* Order statistic: loss_i = f(x_i) + c·max_k x_k, c = 0.3 (differentiable wherever the
 * maximum is unique; the test checks the gap to the runner-up). */
static const char *BATCHMAX_SRC =
    "#include <math.h>\n"
    "static double x_of(const pref_batch *b, int i) {\n"
    "    return b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -\n"
    "                      (b->rejected_logps[i] - b->ref_rejected_logps[i]));\n"
    "}\n"
    "void objective(const pref_batch *b, double *loss) {\n"
    "    double mx = x_of(b, 0);\n"
    "    for (int i = 1; i < b->n; i++) mx = fmax(mx, x_of(b, i));\n"
    "    for (int i = 0; i < b->n; i++) {\n"
    "        double x = x_of(b, i);\n"
    "        loss[i] = (x >= 0 ? log1p(exp(-x)) : -x + log1p(exp(x))) + 0.3 * mx;\n"
    "    }\n"
    "}\n";

/* Smooth rank (a soft quantile): q_i = mean over k != i of σ((x_k - x_i)/s), the share of
 * the batch ranked above row i; loss_i = (0.5 + q_i)·f(x_i), s = 0.2: pairs that rank
 * low in their batch weigh more. Every pair of rows interacts. */
static const char *SOFTRANK_SRC =
    "#include <math.h>\n"
    "static double x_of(const pref_batch *b, int i) {\n"
    "    return b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -\n"
    "                      (b->rejected_logps[i] - b->ref_rejected_logps[i]));\n"
    "}\n"
    "void objective(const pref_batch *b, double *loss) {\n"
    "    for (int i = 0; i < b->n; i++) {\n"
    "        double x = x_of(b, i), q = 0;\n"
    "        for (int k = 0; k < b->n; k++)\n"
    "            if (k != i) q += 1.0 / (1.0 + exp(-(x_of(b, k) - x) / 0.2));\n"
    "        q = b->n > 1 ? q / (b->n - 1) : 0.0;\n"
    "        loss[i] = (0.5 + q) * (x >= 0 ? log1p(exp(-x)) : -x + log1p(exp(x)));\n"
    "    }\n"
    "}\n";

/* Coupled only in large batches: plain DPO up to 20 pairs, the batch-mean objective above
 * beyond. The random probe (n = 16) alone would call it separable. */
static const char *COUPLED_LARGE_N_SRC =
    "#include <math.h>\n"
    "static double r_of(const pref_batch *b, int i) {\n"
    "    return (b->chosen_logps[i] - b->ref_chosen_logps[i]) - (b->rejected_logps[i] - b->ref_rejected_logps[i]);\n"
    "}\n"
    "void objective(const pref_batch *b, double *loss) {\n"
    "    double m = 0;\n"
    "    if (b->n > 20) {\n"
    "        for (int i = 0; i < b->n; i++) m += r_of(b, i);\n"
    "        m /= b->n;\n"
    "    }\n"
    "    for (int i = 0; i < b->n; i++) {\n"
    "        double r = r_of(b, i);\n"
    "        double z = b->n > 20 ? b->beta * (r - m) + b->beta * r : b->beta * r;\n"
    "        loss[i] = z >= 0 ? log1p(exp(-z)) : -z + log1p(exp(z));\n"
    "    }\n"
    "}\n";

/* Coupled only for some inputs: plain DPO unless a chosen log-prob is below -500 (only the
 * extreme probes have those), then the batch-mean objective. */
static const char *COUPLED_THRESHOLD_SRC =
    "#include <math.h>\n"
    "static double r_of(const pref_batch *b, int i) {\n"
    "    return (b->chosen_logps[i] - b->ref_chosen_logps[i]) - (b->rejected_logps[i] - b->ref_rejected_logps[i]);\n"
    "}\n"
    "void objective(const pref_batch *b, double *loss) {\n"
    "    int coupled = 0;\n"
    "    double m = 0;\n"
    "    for (int i = 0; i < b->n; i++) if (b->chosen_logps[i] < -500) coupled = 1;\n"
    "    if (coupled) {\n"
    "        for (int i = 0; i < b->n; i++) m += r_of(b, i);\n"
    "        m /= b->n;\n"
    "    }\n"
    "    for (int i = 0; i < b->n; i++) {\n"
    "        double r = r_of(b, i);\n"
    "        double z = coupled ? b->beta * (r - m) + b->beta * r : b->beta * r;\n"
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

/* noise: width of the uniform policy-vs-reference offsets, so the margins spread over
 * about ±noise. */
static void make_batch_noise(batch *B, int n, double beta, uint64_t seed, double noise)
{
    dc_rng r;
    dc_rng_seed(&r, seed);
    B->n = n;
    B->beta = beta;
    for (int i = 0; i < n; i++) {
        B->a[0][i] = -20 - 200 * dc_rng_uniform(&r);
        B->a[1][i] = -20 - 200 * dc_rng_uniform(&r);
        B->a[2][i] = B->a[0][i] + noise * (dc_rng_uniform(&r) - 0.5);
        B->a[3][i] = B->a[1][i] + noise * (dc_rng_uniform(&r) - 0.5);
        B->a[4][i] = 10 + i;
        B->a[5][i] = 12 + i;
    }
}

static void make_batch(batch *B, int n, double beta, uint64_t seed)
{
    make_batch_noise(B, n, beta, seed, 6.0);
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

static double g_max_rel = 0;  /* over the whole program */
static double g_case_rel = 0; /* over the current test, reset by case_begin() */

static void check_grad(const char *what, double num, double ana)
{
    double err = fabs(num - ana), scale = fmax(1.0, fabs(ana));
    if (err / scale > g_max_rel) g_max_rel = err / scale;
    if (err / scale > g_case_rel) g_case_rel = err / scale;
    CHECK_MSG(err <= GRAD_TOL * scale, "%s: numeric %.12g analytic %.12g", what, num, ana);
}

static void case_begin(void) { g_case_rel = 0; }

static void case_end(const char *name)
{
    printf("%-32s largest relative gradient error %.3g\n", name, g_case_rel);
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

/* Gradients of sum_i loss_i for the batch-mean objective: z_i = beta (r_i - m) + beta r_i,
 * m = mean_i r_i, so d(sum_i f(z_i))/dr_j = beta (2 f'(z_j) - mean_i f'(z_i)), and
 * dr_j/dchosen_j = 1, dr_j/drejected_j = -1. */
static void check_batch_mean(const batch *B, const double *loss, const double *dc,
                             const double *dr, const char *name)
{
    int n = B->n;
    double m = 0, fp[64], mean_fp = 0;
    for (int i = 0; i < n; i++) m += margin(B, i);
    m /= n;
    for (int i = 0; i < n; i++) {
        double z = B->beta * (margin(B, i) - m) + B->beta * margin(B, i);
        CHECK_NEAR(loss[i], softplus_neg(z), 1e-12);
        fp[i] = -sigm(-z);
        mean_fp += fp[i] / n;
    }
    for (int j = 0; j < n; j++) {
        double g = B->beta * (2 * fp[j] - mean_fp);
        check_grad(name, dc[j], g);
        check_grad(name, dr[j], -g);
    }
}

/* Opens, pre-screens (must pass and find the objective NOT separable) and evaluates B. */
static sbx_worker *open_coupled(const char *src, const char *name, const batch *B, double *loss,
                                double *dc, double *dr)
{
    sbx_worker *w = open_ok(SBX_PREF, src);
    if (!w) return NULL;
    char msg[1024];
    dc_status st = sbx_prescreen(w, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "%s prescreen: %s", name, msg);
    CHECK_MSG(sbx_is_separable(w) == 0, "%s was classified row-separable", name);
    pref_batch p = as_pref(B);
    st = sbx_pref_eval(w, &p, loss, dc, dr, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "%s eval: %s", name, msg);
    if (st != DC_OK) {
        sbx_close(w);
        return NULL;
    }
    return w;
}

static void test_batch_mean(void)
{
    case_begin();
    batch B;
    make_batch(&B, 24, 0.2, 3);
    double loss[64], dc[64], dr[64];
    sbx_worker *w = open_coupled(BATCHMEAN_SRC, "batch-mean", &B, loss, dc, dr);
    if (!w) return;
    check_batch_mean(&B, loss, dc, dr, "batch-mean");
    sbx_close(w);
    case_end("batch mean");
}

/* loss_i = f(x_i) + c V, x_i = beta r_i, V = (1/n) sum_k (x_k - m)^2, m = mean_k x_k.
 * Mean loss L = (1/n) sum_i f(x_i) + c V. Since sum_k (x_k - m) = 0,
 *   dV/dx_j = (2/n)(x_j - m),   dL/dx_j = (1/n) f'(x_j) + (2c/n)(x_j - m),
 *   dL/dchosen_j = beta dL/dx_j,  dL/drejected_j = -beta dL/dx_j.
 * The sandbox returns d(sum_i loss_i) = n dL. */
static void test_batch_variance(void)
{
    case_begin();
    const double c = 0.5;
    batch B;
    make_batch(&B, 24, 0.2, 21);
    double loss[64], dc[64], dr[64];
    sbx_worker *w = open_coupled(BATCHVAR_SRC, "batch-variance", &B, loss, dc, dr);
    if (!w) return;
    int n = B.n;
    double x[64], m = 0, v = 0, coupling = 0;
    for (int i = 0; i < n; i++) m += (x[i] = B.beta * margin(&B, i)) / n;
    for (int i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m) / n;
    for (int j = 0; j < n; j++) {
        double l = softplus_neg(x[j]) + c * v;
        CHECK_NEAR(loss[j], l, 1e-12 * fmax(1, fabs(l)));
        double dL = (-sigm(-x[j]) + 2 * c * (x[j] - m)) / n; /* dL/dx_j */
        check_grad("batch-variance d/dchosen", dc[j], n * B.beta * dL);
        check_grad("batch-variance d/drejected", dr[j], -n * B.beta * dL);
        coupling = fmax(coupling, fabs(2 * c * (x[j] - m)));
    }
    /* the batch term is a real part of the gradient, not a rounding-level detail */
    CHECK_MSG(coupling > 0.1, "variance term too small to test: %g", coupling);
    sbx_close(w);
    case_end("batch variance");
}

/* Order statistic: loss_i = f(x_i) + c max_k x_k. With a unique maximum at row a,
 * d(sum_i loss_i)/dx_j = f'(x_j) + n c [j == a]. Central differences see a smooth
 * function when the step in x (beta h, h = 3e-7 max(1, |logp|)) is far below the gap
 * between the largest and the second largest x: checked below. */
static void test_batch_max(void)
{
    case_begin();
    const double c = 0.3;
    batch B;
    make_batch(&B, 24, 0.2, 22);
    double loss[64], dc[64], dr[64];
    sbx_worker *w = open_coupled(BATCHMAX_SRC, "batch-max", &B, loss, dc, dr);
    if (!w) return;
    int n = B.n, a = 0;
    double x[64] = {0};
    for (int i = 0; i < n; i++) x[i] = B.beta * margin(&B, i);
    for (int i = 1; i < n; i++)
        if (x[i] > x[a]) a = i;
    double second = -INFINITY;
    for (int i = 0; i < n; i++)
        if (i != a) second = fmax(second, x[i]);
    CHECK_MSG(x[a] - second > 1e-3, "the top two margins are %g apart: not a smooth probe point",
              x[a] - second);
    for (int j = 0; j < n; j++) {
        double l = softplus_neg(x[j]) + c * x[a];
        CHECK_NEAR(loss[j], l, 1e-12 * fmax(1, fabs(l)));
        double g = -sigm(-x[j]) + (j == a ? n * c : 0.0);
        check_grad("batch-max d/dchosen", dc[j], B.beta * g);
        check_grad("batch-max d/drejected", dr[j], -B.beta * g);
    }
    sbx_close(w);
    case_end("batch max (order statistic)");
}

/* Smooth rank: q_i = (1/(n-1)) sum_{k != i} sig((x_k - x_i)/s), S = sum_i (1/2 + q_i) f_i.
 *   dq_i/dx_j = sig'((x_j - x_i)/s) / ((n-1) s)                 for i != j,
 *   dq_j/dx_j = -sum_{k != j} sig'((x_k - x_j)/s) / ((n-1) s),
 * and sig' is even, so
 *   dS/dx_j = (1/2 + q_j) f'_j + sum_{i != j} sig'((x_j - x_i)/s) (f_i - f_j) / ((n-1) s). */
static void test_soft_rank(void)
{
    case_begin();
    const double s = 0.2;
    batch B;
    make_batch(&B, 24, 0.2, 23);
    double loss[64], dc[64], dr[64];
    sbx_worker *w = open_coupled(SOFTRANK_SRC, "soft-rank", &B, loss, dc, dr);
    if (!w) return;
    int n = B.n;
    double x[64], f[64], q[64], coupling = 0;
    for (int i = 0; i < n; i++) {
        x[i] = B.beta * margin(&B, i);
        f[i] = softplus_neg(x[i]);
    }
    for (int i = 0; i < n; i++) {
        q[i] = 0;
        for (int k = 0; k < n; k++)
            if (k != i) q[i] += sigm((x[k] - x[i]) / s) / (n - 1);
        double l = (0.5 + q[i]) * f[i];
        CHECK_NEAR(loss[i], l, 1e-12 * fmax(1, fabs(l)));
    }
    for (int j = 0; j < n; j++) {
        double cross = 0;
        for (int i = 0; i < n; i++) {
            if (i == j) continue;
            double sg = sigm((x[j] - x[i]) / s);
            cross += sg * (1 - sg) * (f[i] - f[j]) / ((n - 1) * s);
        }
        double g = (0.5 + q[j]) * -sigm(-x[j]) + cross;
        check_grad("soft-rank d/dchosen", dc[j], B.beta * g);
        check_grad("soft-rank d/drejected", dr[j], -B.beta * g);
        coupling = fmax(coupling, fabs(cross));
    }
    CHECK_MSG(coupling > 0.05, "pairwise term too small to test: %g", coupling);
    sbx_close(w);
    case_end("soft rank (quantile)");
}

/* Reads a file of the source tree into a malloc'd NUL-terminated string, or NULL. */
static char *read_source_file(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", DC_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(65536);
    size_t n = buf ? fread(buf, 1, 65535, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* DBAQL (examples/objectives/sentiment/dbaql.c, compiled in the sandbox) against an analytic
 * reference in double written here from DESIGN.md's formula:
 *   y_i = x_i/tau, mu = mean y, V = sum_i (y_i - mu)^2 / (n-1), w = sig(V),
 *   loss_i = w A_i + (1-w) B_i,  A_i = log(1 + e^{-x_i/T}),  B_i = e^{-T x_i},
 *   S = sum_i loss_i = w sum A + (1-w) sum B,
 *   dS/dx_j = w A'_j + (1-w) B'_j + w(1-w) dV/dx_j (sum A - sum B),
 *   A'_j = -sig(-x_j/T)/T,  B'_j = -T e^{-T x_j},  dV/dx_j = 2 (y_j - mu) / ((n-1) tau).
 * The batch is drawn with margins spread about ±0.6 so that V is O(1): with the usual
 * spread V is in the hundreds, w(1-w) ~ e^-V and the coupling term would vanish.
 * Tolerance: the same 1e-7 relative as every other objective here. The step is
 * h = 3e-7·|logp| <= 7e-5 (|logp| <= 220), i.e. <= 1.3e-4 in y = beta·logp/tau, where S
 * bends on the O(1) scale: truncation h²·|S^(3)|/6 is of order 1e-9 and rounding
 * n·eps·|loss|/h about 1e-10 (measured: 1.5e-10, printed). 1e-7 is far below what a wrong
 * gradient path would give (the per-row fast path drops the batch term, which is checked
 * to be larger than 1e-2 here). */
static void test_dbaql(void)
{
    case_begin();
    char *src = read_source_file("examples/objectives/sentiment/dbaql.c");
    CHECK_MSG(src != NULL, "cannot read %s/examples/objectives/sentiment/dbaql.c", DC_SOURCE_DIR);
    if (!src) return;
    const double tau = 0.05, T = 0.9;
    batch B;
    make_batch_noise(&B, 32, 0.1, 24, 1.2);
    double loss[64], dc[64], dr[64];
    sbx_worker *w = open_coupled(src, "DBAQL", &B, loss, dc, dr);
    free(src);
    if (!w) return;
    int n = B.n;
    double x[64], mu = 0, V = 0, sumA = 0, sumB = 0, coupling = 0;
    for (int i = 0; i < n; i++) {
        x[i] = B.beta * margin(&B, i);
        mu += x[i] / tau / n;
    }
    for (int i = 0; i < n; i++) {
        V += (x[i] / tau - mu) * (x[i] / tau - mu) / (n - 1);
        sumA += softplus_neg(x[i] / T);
        sumB += exp(-T * x[i]);
    }
    double wt = sigm(V);
    CHECK_MSG(wt * (1 - wt) > 0.05, "V = %g: the batch term would be negligible", V);
    for (int j = 0; j < n; j++) {
        double A = softplus_neg(x[j] / T), Bj = exp(-T * x[j]);
        double l = wt * A + (1 - wt) * Bj;
        CHECK_NEAR(loss[j], l, 1e-12 * fmax(1, fabs(l)));
        double dV = 2 * (x[j] / tau - mu) / ((n - 1) * tau);
        double term = wt * (1 - wt) * dV * (sumA - sumB);
        double g = wt * (-sigm(-x[j] / T) / T) + (1 - wt) * (-T * Bj) + term;
        check_grad("DBAQL d/dchosen", dc[j], B.beta * g);
        check_grad("DBAQL d/drejected", dr[j], -B.beta * g);
        coupling = fmax(coupling, fabs(B.beta * term));
    }
    CHECK_MSG(coupling > 1e-2, "DBAQL's batch term is too small to test: %g", coupling);
    printf("DBAQL probe batch: V = %.3f, w = %.3f, largest batch term of a gradient %.3g\n", V,
           wt, coupling);
    sbx_close(w);
    case_end("DBAQL (examples/)");
}

/* On a batch like the random probe (n = 16, ordinary magnitudes) perturbing one row leaves
 * every other row's loss unchanged: a pre-screen that looked at that probe alone would
 * have chosen the per-row fast path for this objective. */
static void looks_separable_on_small_batch(const char *src, const char *name)
{
    sbx_worker *w = open_ok(SBX_PREF, src);
    if (!w) return;
    batch B;
    make_batch(&B, 16, 0.1, 40);
    double base[64], moved[64];
    char msg[512];
    pref_batch p = as_pref(&B);
    CHECK(sbx_pref_eval(w, &p, base, NULL, NULL, msg, sizeof msg) == DC_OK);
    B.a[0][5] -= 0.5;
    CHECK(sbx_pref_eval(w, &p, moved, NULL, NULL, msg, sizeof msg) == DC_OK);
    int others_same = 1;
    for (int i = 0; i < B.n; i++)
        if (i != 5 && moved[i] != base[i]) others_same = 0;
    CHECK_MSG(others_same && moved[5] != base[5], "%s: coupled already on a small batch", name);
    sbx_close(w);
}

/* Objectives whose coupling only the large or the extreme probe can see: the pre-screen
 * must call them non-separable, and on a batch that triggers the coupling the gradients
 * must be the batch-mean objective's analytic ones. */
static void test_hidden_coupling(void)
{
    case_begin();
    looks_separable_on_small_batch(COUPLED_LARGE_N_SRC, "coupled for n > 20");
    looks_separable_on_small_batch(COUPLED_THRESHOLD_SRC, "coupled below -500");
    double loss[64], dc[64], dr[64];
    batch B;
    make_batch(&B, 24, 0.2, 41); /* n = 24 > 20: coupled */
    sbx_worker *w = open_coupled(COUPLED_LARGE_N_SRC, "coupled for n > 20", &B, loss, dc, dr);
    if (w) {
        check_batch_mean(&B, loss, dc, dr, "coupled for n > 20");
        sbx_close(w);
    }
    make_batch(&B, 24, 0.2, 42);
    B.a[0][7] = -650; /* one chosen log-prob below -500: coupled */
    B.a[2][7] = -648.5;
    w = open_coupled(COUPLED_THRESHOLD_SRC, "coupled below -500", &B, loss, dc, dr);
    if (w) {
        check_batch_mean(&B, loss, dc, dr, "coupled below -500");
        sbx_close(w);
    }
    case_end("hidden coupling (n, threshold)");
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
    test_batch_variance();
    test_batch_max();
    test_soft_rank();
    test_dbaql();
    test_hidden_coupling();
    test_cross_entropy();
    test_fingerprint();
    test_compile_error_lines();
    test_sticky_failure();
    printf("largest relative gradient error vs analytic: %.3g (tolerance %.0e)\n", g_max_rel,
           GRAD_TOL);
    return TEST_REPORT();
}
