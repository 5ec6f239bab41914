/* evolve_render.c — a genome as an objective C file for the sandbox.
 *
 * The file is written for a reader as much as for the compiler: the genome line first (so
 * it can be parsed back), a comment naming the candidate and spelling out its formula, only
 * the helpers the formula uses (unused statics would trip -Wall users who export it), and
 * one expression per row, then its analytic gradient (objective_grad), which the sandbox
 * checks against central differences before it trains with it. Only math functions on the
 * sandbox's allow-list appear. A genome whose terms and modifiers all predate the literature
 * grammar (GRAMMAR.md) renders its objective exactly as before, so archived code and new
 * renders of the same genome still match. */
#include "evolve.h"

#include "sandbox/sandbox.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

/* Helper bodies, emitted on demand. */
enum {
    H_LOG1PEXP,
    H_SIGMOID,
    H_BLEND,
    H_LOGISTIC,
    H_HINGE,
    H_EXP,
    H_SQ,
    H_SIGM,
    H_LSE,
    H_LS,
    H_SQERR,
    H_FOCAL,
    H_GCE,
    H_RCE,
    H_DFOCAL,
    /* the literature grammar */
    H_ROBUST,
    H_BCO,
    H_DLOGISTIC,
    H_DHINGE,
    H_DEXP,
    H_DSQ,
    H_DSIGM,
    H_DROBUST,
    H_ZT,
    H_LSEM,
    H_LSM,
    H_SQERRM,
    H_SNLL,
    H_NCE,
    H_MAE,
    H_TAYLOR,
    H_DTAYLOR,
    H_POLY,
    H_ENT,
    H_MAXLP,
    H_AOT,
    H_DAOT,
    H_FWD,
    H_COUNT
};

