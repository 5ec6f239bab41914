/* test_objectives_cls — the classification baselines in examples/objectives/fashion/ against
 * references written here directly from the formulas (naive softmax on moderate logits),
 * hand-computed values on uniform logits, and stability on huge logits. */
#include "sandbox/discover_objective.h"
#include "tests/test.h"
#include "common/rng.h"

/* The example files, each compiled in its own unit under NAME_objective (see CMakeLists.txt). */
void cross_entropy_objective(int n, int k, const double *logits, const int *labels, double *loss);
void cross_entropy_objective_grad(int n, int k, const double *logits, const int *labels,
                                  double *loss, double *d_logits);
void label_smoothing_objective(int n, int k, const double *logits, const int *labels, double *loss);
void squared_error_objective(int n, int k, const double *logits, const int *labels, double *loss);
void focal_objective(int n, int k, const double *logits, const int *labels, double *loss);
void gce_objective(int n, int k, const double *logits, const int *labels, double *loss);
void sce_objective(int n, int k, const double *logits, const int *labels, double *loss);

#define MAXK 16

/* Naive softmax probability of class j (logits kept within ±10 where this is exact enough). */
static double prob(const double *z, int k, int j)
{
    double s = 0;
    for (int c = 0; c < k; c++)
        s += exp(z[c]);
    return exp(z[j]) / s;
}

static double ref_ce(const double *z, int k, int y)
{
    return -log(prob(z, k, y));
}
static double ref_ls(const double *z, int k, int y)
{
    /* cross-entropy against the target t_j = (1 − ε)[j = y] + ε/k */
    double e = 0.1, acc = 0;
    for (int j = 0; j < k; j++)
        acc -= ((j == y ? 1 - e : 0) + e / k) * log(prob(z, k, j));
    return acc;
}
static double ref_sqerr(const double *z, int k, int y)
{
    double acc = 0;
    for (int j = 0; j < k; j++)
        acc += pow(prob(z, k, j) - (j == y), 2);
    return acc;
}
static double ref_focal(const double *z, int k, int y)
{
    double p = prob(z, k, y);
    return -(1 - p) * (1 - p) * log(p);
}
static double ref_gce(const double *z, int k, int y)
{
    return (1 - pow(prob(z, k, y), 0.7)) / 0.7;
}
static double ref_sce(const double *z, int k, int y)
{
    double rce = 0;
    for (int j = 0; j < k; j++)
        rce -= prob(z, k, j) * log(j == y ? 1.0 : 1e-4);
    return 0.1 * ref_ce(z, k, y) + 1.0 * rce;
}

typedef void (*cls_fn)(int, int, const double *, const int *, double *);
typedef struct {
    const char *name;
    cls_fn fn;
    double (*ref)(const double *, int, int);
    double uniform; /* the loss on all-equal logits for k = 10, computed by hand */
} cls_case;

static cls_case CASES[6];

static void init_cases(void)
{
    double k = 10, lk = log(10.0);
    CASES[0] = (cls_case){"cross_entropy", cross_entropy_objective, ref_ce, lk};
    CASES[1] = (cls_case){"label_smoothing", label_smoothing_objective, ref_ls, lk};
    CASES[2] = (cls_case){"squared_error", squared_error_objective, ref_sqerr, (k - 1) / k};
    CASES[3] = (cls_case){"focal", focal_objective, ref_focal, 0.81 * lk};
    CASES[4] = (cls_case){"gce", gce_objective, ref_gce, (1 - pow(0.1, 0.7)) / 0.7};
    CASES[5] = (cls_case){"sce", sce_objective, ref_sce, 0.1 * lk + 0.9 * log(1e4)};
}

static int close_rel(double a, double b)
{
    return fabs(a - b) <= 1e-9 * (1.0 + fabs(b));
}

