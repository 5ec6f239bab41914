/* test_evolve_terms — the terms of evolve's literature grammar (GRAMMAR.md), one genome
 * each: the rendered C (compiled with the system compiler, loaded, called; the test is
 * trusted) against an independent closed form written here from the paper or from TRL's
 * DPOTrainer (robust, bco_pair, aot, aot_pair, f_divergence_type), with explicit probabilities and the papers' own sums rather than the
 * renderer's helpers; then its objective_grad against central differences computed here,
 * and through the sandbox: compile + pre-screen in the worker, and the pre-screen's own
 * gradient check must accept the objective_grad (sbx_uses_grad_fn). */
#define _GNU_SOURCE
#include "discover/propose/evolve/evolve.h"
#include "sandbox/sandbox.h"
#include "tests/test.h"
#include "common/util.h"

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#define N 12
#define K 5

typedef void (*pref_fn)(const pref_batch *, double *);
typedef void (*pref_grad_fn)(const pref_batch *, double *, double *, double *);
typedef void (*cls_fn)(int, int, const double *, const int *, double *);
typedef void (*cls_grad_fn)(int, int, const double *, const int *, double *, double *);

/* ---- the batches ---- */

static double cw[N], cl[N], rw[N], rl[N], lw[N], ll[N];
static double z[N * K];
static int y[N];

static void make_batches(void)
{
    dc_rng r;
    dc_rng_seed(&r, 99);
    for (int i = 0; i < N; i++) {
        rw[i] = -20 - 80 * dc_rng_uniform(&r);
        rl[i] = -20 - 80 * dc_rng_uniform(&r);
        cw[i] = rw[i] + 6 * (2 * dc_rng_uniform(&r) - 1);
        cl[i] = rl[i] + 6 * (2 * dc_rng_uniform(&r) - 1);
        lw[i] = 1 + (int)dc_rng_below(&r, 30);
        ll[i] = 1 + (int)dc_rng_below(&r, 30);
        y[i] = (int)dc_rng_below(&r, K);
        for (int j = 0; j < K; j++)
            z[i * K + j] = 2.5 * dc_rng_normal(&r);
    }
    z[3 * K + 1] = z[3 * K + 2] = 4.0; /* a row with a tied maximum (hard bootstrapping) */
    z[3 * K + 0] = z[3 * K + 3] = z[3 * K + 4] = -1.0;
}

/* ---- independent references ---- */

static double log_sigmoid(double v) { return v >= 0 ? -log1p(exp(-v)) : v - log1p(exp(v)); }
static double softplus(double v) { return v > 0 ? v + log1p(exp(-v)) : log1p(exp(v)); }

/* p = softmax((z_i - M·e_y) / T), explicitly */
static void probs(int i, double T, double M, double *p)
{
    double mx = -INFINITY, s = 0;
    for (int j = 0; j < K; j++)
        mx = fmax(mx, (z[i * K + j] - (j == y[i] ? M : 0)) / T);
    for (int j = 0; j < K; j++)
        s += p[j] = exp((z[i * K + j] - (j == y[i] ? M : 0)) / T - mx);
    for (int j = 0; j < K; j++)
        p[j] /= s;
}

enum { R_NCE, R_MAE, R_NCERCE, R_NCEMAE, R_TAYLOR, R_POLY, R_SBOOT, R_HBOOT, R_FWD, R_MARGIN_CE };