static const char *HELPERS[H_COUNT] = {
    [H_LOG1PEXP] = "/* log(1 + e^z) without overflow. */\n"
                   "static double log1pexp(double z) { return z > 0.0 ? z + log1p(exp(-z)) : "
                   "log1p(exp(z)); }\n",
    [H_SIGMOID] = "static double sigmoid(double z)\n{\n"
                  "    if (z >= 0.0) return 1.0 / (1.0 + exp(-z));\n"
                  "    double e = exp(z);\n    return e / (1.0 + e);\n}\n",
    [H_BLEND] =
        "/* (1 - w)·a + w·b */\n"
        "static double blend(double w, double a, double b) { return (1.0 - w) * a + w * b; }\n",
    [H_LOGISTIC] = "static double f_logistic(double x, double a) { return log1pexp(-a * x); }\n",
    [H_HINGE] = "static double f_hinge(double x, double m) { return fmax(0.0, m - x); }\n",
    [H_EXP] = "/* e^(-a·x); the exponent is capped at 50 so absurd margins stay finite. */\n"
              "static double f_exp(double x, double a) { return exp(fmin(-a * x, 50.0)); }\n",
    [H_SQ] = "static double f_sq(double x, double c, double beta)\n{\n"
             "    double d = (x - c) / beta;\n    return d * d;\n}\n",
    [H_SIGM] = "static double f_sigm(double x, double a) { return sigmoid(-a * x); }\n",
    [H_LSE] = "/* log-sum-exp of the row's logits divided by t, max subtracted first. */\n"
              "static double lse_row(const double *z, int k, double t)\n{\n"
              "    double mx = z[0] / t;\n"
              "    for (int j = 1; j < k; j++) mx = fmax(mx, z[j] / t);\n"
              "    double s = 0.0;\n"
              "    for (int j = 0; j < k; j++) s += exp(z[j] / t - mx);\n"
              "    return mx + log(s);\n}\n",
    [H_LS] = "/* (1 - e)·(-log p_y) + e·mean_j(-log p_j) */\n"
             "static double c_ls(const double *z, int k, double t, double lse, double lpy, double "
             "e)\n{\n"
             "    double s = 0.0;\n"
             "    for (int j = 0; j < k; j++) s += lse - z[j] / t;\n"
             "    return (1.0 - e) * -lpy + e * s / k;\n}\n",
    [H_SQERR] = "/* sum_j (p_j - [j = y])^2 */\n"
                "static double c_sqerr(const double *z, int k, int y, double t, double lse)\n{\n"
                "    double s = 0.0;\n"
                "    for (int j = 0; j < k; j++) {\n"
                "        double d = exp(z[j] / t - lse) - (j == y ? 1.0 : 0.0);\n"
                "        s += d * d;\n    }\n    return s;\n}\n",
    [H_FOCAL] =
        "static double c_focal(double lpy, double g) { return -pow(-expm1(lpy), g) * lpy; }\n",
    [H_GCE] = "static double c_gce(double lpy, double q) { return -expm1(q * lpy) / q; }\n",
    [H_RCE] = "/* -log(1e-4)·(1 - p_y) */\n"
              "static double c_rce(double lpy) { return 9.210340371976184 * -expm1(lpy); }\n",
    [H_DFOCAL] = "/* d c_focal / d log p_y = g·(1 - p)^(g-1)·p·lpy - (1 - p)^g, p = p_y; the first\n"
                 " * term tends to 0 as p -> 1 for every g > 0 (also g < 1, where pow would give\n"
                 " * inf·0) */\n"
                 "static double d_focal(double lpy, double g)\n{\n"
                 "    double om = -expm1(lpy), p = exp(lpy);\n"
                 "    double a = om > 0.0 ? g * pow(om, g - 1.0) * p * lpy : 0.0;\n"
                 "    return a - pow(om, g);\n}\n",
    [H_ROBUST] = "/* robust DPO: ((1 - e)·log(1 + e^-x) - e·log(1 + e^x)) / (1 - 2e) */\n"
                 "static double f_robust(double x, double e)\n{\n"
                 "    return ((1.0 - e) * log1pexp(-x) - e * log1pexp(x)) / (1.0 - 2.0 * e);\n}\n",
    [H_BCO] = "/* BCO-pair: each response's reward against the batch mean delta */\n"
              "static double f_bco(double uw, double ul, double delta)\n{\n"
              "    return log1pexp(-(uw - delta)) + log1pexp(ul - delta);\n}\n",
    [H_DLOGISTIC] =
        "static double d_logistic(double x, double a) { return -a * sigmoid(-a * x); }\n",
    [H_DHINGE] = "/* at the kink the slope central differences see: -1/2 */\n"
                 "static double d_hinge(double x, double m)\n{\n"
                 "    double d = m - x;\n"
                 "    return d > 0.0 ? -1.0 : d < 0.0 ? 0.0 : -0.5;\n}\n",
    [H_DEXP] = "static double d_exp(double x, double a) { return -a * x < 50.0 ? -a * exp(-a * x) : "
               "0.0; }\n",
    [H_DSQ] = "static double d_sq(double x, double c, double beta) { return 2.0 * (x - c) / (beta * "
              "beta); }\n",
    [H_DSIGM] = "static double d_sigm(double x, double a)\n{\n"
                "    double s = sigmoid(-a * x);\n    return -a * s * (1.0 - s);\n}\n",
    [H_DROBUST] = "static double d_robust(double x, double e)\n{\n"
                  "    return (-(1.0 - e) * sigmoid(-x) - e * sigmoid(x)) / (1.0 - 2.0 * e);\n}\n",
    [H_ZT] = "/* logit j over t, the label's lowered by the margin mg first */\n"
             "static double zt(const double *z, int j, int y, double t, double mg)\n{\n"
             "    return (z[j] - (j == y ? mg : 0.0)) / t;\n}\n",
    [H_LSEM] = "/* log-sum-exp of the row's margin-adjusted logits over t, max subtracted first. */\n"
               "static double lse_row_m(const double *z, int k, int y, double t, double mg)\n{\n"
               "    double mx = zt(z, 0, y, t, mg);\n"
               "    for (int j = 1; j < k; j++) mx = fmax(mx, zt(z, j, y, t, mg));\n"
               "    double s = 0.0;\n"
               "    for (int j = 0; j < k; j++) s += exp(zt(z, j, y, t, mg) - mx);\n"
               "    return mx + log(s);\n}\n",
    [H_LSM] = "/* (1 - e)·(-log p_y) + e·mean_j(-log p_j) */\n"
              "static double c_ls_m(const double *z, int k, int y, double t, double mg, double lse,\n"
              "                     double lpy, double e)\n{\n"
              "    double s = 0.0;\n"
              "    for (int j = 0; j < k; j++) s += lse - zt(z, j, y, t, mg);\n"
              "    return (1.0 - e) * -lpy + e * s / k;\n}\n",
    [H_SQERRM] = "/* sum_j (p_j - [j = y])^2 */\n"
                 "static double c_sqerr_m(const double *z, int k, int y, double t, double mg, double "
                 "lse)\n{\n"
                 "    double s = 0.0;\n"
                 "    for (int j = 0; j < k; j++) {\n"
                 "        double d = exp(zt(z, j, y, t, mg) - lse) - (j == y ? 1.0 : 0.0);\n"
                 "        s += d * d;\n    }\n    return s;\n}\n",
    [H_SNLL] = "/* sum_j -log p_j, the normalizer of NCE */\n"
               "static double sum_nll(const double *z, int k, int y, double t, double mg, double "
               "lse)\n{\n"
               "    double s = 0.0;\n"
               "    for (int j = 0; j < k; j++) s += lse - zt(z, j, y, t, mg);\n"
               "    return s;\n}\n",
    [H_NCE] = "/* normalized CE: -log p_y / sum_j -log p_j */\n"
              "static double c_nce(double lpy, double snll) { return -lpy / snll; }\n",
    [H_MAE] = "/* sum_j |p_j - [j = y]| = 2·(1 - p_y) */\n"
              "static double c_mae(double lpy) { return -2.0 * expm1(lpy); }\n",
    [H_TAYLOR] = "/* Taylor CE: sum_{i=1..order} (1 - p_y)^i / i */\n"
                 "static double c_taylor(double lpy, int order)\n{\n"
                 "    double om = -expm1(lpy), pw = 1.0, s = 0.0;\n"
                 "    for (int i = 1; i <= order; i++) {\n"
                 "        pw *= om;\n        s += pw / i;\n    }\n    return s;\n}\n",
    [H_DTAYLOR] = "/* d c_taylor / d log p_y = -p_y·sum_{i=1..order} (1 - p_y)^(i-1) */\n"
                  "static double d_taylor(double lpy, int order)\n{\n"
                  "    double om = -expm1(lpy), pw = 1.0, s = 0.0;\n"
                  "    for (int i = 1; i <= order; i++) {\n"
                  "        s += pw;\n        pw *= om;\n    }\n    return -exp(lpy) * s;\n}\n",
    [H_FWD] = "/* forward correction (Patrini et al. 2017) for symmetric noise e: the probability\n"
              " * of the observed label when a share e of labels are moved to a uniform other\n"
              " * class is b + a·p_y; the loss is its -log, and d(loss)/d log p_y its slope. */\n"
              "static void fwd_ab(double e, int k, double *a, double *b)\n{\n"
              "    *b = k > 1 ? e / (k - 1) : 0.0;\n"
              "    *a = fmax(1.0 - e - *b, 1e-6);\n}\n"
              "static double c_fwd(double lpy, double e, int k)\n{\n"
              "    double a, b;\n    fwd_ab(e, k, &a, &b);\n"
              "    return -log(b + a * exp(lpy));\n}\n"
              "static double d_fwd(double lpy, double e, int k)\n{\n"
              "    double a, b;\n    fwd_ab(e, k, &a, &b);\n"
              "    double ap = a * exp(lpy);\n    return -ap / (b + ap);\n}\n",
    [H_POLY] = "/* Poly-1: -log p_y + e·(1 - p_y) */\n"
               "static double c_poly(double lpy, double e) { return -lpy - e * expm1(lpy); }\n",
    [H_ENT] = "/* the entropy of p: -sum_j p_j·log p_j */\n"
              "static double ent_row(const double *z, int k, int y, double t, double mg, double "
              "lse)\n{\n"
              "    double h = 0.0;\n"
              "    for (int j = 0; j < k; j++) {\n"
              "        double lp = zt(z, j, y, t, mg) - lse;\n"
              "        h -= exp(lp) * lp;\n    }\n    return h;\n}\n",
    [H_MAXLP] = "/* the largest margin-adjusted logit over t (the prediction hard bootstrapping\n"
                " * uses as its target) and how many logits share it */\n"
                "static double max_zt(const double *z, int k, int y, double t, double mg, int "
                "*ties)\n{\n"
                "    double mx = zt(z, 0, y, t, mg);\n"
                "    for (int j = 1; j < k; j++) mx = fmax(mx, zt(z, j, y, t, mg));\n"
                "    *ties = 0;\n"
                "    for (int j = 0; j < k; j++) *ties += zt(z, j, y, t, mg) == mx;\n"
                "    return mx;\n}\n",
    [H_AOT] = "/* AOT (TRL aot / aot_pair): the two sides' keys sorted separately, the logistic loss\n"
              " * of their difference rank by rank, averaged over the batch; batches larger than\n"
              " * AOT_CHUNK pairs are sorted in chunks of that many (a scratch array per side). */\n"
              "#define AOT_CHUNK 4096\n"
              "static void aot_sift(double *v, int i, int n)\n{\n"
              "    for (;;) {\n"
              "        int c = 2 * i + 1;\n"
              "        if (c >= n) return;\n"
              "        if (c + 1 < n && v[c + 1] > v[c]) c++;\n"
              "        if (v[i] >= v[c]) return;\n"
              "        double tmp = v[i];\n        v[i] = v[c];\n        v[c] = tmp;\n"
              "        i = c;\n    }\n}\n\n"
              "/* heapsort, ascending */\n"
              "static void aot_sort(double *v, int n)\n{\n"
              "    for (int i = n / 2 - 1; i >= 0; i--) aot_sift(v, i, n);\n"
              "    for (int e = n - 1; e > 0; e--) {\n"
              "        double tmp = v[0];\n        v[0] = v[e];\n        v[e] = tmp;\n"
              "        aot_sift(v, 0, e);\n    }\n}\n\n"
              "/* the sorted keys of the chunk starting at pair i0 (m pairs) */\n"
              "static void aot_keys(const pref_batch *b, int i0, int m, int pair, double *s, double *t)\n{\n"
              "    for (int i = 0; i < m; i++) {\n"
              "        s[i] = aot_key(b, i0 + i, pair, 0);\n"
              "        t[i] = aot_key(b, i0 + i, pair, 1);\n    }\n"
              "    aot_sort(s, m);\n    aot_sort(t, m);\n}\n\n"
              "static double aot_mean(const pref_batch *b, int pair)\n{\n"
              "    double s[AOT_CHUNK], t[AOT_CHUNK], sum = 0.0;\n"
              "    for (int i0 = 0; i0 < b->n; i0 += AOT_CHUNK) {\n"
              "        int m = b->n - i0 < AOT_CHUNK ? b->n - i0 : AOT_CHUNK;\n"
              "        aot_keys(b, i0, m, pair, s, t);\n"
              "        for (int r = 0; r < m; r++) sum += log1pexp(-(s[r] - t[r]));\n"
              "    }\n"
              "    return sum / b->n;\n}\n",
    [H_DAOT] = "/* The ranks a key's tie group spans in a sorted chunk. */\n"
               "static void aot_span(const double *v, int m, double key, int *lo, int *hi)\n{\n"
               "    int a = 0, z = m;\n"
               "    while (a < z) {\n"
               "        int c = (a + z) / 2;\n"
               "        if (v[c] < key) a = c + 1; else z = c;\n    }\n"
               "    *lo = a;\n    z = m;\n"
               "    while (a < z) {\n"
               "        int c = (a + z) / 2;\n"
               "        if (v[c] <= key) a = c + 1; else z = c;\n    }\n"
               "    *hi = a - 1;\n}\n\n"
               "/* Adds coef · d(n·aot_mean)/d log-probs to dc and dr. A key in a tie group spanning\n"
               " * ranks lo..hi gets the mean of the slopes at lo and hi: what central differences\n"
               " * see there (moving it up puts it at hi, down at lo). */\n"
               "static void aot_add_grad(const pref_batch *b, int pair, double coef, double *dc, double *dr)\n{\n"
               "    double s[AOT_CHUNK], t[AOT_CHUNK];\n"
               "    for (int i0 = 0; i0 < b->n; i0 += AOT_CHUNK) {\n"
               "        int m = b->n - i0 < AOT_CHUNK ? b->n - i0 : AOT_CHUNK;\n"
               "        aot_keys(b, i0, m, pair, s, t);\n"
               "        for (int i = 0; i < m; i++) {\n"
               "            int lo, hi, j = i0 + i;\n"
               "            aot_span(s, m, aot_key(b, j, pair, 0), &lo, &hi);\n"
               "            double gs = -0.5 * (sigmoid(t[lo] - s[lo]) + sigmoid(t[hi] - s[hi]));\n"
               "            if (pair) {\n"
               "                aot_span(t, m, aot_key(b, j, pair, 1), &lo, &hi);\n"
               "                double gt = 0.5 * (sigmoid(t[lo] - s[lo]) + sigmoid(t[hi] - s[hi]));\n"
               "                dc[j] += coef * gs * du_of(b, j, 0);\n"
               "                dr[j] += coef * gt * du_of(b, j, 1);\n"
               "            } else { /* the reference's side has no gradient */\n"
               "                dc[j] += coef * gs * aot_dkey(b, j, 0);\n"
               "                dr[j] -= coef * gs * aot_dkey(b, j, 1);\n"
               "            }\n"
               "        }\n    }\n}\n",
};

