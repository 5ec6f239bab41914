/* evolve_render.c — a genome as an objective C file for the sandbox.
 *
 * The file is written for a reader as much as for the compiler: the genome line first (so
 * it can be parsed back), a comment naming the candidate and spelling out its formula, only
 * the helpers the formula uses (unused statics would trip -Wall users who export it), and
 * one expression per row. Only math functions on the sandbox's allow-list appear. */
#include "evolve.h"

#include "sandbox/sandbox.h"
#include "common/util.h"

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
};

typedef struct {
    int need[H_COUNT];
    int need_mean, need_var;
} render_needs;

static void collect(const evolve_genome *g, int i, render_needs *nd)
{
    const evolve_node *n = &g->node[i];
    switch (n->op) {
    case EV_MIX:
        nd->need[H_BLEND] = 1;
        if (n->gate != EV_GATE_CONST) nd->need[H_SIGMOID] = 1;
        if (n->gate == EV_GATE_BVAR) nd->need_mean = nd->need_var = 1;
        collect(g, n->kid[0], nd);
        collect(g, n->kid[1], nd);
        break;
    case EV_LOGISTIC:
        nd->need[H_LOGISTIC] = nd->need[H_LOG1PEXP] = 1;
        break;
    case EV_HINGE:
        nd->need[H_HINGE] = 1;
        break;
    case EV_EXP:
        nd->need[H_EXP] = 1;
        break;
    case EV_SQ:
        nd->need[H_SQ] = 1;
        break;
    case EV_SIGM:
        nd->need[H_SIGM] = nd->need[H_SIGMOID] = 1;
        break;
    case EV_LS:
        nd->need[H_LS] = 1;
        break;
    case EV_SQERR:
        nd->need[H_SQERR] = 1;
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
    default:
        break; /* EV_CE is inline */
    }
}

/* The per-row expression of the subtree at i. */
static void expr(const evolve_genome *g, int i, dc_sb *out)
{
    const evolve_node *n = &g->node[i];
    switch (n->op) {
    case EV_MIX:
        if (n->gate == EV_GATE_CONST)
            dc_sb_printf(out, "blend(%.4g, ", n->p);
        else if (n->gate == EV_GATE_SIG)
            dc_sb_printf(out, "blend(sigmoid(x / %.4g), ", n->p);
        else
            dc_sb_printf(out, "blend(sigmoid(var / (%.4g * %.4g)), ", n->p, n->p);
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
    case EV_CE:
        dc_sb_append(out, "-lpy");
        break;
    case EV_LS:
        dc_sb_printf(out, "c_ls(z, k, t, lse, lpy, %.4g)", n->p);
        break;
    case EV_SQERR:
        dc_sb_append(out, "c_sqerr(z, k, y, t, lse)");
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
    default:
        break;
    }
}

static void render_pref(const evolve_genome *g, const render_needs *nd, dc_sb *o)
{
    /* The margin of row i before centring. */
    dc_sb_append(o, "/* x of row i before batch centring: s·β·ρ − m */\n"
                    "static double x_of(const pref_batch *b, int i)\n{\n");
    if (g->lennorm)
        dc_sb_append(
            o,
            "    double lw = fmax(b->chosen_lens[i], 1.0), ll = fmax(b->rejected_lens[i], 1.0);\n");
    const char *dw = g->lennorm ? " / lw" : "", *dl = g->lennorm ? " / ll" : "";
    if (g->ref)
        dc_sb_printf(o,
                     "    double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i])%s -\n"
                     "                 (b->rejected_logps[i] - b->ref_rejected_logps[i])%s;\n",
                     dw, dl);
    else
        dc_sb_printf(o, "    double rho = b->chosen_logps[i]%s - b->rejected_logps[i]%s;\n", dw,
                     dl);
    dc_sb_append(o, "    return ");
    if (g->scale != 1.0) dc_sb_printf(o, "%.4g * ", g->scale);
    dc_sb_append(o, "b->beta * rho");
    if (g->margin != 0.0) dc_sb_printf(o, " - (%.4g)", g->margin);
    dc_sb_append(o, ";\n}\n\n");

    dc_sb_append(o, "void objective(const pref_batch *b, double *loss)\n{\n");
    int need_mean = nd->need_mean || g->centre != 0.0;
    if (need_mean) {
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
    dc_sb_append(o, "    for (int i = 0; i < b->n; i++) {\n");
    if (g->centre != 0.0)
        dc_sb_printf(o, "        double x = x_of(b, i) - %.4g * mean;\n", g->centre);
    else
        dc_sb_append(o, "        double x = x_of(b, i);\n");
    dc_sb_append(o, "        loss[i] = ");
    expr(g, 0, o);
    dc_sb_append(o, ";\n    }\n}\n");
}

/* The classification loss is a constant-weight mixture (classification mixes have only the
 * mix(w:W,...) gate), so it is Σ_leaf coef·leaf and its gradient the same sum of the leaves'
 * gradients. Each leaf is a function of log p_y (ce, focal, gce, rce), of the whole of p (ls,
 * sqerr) or both, and d/dz_c of those pieces, with p = softmax(z/t), are
 *   log p_y:             ([c = y] − p_c) / t                     (coefficient a: dloss/dlog p_y)
 *   mean_j(−log p_j):    (p_c − 1/k) / t                         (coefficient els)
 *   Σ_j (p_j − [j=y])²:  2 p_c ((p_c − [c=y]) − (Σ_j p_j² − p_y)) / t   (coefficient ssq)
 * Emits the statements that add one leaf's share to a, els and ssq. */
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
    default:
        break;
    }
}