static double ref_cls(int kind, double a, int i)
{
    double p[K], T = 1.0, M = kind == R_MARGIN_CE ? a : 0.0;
    probs(i, T, M, p);
    double nll = 0, mae = 0, rce = 0;
    for (int j = 0; j < K; j++) {
        double e = j == y[i];
        nll += -log(p[j]);
        mae += fabs(p[j] - e);
        rce += -p[j] * log(fmax(e, 1e-4)); /* Ma et al.: log 0 clipped to log 1e-4 */
    }
    double nce = -log(p[y[i]]) / nll;
    switch (kind) {
    case R_NCE:
        return nce;
    case R_MAE:
        return mae;
    case R_NCERCE:
        return nce + a * rce;
    case R_NCEMAE:
        return nce + a * mae;
    case R_TAYLOR: {
        double s = 0;
        for (int t = 1; t <= (int)a; t++)
            s += pow(1 - p[y[i]], t) / t;
        return s;
    }
    case R_POLY:
        return -log(p[y[i]]) + a * (1 - p[y[i]]);
    case R_SBOOT: { /* Reed et al. 2015: targets beta·t + (1 - beta)·q */
        double s = 0;
        for (int j = 0; j < K; j++)
            s -= (a * (j == y[i]) + (1 - a) * p[j]) * log(p[j]);
        return s;
    }
    case R_HBOOT: { /* targets beta·t + (1 - beta)·onehot(argmax q) */
        int m = 0;
        for (int j = 1; j < K; j++)
            if (p[j] > p[m]) m = j;
        return -a * log(p[y[i]]) - (1 - a) * log(p[m]);
    }
    case R_FWD: { /* Patrini et al. 2017: -log (T^T p)_y, T the symmetric-noise transition
                   * matrix (stay with 1 - eta, each other class eta / (K - 1)) */
        double q = 0;
        for (int j = 0; j < K; j++)
            q += (j == y[i] ? 1 - a : a / (K - 1)) * p[j];
        return -log(q);
    }
    default:
        return -log(p[y[i]]);
    }
}

enum { P_ROBUST, P_BCO, P_BMEAN, P_JS, P_ALPHA, P_AOT, P_AOTP };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* TRL's DPOTrainer formulas, β = 0.1 */
static void ref_pref(int kind, double a, double beta, double *loss)
{
    double mean = 0, delta = 0;
    for (int i = 0; i < N; i++) {
        mean += beta * ((cw[i] - rw[i]) - (cl[i] - rl[i])) / N;
        delta += beta * ((cw[i] - rw[i]) + (cl[i] - rl[i])) / (2 * N);
    }
    for (int i = 0; i < N; i++) {
        double crat = cw[i] - rw[i], rrat = cl[i] - rl[i], logits = crat - rrat;
        switch (kind) {
        case P_ROBUST:
            loss[i] = (-log_sigmoid(beta * logits) * (1 - a) + log_sigmoid(-beta * logits) * a) /
                      (1 - 2 * a);
            break;
        case P_BCO:
            loss[i] = -log_sigmoid(beta * crat - delta) - log_sigmoid(-(beta * rrat - delta));
            break;
        case P_BMEAN: { /* AQL-style gate on the batch mean */
            double w = 1 / (1 + exp(-mean / a)), x = beta * logits;
            loss[i] = (1 - w) * -log_sigmoid(x) + w * fmax(0, 1 - x);
            break;
        }
        case P_JS:
            logits -= softplus(crat) - softplus(rrat);
            loss[i] = -log_sigmoid(beta * logits);
            break;
        case P_ALPHA:
            logits = (exp(-a * rrat) - exp(-a * crat)) / a;
            loss[i] = -log_sigmoid(beta * logits);
            break;
        }
    }
    if (kind == P_AOT || kind == P_AOTP) {
        /* TRL: aot sorts the policy's and the reference's chosen-minus-rejected log-probs,
         * aot_pair the chosen and the rejected log-ratios; -logsigmoid(β·delta) rank by rank.
         * The grammar gives every pair the batch mean (the trainer averages either way). */
        double s[N], t[N], mean_loss = 0;
        for (int i = 0; i < N; i++) {
            s[i] = kind == P_AOT ? cw[i] - cl[i] : cw[i] - rw[i];
            t[i] = kind == P_AOT ? rw[i] - rl[i] : cl[i] - rl[i];
        }
        qsort(s, N, sizeof *s, cmp_double);
        qsort(t, N, sizeof *t, cmp_double);
        for (int r = 0; r < N; r++)
            mean_loss += -log_sigmoid(beta * (s[r] - t[r])) / N;
        for (int i = 0; i < N; i++)
            loss[i] = mean_loss;
    }
}

/* ---- the cases ---- */

typedef struct {
    const char *genome;
    int kind; /* R_* or P_* */
    double a;
} term_case;