/* φ and φ' of the divergence (f-DPO): φ(r) = log σ(r) (Jensen-Shannon) or -e^(-A·r)/A
 * (alpha), the exponent capped at 50 as f_exp's. */
static void phi_helpers(const evolve_genome *g, int with_grad, dc_sb *o)
{
    if (g->div == EV_DIV_JS) {
        dc_sb_append(o, "/* f-DPO, Jensen-Shannon: phi(r) = log sigmoid(r) */\n"
                        "static double phi(double r) { return -log1pexp(-r); }\n\n");
        if (with_grad) dc_sb_append(o, "static double dphi(double r) { return sigmoid(-r); }\n\n");
    } else if (g->div == EV_DIV_ALPHA) {
        dc_sb_printf(o,
                     "/* f-DPO, alpha-divergence (A = %.4g): phi(r) = -e^(-A·r) / A */\n"
                     "static double phi(double r) { return -exp(fmin(-%.4g * r, 50.0)) / %.4g; }\n\n",
                     g->alpha, g->alpha, g->alpha);
        if (with_grad)
            dc_sb_printf(o,
                         "static double dphi(double r) { return -%.4g * r < 50.0 ? exp(-%.4g * r) : "
                         "0.0; }\n\n",
                         g->alpha, g->alpha);
    }
}

typedef struct {
    int need[H_COUNT];
    int need_mean, need_var;
    int need_delta;                      /* bco: the batch's mean implicit reward */
    int aot, aotp;                       /* the AOT terms (batch values) */
    int bmean, bvar;                     /* batch-statistic gates (their gradient terms) */
    int xleaf;                           /* some node reads x (a leaf of x or a sig gate) */
    int need_snll, need_ent, need_maxlp; /* classification row quantities */
    int zt;                              /* classification: the margin-aware logit helper */
} render_needs;

/* What the subtree at i needs; with_grad adds the derivative helpers objective_grad uses. */
static void collect(const evolve_genome *g, int i, int with_grad, render_needs *nd)
{
    const evolve_node *n = &g->node[i];
    int margin = g->iface == SBX_CLS && g->cmargin != 0.0;
    switch (n->op) {
    case EV_MIX:
        nd->need[H_BLEND] = 1;
        if (n->gate != EV_GATE_CONST) nd->need[H_SIGMOID] = 1;
        if (n->gate == EV_GATE_SIG) nd->xleaf = 1;
        if (n->gate == EV_GATE_BVAR) nd->need_mean = nd->need_var = nd->bvar = 1;
        if (n->gate == EV_GATE_BMEAN) nd->need_mean = nd->bmean = 1;
        collect(g, n->kid[0], with_grad, nd);
        collect(g, n->kid[1], with_grad, nd);
        break;
    case EV_LOGISTIC:
        nd->need[H_LOGISTIC] = nd->need[H_LOG1PEXP] = nd->xleaf = 1;
        if (with_grad) nd->need[H_DLOGISTIC] = nd->need[H_SIGMOID] = 1;
        break;
    case EV_HINGE:
        nd->need[H_HINGE] = nd->xleaf = 1;
        if (with_grad) nd->need[H_DHINGE] = 1;
        break;
    case EV_EXP:
        nd->need[H_EXP] = nd->xleaf = 1;
        if (with_grad) nd->need[H_DEXP] = 1;
        break;
    case EV_SQ:
        nd->need[H_SQ] = nd->xleaf = 1;
        if (with_grad) nd->need[H_DSQ] = 1;
        break;
    case EV_SIGM:
        nd->need[H_SIGM] = nd->need[H_SIGMOID] = nd->xleaf = 1;
        if (with_grad) nd->need[H_DSIGM] = 1;
        break;
    case EV_ROBUST:
        nd->need[H_ROBUST] = nd->need[H_LOG1PEXP] = nd->xleaf = 1;
        if (with_grad) nd->need[H_DROBUST] = nd->need[H_SIGMOID] = 1;
        break;
    case EV_BCO:
        nd->need[H_BCO] = nd->need[H_LOG1PEXP] = nd->need_delta = 1;
        if (with_grad) nd->need[H_SIGMOID] = 1;
        break;
    case EV_AOT:
    case EV_AOTP:
        nd->need[H_LOG1PEXP] = 1; /* H_AOT follows aot_key (render_pref) */
        if (n->op == EV_AOT) nd->aot = 1; else nd->aotp = 1;
        if (with_grad) nd->need[H_SIGMOID] = 1;
        break;
    case EV_LS:
        nd->need[margin ? H_LSM : H_LS] = 1;
        break;
    case EV_SQERR:
        nd->need[margin ? H_SQERRM : H_SQERR] = 1;
        break;
    case EV_FOCAL:
        nd->need[H_FOCAL] = nd->need[H_DFOCAL] = 1;
        break;
    case EV_GCE:
        nd->need[H_GCE] = 1;
        break;
    case EV_RCE:
        nd->need[H_RCE] = 1;
        break;
    case EV_NCE:
    case EV_NCERCE:
    case EV_NCEMAE:
        nd->need[H_NCE] = nd->need[H_SNLL] = nd->need_snll = nd->zt = 1;
        if (n->op == EV_NCERCE) nd->need[H_RCE] = 1;
        if (n->op == EV_NCEMAE) nd->need[H_MAE] = 1;
        break;
    case EV_MAE:
        nd->need[H_MAE] = 1;
        break;
    case EV_TAYLOR:
        nd->need[H_TAYLOR] = nd->need[H_DTAYLOR] = 1;
        break;
    case EV_POLY:
        nd->need[H_POLY] = 1;
        break;
    case EV_FWD:
        nd->need[H_FWD] = 1;
        break;
    case EV_SBOOT:
        nd->need[H_ENT] = nd->need_ent = nd->zt = 1;
        break;
    case EV_HBOOT:
        nd->need[H_MAXLP] = nd->need_maxlp = nd->zt = 1;
        break;
    default:
        break; /* EV_CE is inline */
    }
}