/* objective_grad for a classification genome: the same loss expression, plus its gradient
 * (grad_terms). The sandbox checks it against central differences before using it. */
static void render_cls_grad(const evolve_genome *g, dc_sb *o)
{
    dc_sb_append(o, "\n/* The analytic gradient (see discover_objective.h): the sandbox checks it against\n"
                    " * central differences, then trains with it. */\n"
                    "void objective_grad(int n, int k, const double *logits, const int *labels, "
                    "double *loss,\n                    double *d_logits)\n{\n");
    dc_sb_printf(o, "    const double t = %.4g;\n", g->temp);
    dc_sb_append(o, "    for (int i = 0; i < n; i++) {\n"
                    "        const double *z = logits + (long)i * k; // (k,)\n"
                    "        double *dz = d_logits + (long)i * k;    // (k,)\n"
                    "        int y = labels[i];\n"
                    "        double lse = lse_row(z, k, t);\n"
                    "        double lpy = z[y] / t - lse;\n"
                    "        (void)y;\n        (void)lpy;\n"
                    "        loss[i] = ");
    expr(g, 0, o);
    dc_sb_append(o, ";\n        double a = 0.0, els = 0.0, ssq = 0.0, sp2 = 0.0;\n");
    dc_sb tail = {0};
    int need_sq = 0;
    grad_terms(g, 0, 1.0, &tail, &need_sq);
    dc_sb_append(o, tail.data ? tail.data : "");
    dc_sb_free(&tail);
    if (need_sq)
        dc_sb_append(o, "        for (int j = 0; j < k; j++) {\n"
                        "            double p = exp(z[j] / t - lse);\n"
                        "            sp2 += p * p;\n        }\n");
    dc_sb_append(o, "        double py = exp(lpy);\n"
                    "        (void)py;\n"
                    "        for (int c = 0; c < k; c++) {\n"
                    "            double p = exp(z[c] / t - lse), on = c == y ? 1.0 : 0.0;\n"
                    "            dz[c] = (a * (on - p) + els * (p - 1.0 / k) +\n"
                    "                     ssq * 2.0 * p * ((p - on) - (sp2 - py))) / t;\n"
                    "        }\n    }\n}\n");
}

static void render_cls(const evolve_genome *g, dc_sb *o)
{
    dc_sb_append(
        o,
        "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n{\n");
    dc_sb_printf(o, "    const double t = %.4g; /* temperature on the logits */\n", g->temp);
    dc_sb_append(o, "    for (int i = 0; i < n; i++) {\n"
                    "        const double *z = logits + (long)i * k; // (k,)\n"
                    "        int y = labels[i];\n"
                    "        double lse = lse_row(z, k, t);\n"
                    "        double lpy = z[y] / t - lse; /* log p_y */\n");
    /* Not every formula uses every local; keep -Wunused quiet without hiding real issues. */
    dc_sb_append(o, "        (void)y;\n        (void)lpy;\n");
    dc_sb_append(o, "        loss[i] = ");
    expr(g, 0, o);
    dc_sb_append(o, ";\n    }\n}\n");
}

char *evolve_render(const evolve_genome *g, const char *name)
{
    char line[1024], tree[1024];
    dc_sb o = {0};
    if (evolve_genome_format(g, line, sizeof line)) return NULL;
    evolve_subtree_format(g, 0, tree, sizeof tree);
    render_needs nd;
    memset(&nd, 0, sizeof nd);
    collect(g, 0, &nd);
    if (g->iface == SBX_CLS) nd.need[H_LSE] = 1;

    dc_sb_printf(&o, "/* evolve-genome: %s */\n", line);
    dc_sb_printf(&o, "/* %s — written by discover's offline proposer (evolve).\n", name);
    if (g->iface == SBX_PREF) {
        dc_sb_printf(&o, " * x = %.4g·β·ρ − %.4g%s, ρ = %s log-ratio of chosen minus rejected%s;\n",
                     g->scale, g->margin, g->centre != 0.0 ? " − c·mean_batch(x) (centred)" : "",
                     g->lennorm ? "per-token averaged" : "summed",
                     g->ref ? "" : " (no reference model)");
    } else {
        dc_sb_printf(&o, " * p = softmax(z / %.4g);\n", g->temp);
    }
    dc_sb_printf(&o, " * loss = %s\n * (terms and gates: see discover/evolve.h). */\n", tree);
    dc_sb_append(&o, "#include <math.h>\n\n");
    for (int h = 0; h < H_COUNT; h++)
        if (nd.need[h]) dc_sb_printf(&o, "%s\n", HELPERS[h]);
    if (g->iface == SBX_PREF) {
        render_pref(g, &nd, &o);
    } else {
        render_cls(g, &o);
        render_cls_grad(g, &o);
    }
    return dc_sb_take(&o);
}