static const term_case CLS[] = {
    {"cls T=1 : nce", R_NCE, 0},
    {"cls T=1 : mae", R_MAE, 0},
    {"cls T=1 : ncerce(1)", R_NCERCE, 1},
    {"cls T=1 : ncemae(0.5)", R_NCEMAE, 0.5},
    {"cls T=1 : taylor(2)", R_TAYLOR, 2},
    {"cls T=1 : taylor(6)", R_TAYLOR, 6},
    {"cls T=1 : poly(1)", R_POLY, 1},
    {"cls T=1 : poly(-1)", R_POLY, -1},
    {"cls T=1 : sboot(0.95)", R_SBOOT, 0.95},
    {"cls T=1 : hboot(0.8)", R_HBOOT, 0.8},
    {"cls T=1 : fwd(0.4)", R_FWD, 0.4},
    {"cls T=1 : fwd(0.05)", R_FWD, 0.05},
    {"cls T=1 M=0.5 : ce", R_MARGIN_CE, 0.5},
};

static const term_case PREF[] = {
    {"pref norm=sum ref=1 s=1 m=0 c=0 : robust(0.1)", P_ROBUST, 0.1},
    {"pref norm=sum ref=1 s=1 m=0 c=0 : bco", P_BCO, 0},
    {"pref norm=sum ref=1 s=1 m=0 c=0 : mix(bmean:0.05,logistic(1),hinge(1))", P_BMEAN, 0.05},
    {"pref norm=sum ref=1 s=1 m=0 c=0 div=js : logistic(1)", P_JS, 0},
    {"pref norm=sum ref=1 s=1 m=0 c=0 div=alpha:0.5 : logistic(1)", P_ALPHA, 0.5},
    {"pref norm=sum ref=1 s=1 m=0 c=0 : aot", P_AOT, 0},
    {"pref norm=sum ref=1 s=1 m=0 c=0 : aotp", P_AOTP, 0},
};

/* Genomes that exercise the gradient's combinations (no closed form needed): every gate,
 * centring, length normalisation, the transforms with bco, margins on classification
 * mixtures. Each must pass the sandbox's gradient check. */
static const char *const GRAD_ONLY[] = {
    "pref norm=avg ref=1 s=2 m=0.3 c=0.5 : mix(bvar:0.1,bco,mix(sig:0.05,logistic(1),exp(1)))",
    "pref norm=sum ref=1 s=1 m=0 c=0.25 div=js : mix(bmean:0.2,bco,robust(0.2))",
    "pref norm=avg ref=1 s=0.5 m=-0.5 c=0 div=alpha:1 : mix(w:0.3,sq(0.5),sigm(2))",
    "pref norm=sum ref=0 s=1 m=0 c=0 : mix(w:0.5,bco,hinge(1))",
    "pref norm=avg ref=1 s=2 m=0 c=0.5 div=js : mix(sig:0.1,aot,mix(bmean:0.3,aotp,logistic(1)))",
    "pref norm=sum ref=0 s=1 m=0 c=0 : mix(w:0.4,aot,sq(0.5))",
    "cls T=0.7 M=1 : mix(w:0.4,mix(w:0.5,ls(0.1),sqerr),mix(w:0.5,hboot(0.8),sboot(0.9)))",
    "cls T=2 : mix(w:0.5,ncerce(2),mix(w:0.3,focal(2),taylor(3)))",
    "cls T=0.8 M=0.5 : mix(w:0.5,fwd(0.3),ncemae(1))",
};