static void needs_of(const evolve_genome *g, int with_grad, render_needs *nd)
{
    memset(nd, 0, sizeof *nd);
    collect(g, 0, with_grad, nd);
    if (g->iface == SBX_CLS) {
        if (g->cmargin != 0.0) nd->zt = 1;
        nd->need[nd->zt && g->cmargin != 0.0 ? H_LSEM : H_LSE] = 1;
        if (nd->zt) nd->need[H_ZT] = 1;
    } else if (g->div == EV_DIV_JS) {
        nd->need[H_LOG1PEXP] = 1;
        if (with_grad) nd->need[H_SIGMOID] = 1;
    }
}

/* The per-row expression of the subtree at i. */
static void expr(const evolve_genome *g, int i, dc_sb *out)
{
    const evolve_node *n = &g->node[i];
    int margin = g->iface == SBX_CLS && g->cmargin != 0.0;
    switch (n->op) {
    case EV_MIX:
        if (n->gate == EV_GATE_CONST)
            dc_sb_printf(out, "blend(%.4g, ", n->p);
        else if (n->gate == EV_GATE_SIG)
            dc_sb_printf(out, "blend(sigmoid(x / %.4g), ", n->p);
        else if (n->gate == EV_GATE_BVAR)
            dc_sb_printf(out, "blend(sigmoid(var / (%.4g * %.4g)), ", n->p, n->p);
        else
            dc_sb_printf(out, "blend(sigmoid(mean / %.4g), ", n->p);
        expr(g, n->kid[0], out);
        dc_sb_append(out, ", ");
        expr(g, n->kid[1], out);
        dc_sb_append(out, ")");
        break;
    case EV_LOGISTIC:
        dc_sb_printf(out, "f_logistic(x, %.4g)", n->p);
        break;
    case EV_HINGE:
        dc_sb_printf(out, "f_hinge(x, %.4g)", n->p);
        break;
    case EV_EXP:
        dc_sb_printf(out, "f_exp(x, %.4g)", n->p);
        break;
    case EV_SQ:
        dc_sb_printf(out, "f_sq(x, %.4g, b->beta)", n->p);
        break;
    case EV_SIGM:
        dc_sb_printf(out, "f_sigm(x, %.4g)", n->p);
        break;
    case EV_ROBUST:
        dc_sb_printf(out, "f_robust(x, %.4g)", n->p);
        break;
    case EV_BCO:
        dc_sb_append(out, "f_bco(uw, ul, delta)");
        break;
    case EV_AOT:
        dc_sb_append(out, "a_aot");
        break;
    case EV_AOTP:
        dc_sb_append(out, "a_aotp");
        break;
    case EV_CE:
        dc_sb_append(out, "-lpy");
        break;
    case EV_LS:
        if (margin)
            dc_sb_printf(out, "c_ls_m(z, k, y, t, mg, lse, lpy, %.4g)", n->p);
        else
            dc_sb_printf(out, "c_ls(z, k, t, lse, lpy, %.4g)", n->p);
        break;
    case EV_SQERR:
        dc_sb_append(out, margin ? "c_sqerr_m(z, k, y, t, mg, lse)" : "c_sqerr(z, k, y, t, lse)");
        break;
    case EV_FOCAL:
        dc_sb_printf(out, "c_focal(lpy, %.4g)", n->p);
        break;
    case EV_GCE:
        dc_sb_printf(out, "c_gce(lpy, %.4g)", n->p);
        break;
    case EV_RCE:
        dc_sb_append(out, "c_rce(lpy)");
        break;
    case EV_NCE:
        dc_sb_append(out, "c_nce(lpy, snll)");
        break;
    case EV_MAE:
        dc_sb_append(out, "c_mae(lpy)");
        break;
    case EV_NCERCE:
        dc_sb_printf(out, "(c_nce(lpy, snll) + %.4g * c_rce(lpy))", n->p);
        break;
    case EV_NCEMAE:
        dc_sb_printf(out, "(c_nce(lpy, snll) + %.4g * c_mae(lpy))", n->p);
        break;
    case EV_TAYLOR:
        dc_sb_printf(out, "c_taylor(lpy, %d)", (int)n->p);
        break;
    case EV_POLY:
        dc_sb_printf(out, "c_poly(lpy, %.4g)", n->p);
        break;
    case EV_FWD:
        dc_sb_printf(out, "c_fwd(lpy, %.4g, k)", n->p);
        break;
    case EV_SBOOT:
        dc_sb_printf(out, "(%.4g * -lpy + (1.0 - %.4g) * ent)", n->p, n->p);
        break;
    case EV_HBOOT:
        dc_sb_printf(out, "(%.4g * -lpy - (1.0 - %.4g) * (mx - lse))", n->p, n->p);
        break;
    default:
        break;
    }
}

/* ---- preference ---- */

/* The log-ratio of one side of pair i as C text (per-token averaged when norm=avg). */
static void side_ratio(const evolve_genome *g, const char *side, dc_sb *o)
{
    if (g->ref)
        dc_sb_printf(o, "(b->%s_logps[i] - b->ref_%s_logps[i])", side, side);
    else
        dc_sb_printf(o, "b->%s_logps[i]", side);
    if (g->lennorm) dc_sb_printf(o, " / fmax(b->%s_lens[i], 1.0)", side);
}