static void test_against_references(void)
{
    static const int ks[] = {2, 3, 10, 16};
    dc_rng r;
    dc_rng_seed(&r, 99);
    for (int c = 0; c < 6; c++) {
        int bad = 0, checked = 0;
        for (int ki = 0; ki < 4; ki++)
            for (int rep = 0; rep < 4; rep++) {
                int n = 1 + (int)dc_rng_below(&r, 8), k = ks[ki];
                double z[8 * MAXK], loss[8];
                int y[8];
                double scale = rep < 2 ? 1.0 : 4.0; /* gentle and confident predictions */
                for (int i = 0; i < n * k; i++)
                    z[i] = scale * dc_rng_normal(&r);
                for (int i = 0; i < n; i++)
                    y[i] = (int)dc_rng_below(&r, (uint32_t)k);
                CASES[c].fn(n, k, z, y, loss);
                for (int i = 0; i < n; i++) {
                    double want = CASES[c].ref(z + i * k, k, y[i]);
                    checked++;
                    if (!close_rel(loss[i], want) && bad++ < 3)
                        fprintf(stderr, "%s: k %d row %d: got %.12g want %.12g\n", CASES[c].name, k,
                                i, loss[i], want);
                }
            }
        CHECK_MSG(bad == 0, "%s: %d of %d rows differ from the reference", CASES[c].name, bad,
                  checked);
    }
}

static void test_uniform_logits(void)
{
    double z[10], loss[1];
    int y = 3;
    for (int j = 0; j < 10; j++)
        z[j] = 0.25;
    for (int c = 0; c < 6; c++) {
        CASES[c].fn(1, 10, z, &y, loss);
        CHECK_MSG(close_rel(loss[0], CASES[c].uniform), "%s: uniform logits gave %.12g, want %.12g",
                  CASES[c].name, loss[0], CASES[c].uniform);
    }
}

/* Logits in the thousands: finite, and equal to the loss of the same logits shifted down
 * (softmax is shift-invariant), so the implementation must not exponentiate raw logits. */
static void test_huge_logits(void)
{
    double z[2 * 4], zs[2 * 4], a[2], b[2];
    int y[2] = {1, 2};
    const double base[8] = {1000.0, 1003.0, 998.0, 1001.5, -800.0, -799.0, -802.0, -800.5};
    for (int i = 0; i < 8; i++) {
        z[i] = base[i];
        zs[i] = base[i] - (i < 4 ? 1000.0 : -800.0);
    }
    for (int c = 0; c < 6; c++) {
        CASES[c].fn(2, 4, z, y, a);
        CASES[c].fn(2, 4, zs, y, b);
        CHECK_MSG(isfinite(a[0]) && isfinite(a[1]), "%s: non-finite on huge logits", CASES[c].name);
        CHECK_MSG(fabs(a[0] - b[0]) < 1e-9 && fabs(a[1] - b[1]) < 1e-9, "%s: not shift-invariant",
                  CASES[c].name);
    }
    /* A confidently right row: cross-entropy ≈ e^−Δ, focal far smaller still. */
    double zc[3] = {30.0, 0.0, 0.0}, l1[1], l2[1];
    int yc = 0;
    cross_entropy_objective(1, 3, zc, &yc, l1);
    focal_objective(1, 3, zc, &yc, l2);
    CHECK_NEAR(l1[0], 2 * exp(-30.0), 1e-14);
    CHECK(l2[0] > 0 && l2[0] < 1e-30);
}

/* cross_entropy.c's objective_grad: its losses are objective's, its gradient softmax − onehot
 * computed here, including rows of huge logits. */
static void test_ce_grad(void)
{
    enum { n = 5, k = 4 };
    double z[n * k], l1[n], l2[n], g[n * k];
    int y[n];
    for (int i = 0; i < n; i++) {
        y[i] = (3 * i) % k;
        for (int j = 0; j < k; j++) z[i * k + j] = (i == 4 ? 900.0 : 0.0) + sin(1.7 * i + j) * 4;
    }
    cross_entropy_objective(n, k, z, y, l1);
    cross_entropy_objective_grad(n, k, z, y, l2, g);
    for (int i = 0; i < n; i++) {
        CHECK_NEAR(l2[i], l1[i], 1e-12 * fmax(1, fabs(l1[i])));
        double mx = z[i * k], s = 0;
        for (int j = 1; j < k; j++) mx = fmax(mx, z[i * k + j]);
        for (int j = 0; j < k; j++) s += exp(z[i * k + j] - mx);
        double rowsum = 0;
        for (int j = 0; j < k; j++) {
            double p = exp(z[i * k + j] - mx) / s;
            CHECK_NEAR(g[i * k + j], p - (j == y[i]), 1e-12);
            rowsum += g[i * k + j];
        }
        CHECK_NEAR(rowsum, 0.0, 1e-12); // shift invariance of the loss
    }
}

int main(void)
{
    test_ce_grad();
    init_cases();
    test_against_references();
    test_uniform_logits();
    test_huge_logits();
    return TEST_REPORT();
}