static void *load_all(char *dir, size_t dircap)
{
    snprintf(dir, dircap, "/tmp/dc_test_terms_XXXXXX");
    if (!mkdtemp(dir)) return NULL;
    char path[512], err[256], cmd[1024];
    int ncases = 0;
    const int ncls = (int)(sizeof CLS / sizeof *CLS), npref = (int)(sizeof PREF / sizeof *PREF);
    for (int c = 0; c < ncls + npref; c++) {
        evolve_genome g;
        const char *line = c < ncls ? CLS[c].genome : PREF[c - ncls].genome;
        CHECK_MSG(evolve_genome_parse(line, &g, err, sizeof err) == 0, "%s", err);
        char *code = evolve_render(&g, "term");
        if (!code) continue;
        dc_fmt(path, sizeof path, "%s/c%d.c", dir, c);
        CHECK(dc_write_file(path, code, strlen(code), err, sizeof err) == 0);
        free(code);
        char wrap[1024];
        int n = snprintf(wrap, sizeof wrap,
                         "#include \"%s/sandbox/discover_objective.h\"\n#define objective t%d\n"
                         "#define objective_grad t%d_grad\n#include \"c%d.c\"\n",
                         DC_SOURCE_DIR, c, c, c);
        dc_fmt(path, sizeof path, "%s/w%d.c", dir, c);
        CHECK(dc_write_file(path, wrap, (size_t)n, err, sizeof err) == 0);
        ncases++;
    }
    dc_fmt(cmd, sizeof cmd,
           "cd %s && cc -std=c99 -O0 -Wall -Wextra -Werror -shared -fPIC -o all.so w*.c -lm 2> "
           "cc.log",
           dir);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "compiling the terms failed; see %s/cc.log", dir);
    if (rc) return NULL;
    dc_fmt(path, sizeof path, "%s/all.so", dir);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CHECK_MSG(h != NULL, "dlopen: %s", dlerror());
    return h;
}

static void *sym(void *h, const char *fmt, int c)
{
    char name[32];
    snprintf(name, sizeof name, fmt, c);
    void *f = dlsym(h, name);
    CHECK_MSG(f != NULL, "missing %s", name);
    return f;
}

static void test_cls_terms(void *h)
{
    const int ncls = (int)(sizeof CLS / sizeof *CLS);
    for (int c = 0; c < ncls; c++) {
        cls_fn f = (cls_fn)(uintptr_t)sym(h, "t%d", c);
        cls_grad_fn fg = (cls_grad_fn)(uintptr_t)sym(h, "t%d_grad", c);
        if (!f || !fg) continue;
        double loss[N], loss2[N], d[N * K];
        f(N, K, z, y, loss);
        fg(N, K, z, y, loss2, d);
        double worst = 0, gworst = 0;
        for (int i = 0; i < N; i++) {
            double ref = ref_cls(CLS[c].kind, CLS[c].a, i);
            worst = fmax(worst, fabs(loss[i] - ref) / fmax(1.0, fabs(ref)));
            worst = fmax(worst, fabs(loss2[i] - loss[i]));
            for (int j = 0; j < K; j++) { /* central differences of the closed form */
                if (i == 3) continue; /* the tie row: the closed form's argmax picks one side */
                double s = z[i * K + j], hh = 1e-5;
                z[i * K + j] = s + hh;
                double up = ref_cls(CLS[c].kind, CLS[c].a, i);
                z[i * K + j] = s - hh;
                double dn = ref_cls(CLS[c].kind, CLS[c].a, i);
                z[i * K + j] = s;
                gworst = fmax(gworst, fabs(d[i * K + j] - (up - dn) / (2 * hh)));
            }
        }
        CHECK_MSG(worst < 1e-12, "%s: loss differs from the closed form by %g", CLS[c].genome,
                  worst);
        CHECK_MSG(gworst < 1e-7, "%s: objective_grad differs from the closed form's slope by %g",
                  CLS[c].genome, gworst);
    }
}

static void test_pref_terms(void *h)
{
    const int ncls = (int)(sizeof CLS / sizeof *CLS), npref = (int)(sizeof PREF / sizeof *PREF);
    for (int c = 0; c < npref; c++) {
        pref_fn f = (pref_fn)(uintptr_t)sym(h, "t%d", ncls + c);
        pref_grad_fn fg = (pref_grad_fn)(uintptr_t)sym(h, "t%d_grad", ncls + c);
        if (!f || !fg) continue;
        pref_batch b = {N, 0.1, cw, cl, rw, rl, lw, ll};
        double loss[N], loss2[N], ref[N], dc[N], dr[N], up[N], dn[N];
        f(&b, loss);
        fg(&b, loss2, dc, dr);
        ref_pref(PREF[c].kind, PREF[c].a, 0.1, ref);
        double worst = 0, gworst = 0;
        for (int i = 0; i < N; i++) {
            worst = fmax(worst, fabs(loss[i] - ref[i]) / fmax(1.0, fabs(ref[i])));
            worst = fmax(worst, fabs(loss2[i] - loss[i]));
        }
        /* d Σloss / d log π of every response, from the closed form */
        for (int side = 0; side < 2; side++)
            for (int i = 0; i < N; i++) {
                double *v = side ? cl : cw, s = v[i], hh = 1e-5, su = 0, sd = 0;
                v[i] = s + hh;
                ref_pref(PREF[c].kind, PREF[c].a, 0.1, up);
                v[i] = s - hh;
                ref_pref(PREF[c].kind, PREF[c].a, 0.1, dn);
                v[i] = s;
                for (int j = 0; j < N; j++)
                    su += up[j], sd += dn[j];
                gworst = fmax(gworst, fabs((side ? dr : dc)[i] - (su - sd) / (2 * hh)));
            }
        CHECK_MSG(worst < 1e-12, "%s: loss differs from TRL's formula by %g", PREF[c].genome,
                  worst);
        CHECK_MSG(gworst < 1e-7, "%s: objective_grad differs from the formula's slope by %g",
                  PREF[c].genome, gworst);
    }
}