static void render_x_of(const evolve_genome *g, dc_sb *o)
{
    dc_sb_append(o, "/* x of row i before batch centring: s·β·ρ − m */\n"
                    "static double x_of(const pref_batch *b, int i)\n{\n");
    if (g->div != EV_DIV_RKL) {
        /* ρ = φ(r_w) − φ(r_l) */
        dc_sb_append(o, "    double rw = ");
        side_ratio(g, "chosen", o);
        dc_sb_append(o, ";\n    double rl = ");
        side_ratio(g, "rejected", o);
        dc_sb_append(o, ";\n    double rho = phi(rw) - phi(rl);\n");
    } else {
        if (g->lennorm)
            dc_sb_append(o, "    double lw = fmax(b->chosen_lens[i], 1.0), ll = "
                            "fmax(b->rejected_lens[i], 1.0);\n");
        const char *dw = g->lennorm ? " / lw" : "", *dl = g->lennorm ? " / ll" : "";
        if (g->ref)
            dc_sb_printf(o,
                         "    double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i])%s -\n"
                         "                 (b->rejected_logps[i] - b->ref_rejected_logps[i])%s;\n",
                         dw, dl);
        else
            dc_sb_printf(o, "    double rho = b->chosen_logps[i]%s - b->rejected_logps[i]%s;\n", dw,
                         dl);
    }
    dc_sb_append(o, "    return ");
    if (g->scale != 1.0) dc_sb_printf(o, "%.4g * ", g->scale);
    dc_sb_append(o, "b->beta * rho");
    if (g->margin != 0.0) dc_sb_printf(o, " - (%.4g)", g->margin);
    dc_sb_append(o, ";\n}\n\n");
}

/* u of one response, s·β·φ(r): the implicit reward BCO compares with the batch mean; du_of
 * its derivative with respect to the response's log-prob (x = u_w − u_l − m, so it is also
 * the chain rule's last factor of every other term). */
static void render_u_of(const evolve_genome *g, int deriv, dc_sb *o)
{
    if (deriv)
        dc_sb_append(o, "/* d u_of / d its log-prob: the chain rule's last factor (x = u_w - u_l - m) "
                        "*/\nstatic double du_of(const pref_batch *b, int i, int rejected)\n{\n");
    else
        dc_sb_append(o, "/* u of one response, s·β·φ(log-ratio): its implicit reward */\n"
                        "static double u_of(const pref_batch *b, int i, int rejected)\n{\n");
    int need_r = !deriv || g->div != EV_DIV_RKL;
    if (need_r) {
        dc_sb_append(o, "    double r = rejected ? ");
        side_ratio(g, "rejected", o);
        dc_sb_append(o, "\n                        : ");
        side_ratio(g, "chosen", o);
        dc_sb_append(o, ";\n");
    }
    if (deriv && g->lennorm)
        dc_sb_append(o, "    double len = fmax(rejected ? b->rejected_lens[i] : b->chosen_lens[i], "
                        "1.0);\n");
    if (deriv && !need_r && !g->lennorm) dc_sb_append(o, "    (void)b, (void)i, (void)rejected;\n");
    dc_sb_append(o, "    return ");
    if (g->scale != 1.0) dc_sb_printf(o, "%.4g * ", g->scale);
    dc_sb_append(o, "b->beta");
    if (!deriv)
        dc_sb_append(o, g->div != EV_DIV_RKL ? " * phi(r)" : " * r");
    else if (g->div != EV_DIV_RKL)
        dc_sb_append(o, " * dphi(r)");
    if (deriv && g->lennorm) dc_sb_append(o, " / len");
    dc_sb_append(o, ";\n}\n\n");
}

/* The batch statistics both functions compute before their row loop. */
static void render_batch_stats(const evolve_genome *g, const render_needs *nd, dc_sb *o)
{
    if (nd->need_mean || g->centre != 0.0) {
        dc_sb_append(o, "    double mean = 0.0;\n"
                        "    for (int i = 0; i < b->n; i++) mean += x_of(b, i);\n"
                        "    mean /= b->n;\n");
    }
    if (nd->need_var) {
        dc_sb_append(o, "    double var = 0.0; /* sample variance of x over the batch */\n"
                        "    for (int i = 0; i < b->n; i++) {\n"
                        "        double d = x_of(b, i) - mean;\n"
                        "        var += d * d;\n    }\n"
                        "    var = b->n > 1 ? var / (b->n - 1) : 0.0;\n");
    }
    if (nd->need_delta)
        dc_sb_append(o, "    double delta = 0.0; /* BCO: the batch's mean implicit reward */\n"
                        "    for (int i = 0; i < b->n; i++) delta += u_of(b, i, 0) + u_of(b, i, 1);\n"
                        "    delta /= 2.0 * b->n;\n");
    if (nd->aot) dc_sb_append(o, "    double a_aot = aot_mean(b, 0); /* the same for every pair */\n");
    if (nd->aotp) dc_sb_append(o, "    double a_aotp = aot_mean(b, 1);\n");
}

static void render_row_x(const evolve_genome *g, const render_needs *nd, dc_sb *o)
{
    if (g->centre != 0.0)
        dc_sb_printf(o, "        double x = x_of(b, i) - %.4g * mean;\n", g->centre);
    else
        dc_sb_append(o, "        double x = x_of(b, i);\n");
    if (nd->need_delta) dc_sb_append(o, "        double uw = u_of(b, i, 0), ul = u_of(b, i, 1);\n");
    if (!nd->xleaf) dc_sb_append(o, "        (void)x;\n");
}

/* The keys AOT sorts, and (objective_grad) the derivative of aot's key. */
static void render_aot_key(const evolve_genome *g, dc_sb *o)
{
    dc_sb_append(o, "/* AOT's keys: pair = 1 (aot_pair) each side's u_of; pair = 0 (aot) the policy's\n"
                    " * chosen-minus-rejected log-prob (side 0) and the reference's (side 1), times s·β */\n"
                    "static double aot_key(const pref_batch *b, int i, int pair, int side)\n{\n");
    dc_sb_append(o, "    if (pair) return u_of(b, i, side);\n");
    if (g->lennorm)
        dc_sb_append(o, "    double lw = fmax(b->chosen_lens[i], 1.0), ll = fmax(b->rejected_lens[i], 1.0);\n");
    else
        dc_sb_append(o, "    double lw = 1.0, ll = 1.0;\n");
    char sc[32] = "";
    if (g->scale != 1.0) snprintf(sc, sizeof sc, "%.4g * ", g->scale);
    dc_sb_printf(o, "    if (side == 0) return %sb->beta * (b->chosen_logps[i] / lw - b->rejected_logps[i] / ll);\n", sc);
    if (g->ref)
        dc_sb_printf(o, "    return %sb->beta * (b->ref_chosen_logps[i] / lw - b->ref_rejected_logps[i] / ll);\n}\n\n", sc);
    else
        dc_sb_append(o, "    (void)lw, (void)ll;\n    return 0.0; /* no reference model */\n}\n\n");
}

static void render_aot_dkey(const evolve_genome *g, dc_sb *o)
{
    dc_sb_append(o, "/* d aot_key(pair 0, side 0) / d log π of that side (up to its sign) */\n"
                    "static double aot_dkey(const pref_batch *b, int i, int side)\n{\n");
    if (g->lennorm)
        dc_sb_append(o, "    double len = fmax(side ? b->rejected_lens[i] : b->chosen_lens[i], 1.0);\n");
    else
        dc_sb_append(o, "    (void)b, (void)i, (void)side;\n");
    dc_sb_append(o, "    return ");
    if (g->scale != 1.0) dc_sb_printf(o, "%.4g * ", g->scale);
    dc_sb_append(o, g->lennorm ? "b->beta / len;\n}\n\n" : "b->beta;\n}\n\n");
}

static void render_pref(const evolve_genome *g, const render_needs *nd, dc_sb *o)
{
    render_x_of(g, o);
    if (nd->need_delta || nd->aot || nd->aotp) render_u_of(g, 0, o);
    if (nd->aot || nd->aotp) {
        render_aot_key(g, o);
        dc_sb_printf(o, "%s\n", HELPERS[H_AOT]);
    }
    dc_sb_append(o, "void objective(const pref_batch *b, double *loss)\n{\n");
    render_batch_stats(g, nd, o);
    dc_sb_append(o, "    for (int i = 0; i < b->n; i++) {\n");
    render_row_x(g, nd, o);
    dc_sb_append(o, "        loss[i] = ");
    expr(g, 0, o);
    dc_sb_append(o, ";\n    }\n}\n");
}

/* Reverse-mode differentiation of the tree, one row at a time. Node j's statements set
 *   v_j  its value                      g_j  d v_j / d x (x after centring)
 *   m_j  d v_j / d mean (bmean gates)   q_j  d v_j / d var (bvar gates)
 *   pw_j, pl_j, pd_j  d v_j / d u_w, d u_l, d delta (bco)
 * (only the kinds the genome has). A mixture's weight w is constant, σ(x/τ) (its slope adds
 * w(1−w)/τ·(v_B − v_A) to g), σ(var/τ²) (to q) or σ(mean/τ) (to m). */
static void grad_node(const evolve_genome *g, int j, const render_needs *nd, dc_sb *o)
{
    const evolve_node *n = &g->node[j];
    if (n->op == EV_MIX) {
        int a = n->kid[0], c = n->kid[1];
        grad_node(g, a, nd, o);
        grad_node(g, c, nd, o);
        if (n->gate == EV_GATE_CONST)
            dc_sb_printf(o, "        double w%d = %.4g;\n", j, n->p);
        else if (n->gate == EV_GATE_SIG)
            dc_sb_printf(o, "        double w%d = sigmoid(x / %.4g);\n", j, n->p);
        else if (n->gate == EV_GATE_BVAR)
            dc_sb_printf(o, "        double w%d = sigmoid(var / (%.4g * %.4g));\n", j, n->p, n->p);
        else
            dc_sb_printf(o, "        double w%d = sigmoid(mean / %.4g);\n", j, n->p);
        dc_sb_printf(o, "        double v%d = blend(w%d, v%d, v%d);\n", j, j, a, c);
        /* the gate's own slope times (v_B − v_A), on the quantity it reads */
        char slope[96];
        if (n->gate == EV_GATE_BVAR)
            snprintf(slope, sizeof slope, " + w%d * (1.0 - w%d) / (%.4g * %.4g) * (v%d - v%d)", j,
                     j, n->p, n->p, c, a);
        else
            snprintf(slope, sizeof slope, " + w%d * (1.0 - w%d) / %.4g * (v%d - v%d)", j, j, n->p,
                     c, a);
        dc_sb_printf(o, "        double g%d = blend(w%d, g%d, g%d)%s;\n", j, j, a, c,
                     n->gate == EV_GATE_SIG ? slope : "");
        if (nd->bmean)
            dc_sb_printf(o, "        double m%d = blend(w%d, m%d, m%d)%s;\n", j, j, a, c,
                         n->gate == EV_GATE_BMEAN ? slope : "");
        if (nd->bvar)
            dc_sb_printf(o, "        double q%d = blend(w%d, q%d, q%d)%s;\n", j, j, a, c,
                         n->gate == EV_GATE_BVAR ? slope : "");
        if (nd->need_delta)
            dc_sb_printf(o,
                         "        double pw%d = blend(w%d, pw%d, pw%d), pl%d = blend(w%d, pl%d, "
                         "pl%d), pd%d = blend(w%d, pd%d, pd%d);\n",
                         j, j, a, c, j, j, a, c, j, j, a, c);
        if (nd->aot) dc_sb_printf(o, "        double pa%d = blend(w%d, pa%d, pa%d);\n", j, j, a, c);
        if (nd->aotp) dc_sb_printf(o, "        double pp%d = blend(w%d, pp%d, pp%d);\n", j, j, a, c);
        return;
    }
    if (n->op == EV_BCO) {
        dc_sb_printf(o, "        double v%d = f_bco(uw, ul, delta), g%d = 0.0;\n", j, j);
        dc_sb_printf(o, "        double pw%d = -sigmoid(delta - uw), pl%d = sigmoid(ul - delta);\n",
                     j, j);
        dc_sb_printf(o, "        double pd%d = -(pw%d + pl%d);\n", j, j, j);
    } else if (n->op == EV_AOT || n->op == EV_AOTP) {
        /* a batch value: its adjoint (pa, pp) is summed over the rows, then aot_add_grad */
        dc_sb_printf(o, "        double v%d = %s, g%d = 0.0;\n", j, n->op == EV_AOT ? "a_aot" : "a_aotp", j);
        if (nd->need_delta)
            dc_sb_printf(o, "        double pw%d = 0.0, pl%d = 0.0, pd%d = 0.0;\n", j, j, j);
    } else {
        static const char *const name[EV_NOPS] = {[EV_LOGISTIC] = "logistic", [EV_HINGE] = "hinge",
                                                  [EV_EXP] = "exp",           [EV_SQ] = "sq",
                                                  [EV_SIGM] = "sigm",         [EV_ROBUST] = "robust"};
        const char *beta = n->op == EV_SQ ? ", b->beta" : "";
        dc_sb_printf(o, "        double v%d = f_%s(x, %.4g%s), g%d = d_%s(x, %.4g%s);\n", j,
                     name[n->op], n->p, beta, j, name[n->op], n->p, beta);
        if (nd->need_delta)
            dc_sb_printf(o, "        double pw%d = 0.0, pl%d = 0.0, pd%d = 0.0;\n", j, j, j);
    }
    if (nd->bmean) dc_sb_printf(o, "        double m%d = 0.0;\n", j);
    if (nd->bvar) dc_sb_printf(o, "        double q%d = 0.0;\n", j);
    if (nd->aot) dc_sb_printf(o, "        double pa%d = %s;\n", j, n->op == EV_AOT ? "1.0" : "0.0");
    if (nd->aotp) dc_sb_printf(o, "        double pp%d = %s;\n", j, n->op == EV_AOTP ? "1.0" : "0.0");
}

/* objective_grad for a preference genome: the losses of objective, and d Σloss / d input by
 * the chain rule: per row through x (and u_w, u_l for bco), then the batch statistics
 * (centring and bmean through the mean, bvar through the variance, bco through delta), then
 * du_of. The sandbox checks it against central differences before using it. */