/* The sandbox's pre-screen accepts the candidate and trains on its objective_grad. */
static void sandbox_accepts(const char *line)
{
    evolve_genome g;
    char err[256], msg[512] = "";
    CHECK_MSG(evolve_genome_parse(line, &g, err, sizeof err) == 0, "%s", err);
    char *code = evolve_render(&g, "term");
    sbx_worker *w = NULL;
    dc_status st = sbx_open((sbx_kind)g.iface, code, strlen(code), NULL, &w, msg, sizeof msg);
    if (st == DC_OK) st = sbx_prescreen(w, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "%s: rejected (%s): %s", line, dc_status_name(st), msg);
    if (st == DC_OK)
        CHECK_MSG(sbx_uses_grad_fn(w), "%s: objective_grad refused: %s", line, sbx_grad_note(w));
    sbx_close(w);
    free(code);
}

static void test_sandbox(void)
{
    for (size_t c = 0; c < sizeof CLS / sizeof *CLS; c++)
        sandbox_accepts(CLS[c].genome);
    for (size_t c = 0; c < sizeof PREF / sizeof *PREF; c++)
        sandbox_accepts(PREF[c].genome);
    for (size_t c = 0; c < sizeof GRAD_ONLY / sizeof *GRAD_ONLY; c++)
        sandbox_accepts(GRAD_ONLY[c]);
}

/* Older genomes render their objective as before: the new modifiers are not written when
 * they are at their defaults, and the token-level (loss-only) render is a prefix. */
static void test_old_lines(void)
{
    static const char *const lines[] = {"pref norm=sum ref=1 s=1 m=0 c=0 : logistic(1)",
                                        "cls T=1 : ce"};
    for (size_t i = 0; i < 2; i++) {
        evolve_genome g;
        char err[256], back[1024];
        CHECK(evolve_genome_parse(lines[i], &g, err, sizeof err) == 0);
        CHECK(evolve_genome_format(&g, back, sizeof back) == 0);
        CHECK_STR(back, lines[i]);
        char *full = evolve_render(&g, "x"), *seq = evolve_render_seq(&g, "x");
        CHECK(full && seq && strncmp(full, seq, strlen(seq)) == 0);
        CHECK(strstr(full, "void objective_grad(") != NULL);
        CHECK(i == 1 || strstr(seq, "objective_grad") == NULL);
        free(full);
        free(seq);
    }
    evolve_genome g;
    char err[256];
    CHECK(evolve_genome_parse("pref norm=sum ref=0 s=1 m=0 c=0 div=js : logistic(1)", &g, err,
                              sizeof err) == -1);
    CHECK(strstr(err, "ref=1") != NULL);
    CHECK(evolve_genome_parse("cls T=1 : taylor(2.5)", &g, err, sizeof err) == -1);
    CHECK(evolve_genome_parse("cls T=1 M=9 : ce", &g, err, sizeof err) == -1);
}

int main(void)
{
    make_batches();
    char dir[64];
    void *h = load_all(dir, sizeof dir);
    if (h) {
        test_cls_terms(h);
        test_pref_terms(h);
        dlclose(h);
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(system(cmd) == 0);
    }
    test_sandbox();
    test_old_lines();
    return TEST_REPORT();
}