static void render_pref_grad(const evolve_genome *g, const render_needs *ln, dc_sb *o)
{
    render_needs nd;
    needs_of(g, 1, &nd);
    dc_sb_append(o, "\n/* The analytic gradient (see discover_objective.h): the sandbox checks it against\n"
                    " * central differences, then trains with it. */\n");
    for (int h = 0; h < H_COUNT; h++)
        if (nd.need[h] && !ln->need[h]) dc_sb_printf(o, "%s\n", HELPERS[h]);
    if (g->div == EV_DIV_JS)
        dc_sb_append(o, "static double dphi(double r) { return sigmoid(-r); }\n\n");
    else if (g->div == EV_DIV_ALPHA)
        dc_sb_printf(o,
                     "static double dphi(double r) { return -%.4g * r < 50.0 ? exp(-%.4g * r) : "
                     "0.0; }\n\n",
                     g->alpha, g->alpha);
    render_u_of(g, 1, o);
    if (nd.aot || nd.aotp) render_aot_dkey(g, o); // aot_add_grad names it either way
    if (nd.aot || nd.aotp) dc_sb_printf(o, "%s\n", HELPERS[H_DAOT]);
    dc_sb_append(o, "void objective_grad(const pref_batch *b, double *loss, double *d_chosen,\n"
                    "                    double *d_rejected)\n{\n");
    render_batch_stats(g, &nd, o);
    dc_sb_append(o, "    double sgx = 0.0, sm = 0.0, sv = 0.0, sd = 0.0; /* batch sums of the "
                    "row adjoints */\n");
    if (nd.aot) dc_sb_append(o, "    double sa = 0.0;\n");
    if (nd.aotp) dc_sb_append(o, "    double sp = 0.0;\n");
    dc_sb_append(o, "    for (int i = 0; i < b->n; i++) {\n");
    render_row_x(g, &nd, o);
    grad_node(g, 0, &nd, o);
    dc_sb_append(o, "        loss[i] = v0;\n");
    dc_sb_printf(o, "        d_chosen[i] = g0%s;\n", nd.need_delta ? " + pw0" : "");
    dc_sb_printf(o, "        d_rejected[i] = -g0%s;\n", nd.need_delta ? " + pl0" : "");
    dc_sb_printf(o, "        sgx += g0;%s%s%s%s%s\n", nd.bmean ? " sm += m0;" : "",
                 nd.bvar ? " sv += q0;" : "", nd.need_delta ? " sd += pd0;" : "",
                 nd.aot ? " sa += pa0;" : "", nd.aotp ? " sp += pp0;" : "");
    dc_sb_append(o, "    }\n    (void)sgx, (void)sm, (void)sv, (void)sd;\n"
                    "    for (int i = 0; i < b->n; i++) {\n"
                    "        double gx = 0.0, gu = 0.0; /* through the batch statistics */\n");
    if (g->centre != 0.0) dc_sb_printf(o, "        gx -= %.4g * sgx / b->n;\n", g->centre);
    if (nd.bmean) dc_sb_append(o, "        gx += sm / b->n;\n");
    if (nd.bvar)
        dc_sb_append(o, "        if (b->n > 1) gx += 2.0 * sv * (x_of(b, i) - mean) / (b->n - 1);\n");
    if (nd.need_delta) dc_sb_append(o, "        gu = sd / (2.0 * b->n);\n");
    dc_sb_append(o, "        d_chosen[i] = (d_chosen[i] + gx + gu) * du_of(b, i, 0);\n"
                    "        d_rejected[i] = (d_rejected[i] - gx + gu) * du_of(b, i, 1);\n"
                    "    }\n");
    if (nd.aot) dc_sb_append(o, "    aot_add_grad(b, 0, sa / b->n, d_chosen, d_rejected);\n");
    if (nd.aotp) dc_sb_append(o, "    aot_add_grad(b, 1, sp / b->n, d_chosen, d_rejected);\n");
    dc_sb_append(o, "}\n");
}

/* ---- classification ---- */

/* The classification loss is a constant-weight mixture (classification mixes have only the
 * mix(w:W,...) gate), so it is Σ_leaf coef·leaf and its gradient the same sum of the leaves'
 * gradients. Each leaf is a function of log p_y (ce, focal, gce, rce, mae, taylor, poly, fwd), of
 * the whole of p (ls, sqerr, the entropy of sboot, the argmax of hboot) or both (nce), and
 * d/dz_c of those pieces, with p = softmax(z'/t), are
 *   log p_y:             ([c = y] − p_c) / t                     (coefficient a: dloss/dlog p_y)
 *   mean_j(−log p_j):    (p_c − 1/k) / t                         (coefficient els)
 *   Σ_j (p_j − [j=y])²:  2 p_c ((p_c − [c=y]) − (Σ_j p_j² − p_y)) / t   (coefficient ssq)
 *   H(p):                −p_c (log p_c + H) / t                  (coefficient sh)
 *   −max_j log p_j:      (p_c − h_c) / t, h_c = 1 at the argmax, 1/2 on each of several tied
 *                        maxima (what central differences see there)   (coefficient hb)
 * and NCE = L_y / S (L_y = −log p_y, S = Σ_j −log p_j) adds −1/S to a and k·log p_y/S² to
 * els. Emits the statements that add one leaf's share. */
static void grad_terms(const evolve_genome *g, int i, double coef, dc_sb *o, int *need_sq)
{
    const evolve_node *n = &g->node[i];
    switch (n->op) {
    case EV_MIX:
        grad_terms(g, n->kid[0], coef * (1.0 - n->p), o, need_sq);
        grad_terms(g, n->kid[1], coef * n->p, o, need_sq);
        break;
    case EV_CE:
        dc_sb_printf(o, "        a += %.17g * -1.0;\n", coef);
        break;
    case EV_LS:
        dc_sb_printf(o, "        a += %.17g * -(1.0 - %.4g);\n        els += %.17g * %.4g;\n", coef,
                     n->p, coef, n->p);
        break;
    case EV_SQERR:
        dc_sb_printf(o, "        ssq += %.17g;\n", coef);
        *need_sq = 1;
        break;
    case EV_FOCAL:
        dc_sb_printf(o, "        a += %.17g * d_focal(lpy, %.4g);\n", coef, n->p);
        break;
    case EV_GCE:
        dc_sb_printf(o, "        a += %.17g * -exp(%.4g * lpy);\n", coef, n->p);
        break;
    case EV_RCE:
        dc_sb_printf(o, "        a += %.17g * -9.210340371976184 * exp(lpy);\n", coef);
        break;
    case EV_NCE:
    case EV_NCERCE:
    case EV_NCEMAE:
        dc_sb_printf(o, "        a += %.17g * (-1.0 / snll);\n"
                        "        els += %.17g * (k * lpy / (snll * snll));\n", coef, coef);
        if (n->op == EV_NCERCE)
            dc_sb_printf(o, "        a += %.17g * %.4g * -9.210340371976184 * exp(lpy);\n", coef, n->p);
        if (n->op == EV_NCEMAE)
            dc_sb_printf(o, "        a += %.17g * %.4g * -2.0 * exp(lpy);\n", coef, n->p);
        break;
    case EV_MAE:
        dc_sb_printf(o, "        a += %.17g * -2.0 * exp(lpy);\n", coef);
        break;
    case EV_TAYLOR:
        dc_sb_printf(o, "        a += %.17g * d_taylor(lpy, %d);\n", coef, (int)n->p);
        break;
    case EV_POLY:
        dc_sb_printf(o, "        a += %.17g * (-1.0 - %.4g * exp(lpy));\n", coef, n->p);
        break;
    case EV_FWD:
        dc_sb_printf(o, "        a += %.17g * d_fwd(lpy, %.4g, k);\n", coef, n->p);
        break;
    case EV_SBOOT:
        dc_sb_printf(o, "        a += %.17g * -%.4g;\n        sh += %.17g * (1.0 - %.4g);\n", coef,
                     n->p, coef, n->p);
        break;
    case EV_HBOOT:
        dc_sb_printf(o, "        a += %.17g * -%.4g;\n        hb += %.17g * (1.0 - %.4g);\n", coef,
                     n->p, coef, n->p);
        break;
    default:
        break;
    }
}

/* The first lines of a classification row: logits, label, log-sum-exp, log p_y and the row
 * quantities the terms read. */
static void cls_row_head(const evolve_genome *g, const render_needs *nd, int grad, dc_sb *o)
{
    int margin = g->cmargin != 0.0;
    dc_sb_append(o, "        const double *z = logits + (long)i * k; // (k,)\n");
    if (grad) dc_sb_append(o, "        double *dz = d_logits + (long)i * k;    // (k,)\n");
    dc_sb_append(o, "        int y = labels[i];\n");
    dc_sb_append(o, margin ? "        double lse = lse_row_m(z, k, y, t, mg);\n"
                           : "        double lse = lse_row(z, k, t);\n");
    if (margin)
        dc_sb_append(o, "        double lpy = zt(z, y, y, t, mg) - lse; /* log p_y */\n");
    else
        dc_sb_append(o, grad ? "        double lpy = z[y] / t - lse;\n"
                             : "        double lpy = z[y] / t - lse; /* log p_y */\n");
    if (nd->need_snll) dc_sb_append(o, "        double snll = sum_nll(z, k, y, t, mg, lse);\n");
    if (nd->need_ent) dc_sb_append(o, "        double ent = ent_row(z, k, y, t, mg, lse);\n");
    if (nd->need_maxlp)
        dc_sb_append(o, "        int ties;\n        double mx = max_zt(z, k, y, t, mg, &ties);\n");
}

/* objective_grad for a classification genome: the same loss expression, plus its gradient
 * (grad_terms). The sandbox checks it against central differences before using it. */
static void render_cls_grad(const evolve_genome *g, const render_needs *nd, dc_sb *o)
{
    dc_sb_append(o, "\n/* The analytic gradient (see discover_objective.h): the sandbox checks it against\n"
                    " * central differences, then trains with it. */\n"
                    "void objective_grad(int n, int k, const double *logits, const int *labels, "
                    "double *loss,\n                    double *d_logits)\n{\n");
    dc_sb_printf(o, "    const double t = %.4g;\n", g->temp);
    if (nd->zt) dc_sb_printf(o, "    const double mg = %.4g;\n", g->cmargin);
    dc_sb_append(o, "    for (int i = 0; i < n; i++) {\n");
    cls_row_head(g, nd, 1, o);
    dc_sb_append(o, "        (void)y;\n        (void)lpy;\n"
                    "        loss[i] = ");
    expr(g, 0, o);
    dc_sb_append(o, ";\n        double a = 0.0, els = 0.0, ssq = 0.0, sp2 = 0.0;\n");
    if (nd->need_ent) dc_sb_append(o, "        double sh = 0.0;\n");
    if (nd->need_maxlp) dc_sb_append(o, "        double hb = 0.0;\n");
    dc_sb tail = {0};
    int need_sq = 0;
    grad_terms(g, 0, 1.0, &tail, &need_sq);
    dc_sb_append(o, tail.data ? tail.data : "");
    dc_sb_free(&tail);
    const char *zc = g->cmargin != 0.0 ? "zt(z, j, y, t, mg)" : "z[j] / t";
    if (need_sq)
        dc_sb_printf(o, "        for (int j = 0; j < k; j++) {\n"
                        "            double p = exp(%s - lse);\n"
                        "            sp2 += p * p;\n        }\n", zc);
    dc_sb_printf(o, "        double py = exp(lpy);\n"
                    "        (void)py;\n"
                    "        for (int c = 0; c < k; c++) {\n"
                    "            double p = exp(%s - lse), on = c == y ? 1.0 : 0.0;\n"
                    "            dz[c] = (a * (on - p) + els * (p - 1.0 / k) +\n"
                    "                     ssq * 2.0 * p * ((p - on) - (sp2 - py))",
                 g->cmargin != 0.0 ? "zt(z, c, y, t, mg)" : "z[c] / t");
    if (nd->need_ent)
        dc_sb_append(o, " +\n                     sh * -p * (zt(z, c, y, t, mg) - lse + ent)");
    if (nd->need_maxlp)
        dc_sb_append(o, " +\n                     hb * (p - (zt(z, c, y, t, mg) == mx ? "
                        "(ties > 1 ? 0.5 : 1.0) : 0.0))");
    dc_sb_append(o, ") / t;\n        }\n    }\n}\n");
}

static void render_cls(const evolve_genome *g, const render_needs *nd, dc_sb *o)
{
    dc_sb_append(
        o,
        "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n{\n");
    dc_sb_printf(o, "    const double t = %.4g; /* temperature on the logits */\n", g->temp);
    if (nd->zt)
        dc_sb_printf(o, "    const double mg = %.4g; /* margin subtracted from the label's logit */\n",
                     g->cmargin);
    dc_sb_append(o, "    for (int i = 0; i < n; i++) {\n");
    cls_row_head(g, nd, 0, o);
    /* Not every formula uses every local; keep -Wunused quiet without hiding real issues. */
    dc_sb_append(o, "        (void)y;\n        (void)lpy;\n");
    dc_sb_append(o, "        loss[i] = ");
    expr(g, 0, o);
    dc_sb_append(o, ";\n    }\n}\n");
}

static char *render(const evolve_genome *g, const char *name, int with_grad)
{
    char line[1024], tree[1024];
    dc_sb o = {0};
    if (evolve_genome_format(g, line, sizeof line)) return NULL;
    evolve_subtree_format(g, 0, tree, sizeof tree);
    render_needs nd;
    /* classification helpers all come first (objective_grad is always there); preference
     * ones for the loss first and objective_grad's own after objective, so the loss-only
     * render (the token-level wrappers') is a prefix of the full one */
    needs_of(g, g->iface == SBX_CLS, &nd);

    dc_sb_printf(&o, "/* evolve-genome: %s */\n", line);
    dc_sb_printf(&o, "/* %s — written by discover's offline proposer (evolve).\n", name);
    if (g->iface == SBX_PREF) {
        dc_sb_printf(&o, " * x = %.4g·β·ρ − %.4g%s, ρ = %s log-ratio of chosen minus rejected%s;\n",
                     g->scale, g->margin, g->centre != 0.0 ? " − c·mean_batch(x) (centred)" : "",
                     g->lennorm ? "per-token averaged" : "summed",
                     g->ref ? "" : " (no reference model)");
        if (g->div != EV_DIV_RKL)
            dc_sb_printf(&o, " * each log-ratio through the f-divergence transform phi (%s);\n",
                         g->div == EV_DIV_JS ? "Jensen-Shannon" : "alpha-divergence");
    } else if (g->cmargin != 0.0) {
        dc_sb_printf(&o, " * p = softmax(z' / %.4g), z' = z with %.4g subtracted from the label's logit;\n",
                     g->temp, g->cmargin);
    } else {
        dc_sb_printf(&o, " * p = softmax(z / %.4g);\n", g->temp);
    }
    dc_sb_printf(&o, " * loss = %s\n * (terms and gates: see discover/evolve.h). */\n", tree);
    dc_sb_append(&o, "#include <math.h>\n\n");
    for (int h = 0; h < H_COUNT; h++)
        if (nd.need[h]) dc_sb_printf(&o, "%s\n", HELPERS[h]);
    if (g->iface == SBX_PREF) {
        phi_helpers(g, 0, &o);
        render_pref(g, &nd, &o);
        if (with_grad) render_pref_grad(g, &nd, &o);
    } else {
        render_cls(g, &nd, &o);
        render_cls_grad(g, &nd, &o);
    }
    return dc_sb_take(&o);
}

char *evolve_render(const evolve_genome *g, const char *name)
{
    return render(g, name, 1);
}

char *evolve_render_seq(const evolve_genome *g, const char *name)
{
    return render(g, name, 0);
}
