/* test_sandbox_hardening.c — the hostile candidates of issue 13 that the sandbox must stop,
 * and the honest ones it must not.
 *
 *   time bounds     slow only at the training batch (ends as timeout, "slower in training
 *                   than on the probes"); an honest O(n^2) objective at a large batch on the
 *                   exact gradient path (must pass although one request takes longer than
 *                   the fixed per-call budget); the per-candidate time budget
 *   impersonation   a candidate that forges the worker's replies (issue's attack, on the
 *                   host's doorbell and on the executor's channel): ends as a violation
 *   stateless calls a static counter that changes the loss after 2,000 calls; an
 *                   objective_grad that lies between power-of-two calls (static counter);
 *                   one that keeps its counter deep in the stack (only an unpredictable
 *                   audit catches it); code that writes into its own code; scratch statics
 *                   (allowed, and reset before every call) */
#include "sbx_test_util.h"

#include "common/util.h"

#include <math.h>
#include <stdlib.h>

enum { K = 10 };

static char *fixture(const char *name, const char *prefix, size_t *len)
{
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/tests/sandbox/fixtures/%s", DC_SOURCE_DIR, name);
    size_t n = 0;
    char *body = dc_read_file(path, 0, &n, err, sizeof err);
    if (!body) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    size_t p = strlen(prefix);
    char *src = malloc(p + n + 1);
    memcpy(src, prefix, p);
    memcpy(src + p, body, n + 1);
    free(body);
    *len = p + n;
    return src;
}

/* A training-like batch of n rows: logits within +-3, labels spread over the classes; the
 * exact cross-entropy losses and gradient when ref_loss/ref_grad are non-NULL. */
static void cls_batch(int n, int salt, double *z, int *y, double *ref_loss, double *ref_grad)
{
    for (int i = 0; i < n; i++) {
        y[i] = (i * 7 + salt) % K;
        for (int j = 0; j < K; j++)
            z[i * K + j] = 3.0 * sin(0.37 * i + 1.3 * j + 0.11 * salt);
        double mx = z[i * K], s = 0;
        for (int j = 1; j < K; j++)
            mx = fmax(mx, z[i * K + j]);
        for (int j = 0; j < K; j++)
            s += exp(z[i * K + j] - mx);
        if (ref_loss) ref_loss[i] = mx + log(s) - z[i * K + y[i]];
        if (ref_grad)
            for (int j = 0; j < K; j++)
                ref_grad[i * K + j] = exp(z[i * K + j] - mx) / s - (j == y[i]);
    }
}

static sbx_worker *open_screened(sbx_kind kind, const char *src, size_t len, const sbx_limits *lim,
                                 char *msg, size_t cap)
{
    sbx_worker *w = NULL;
    dc_status st = sbx_open(kind, src, len, lim, &w, msg, cap);
    if (st == DC_OK) st = sbx_prescreen(w, msg, cap);
    CHECK_MSG(st == DC_OK, "open + pre-screen: %s (%s)", dc_status_name(st), msg);
    if (st != DC_OK) {
        sbx_close(w);
        return NULL;
    }
    return w;
}

/* ---------------------------------------------------------------- time bounds */

static void test_slow_at_training_batch(void)
{
    /* Fast on every probe batch (16, 8, 1 and 1,024 rows), endless at the training batch. */
    const char *src =
        "#include <math.h>\n"
        "void objective(int n, int k, const double *z, const int *y, double *loss) {\n"
        "  if (n == 128) for (;;) {}\n"
        "  for (int i = 0; i < n; i++) {\n"
        "    double mx = z[i * k], s = 0;\n"
        "    for (int j = 1; j < k; j++) mx = fmax(mx, z[i * k + j]);\n"
        "    for (int j = 0; j < k; j++) s += exp(z[i * k + j] - mx);\n"
        "    loss[i] = mx + log(s) - z[i * k + y[i]]; } }\n";
    char msg[1024];
    sbx_worker *w = open_screened(SBX_CLS, src, strlen(src), NULL, msg, sizeof msg);
    if (!w) return;
    enum { N = 128 };
    double *z = malloc(sizeof(double) * N * K), *g = malloc(sizeof(double) * N * K), loss[N];
    int y[N];
    cls_batch(N, 0, z, y, NULL, NULL);
    dc_status st = sbx_cls_eval(w, N, K, z, y, loss, g, msg, sizeof msg);
    CHECK_MSG(st == DC_TIMEOUT, "slow at n = 128: %s (%s)", dc_status_name(st), msg);
    CHECK_MSG(strstr(msg, "slower in training than on the probes") != NULL, "message: %s", msg);
    sbx_close(w);
    free(z);
    free(g);
}

static void test_quadratic_at_large_batch(void)
{
    /* An honest pairwise loss (every pair of rows, O(n^2) per call) on the exact gradient
     * path: 1 + 2 * 256 calls at n = 256 take longer than the fixed per-call budget below,
     * but no longer than the probes predict. */
    const char *src = "#include <math.h>\n"
                      "static double x_of(const pref_batch *b, int i) {\n"
                      "  return b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -\n"
                      "                    (b->rejected_logps[i] - b->ref_rejected_logps[i])); }\n"
                      "void objective(const pref_batch *b, double *loss) {\n"
                      "  for (int i = 0; i < b->n; i++) {\n"
                      "    double xi = x_of(b, i), s = 0;\n"
                      "    for (int j = 0; j < b->n; j++) s += log1p(exp(x_of(b, j) - xi));\n"
                      "    loss[i] = s / b->n; } }\n";
    sbx_limits lim;
    sbx_test_limits(&lim); /* 0.6 s per call before the pre-screen has measured */
    char msg[1024];
    sbx_worker *w = open_screened(SBX_PREF, src, strlen(src), &lim, msg, sizeof msg);
    if (!w) return;
    CHECK(sbx_is_separable(w) == 0);
    enum { N = 256 };
    double c[N], r[N], rc[N], rr[N], len[N], loss[N], dc[N], dr[N];
    for (int i = 0; i < N; i++) {
        c[i] = -40.0 - 3.0 * sin(0.7 * i);
        r[i] = -42.0 + 2.0 * cos(0.3 * i);
        rc[i] = -41.0;
        rr[i] = -41.5;
        len[i] = 10;
    }
    pref_batch b = {N, 0.1, c, r, rc, rr, len, len};
    double t0 = dc_now();
    dc_status st = sbx_pref_eval(w, &b, loss, dc, dr, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "O(n^2) at n = 256: %s (%s)", dc_status_name(st), msg);
    printf("O(n^2) objective, loss + exact gradient at n = %d: %.2f s (fixed budget %.1f s)\n", N,
           dc_now() - t0, lim.call_timeout_s);
    sbx_close(w);
}

static void test_time_budget(void)
{
    /* About 20-50 ms a call at the training batch: well under any per-call limit (at least
     * 0.5 s), but the candidate's wall budget runs out after a few dozen calls. */
    const char *src =
        "#include <math.h>\n"
        "void objective(int n, int k, const double *z, const int *y, double *loss) {\n"
        "  double spin = 0;\n"
        "  if (n == 64) for (int r = 0; r < 20000000; r++) spin += 1e-30;\n"
        "  for (int i = 0; i < n; i++) {\n"
        "    double mx = z[i * k], s = 0;\n"
        "    for (int j = 1; j < k; j++) mx = fmax(mx, z[i * k + j]);\n"
        "    for (int j = 0; j < k; j++) s += exp(z[i * k + j] - mx);\n"
        "    loss[i] = mx + log(s) - z[i * k + y[i]] + spin; } }\n";
    char msg[1024];
    sbx_worker *w = open_screened(SBX_CLS, src, strlen(src), NULL, msg, sizeof msg);
    if (!w) return;
    enum { N = 64 };
    double z[N * K], loss[N];
    int y[N];
    cls_batch(N, 0, z, y, NULL, NULL);
    sbx_set_time_budget(w, 0.5);
    dc_status st = DC_OK;
    int calls = 0;
    for (; st == DC_OK && calls < 10000; calls++)
        st = sbx_cls_eval(w, N, K, z, y, loss, NULL, msg, sizeof msg);
    printf("time budget of 0.5 s: %s after %d calls: %s\n", dc_status_name(st), calls, msg);
    CHECK_MSG(st == DC_TIMEOUT && strstr(msg, "time budget of 0 s") == NULL &&
                  strstr(msg, "used up its time budget"),
              "budget: %s (%s)", dc_status_name(st), msg);
    sbx_close(w);
}

/* ---------------------------------------------------------------- impersonation */

static void forge(const char *fd_define)
{
    size_t len;
    char *src = fixture("forge_reply.c", fd_define, &len);
    CHECK(src != NULL);
    if (!src) return;
    char msg[1024] = "";
    sbx_worker *w = NULL;
    dc_status st = sbx_open(SBX_CLS, src, len, NULL, &w, msg, sizeof msg);
    CHECK_MSG(st == DC_OK, "open: %s", msg);
    if (st == DC_OK) st = sbx_prescreen(w, msg, sizeof msg);
    enum { N = 32 };
    double z[N * K], g[N * K], loss[N];
    int y[N];
    cls_batch(N, 1, z, y, NULL, NULL);
    int calls = 0, forged = 0;
    for (; st == DC_OK && calls < 3000; calls++) {
        st = sbx_cls_eval(w, N, K, z, y, loss, g, msg, sizeof msg);
        if (st == DC_OK && loss[0] == 0.25) forged++;
    }
    printf("forger (%.*s): %s after %d training calls, %d forged answers returned: %s\n",
           (int)strcspn(fd_define, "\n"), fd_define, dc_status_name(st), calls, forged, msg);
    /* It may get a few answers through before an audit picks one; it must never finish. */
    CHECK_MSG(st == DC_VIOLATION, "%s: the forger %s after %d calls (%s)", fd_define,
              dc_status_name(st), calls, msg);
    sbx_close(w);
    free(src);
}

static void test_forged_replies(void)
{
    forge("#define DOORBELL_FD 3\n"); /* the host's doorbell (the attack) */
    forge("#define DOORBELL_FD 6\n"); /* the executor's channel to its supervisor */
}

/* ---------------------------------------------------------------- stateless calls */

static void test_static_counter(void)
{
    /* Cross-entropy until its 2,000th call, then the sign flips (the pre-screen makes fewer
     * calls than that). With its memory restored before every call it never gets there. */
    const char *src =
        "#include <math.h>\n"
        "static long calls;\n"
        "void objective(int n, int k, const double *z, const int *y, double *loss) {\n"
        "  double sign = ++calls > 2000 ? -1.0 : 1.0;\n"
        "  for (int i = 0; i < n; i++) {\n"
        "    double mx = z[i * k], s = 0;\n"
        "    for (int j = 1; j < k; j++) mx = fmax(mx, z[i * k + j]);\n"
        "    for (int j = 0; j < k; j++) s += exp(z[i * k + j] - mx);\n"
        "    loss[i] = sign * (mx + log(s) - z[i * k + y[i]]); } }\n";
    char msg[1024];
    sbx_worker *w = open_screened(SBX_CLS, src, strlen(src), NULL, msg, sizeof msg);
    if (!w) return;
    enum { N = 16 };
    double z[N * K], g[N * K], loss[N], ref[N], refg[N * K], worst = 0;
    int y[N];
    /* 300 requests of 1 + 2 * 10 calls each: far past the 2,000th call */
    for (int c = 0; c < 300; c++) {
        cls_batch(N, c, z, y, ref, refg);
        dc_status st = sbx_cls_eval(w, N, K, z, y, loss, g, msg, sizeof msg);
        CHECK_MSG(st == DC_OK, "call %d: %s", c, msg);
        if (st != DC_OK) break;
        for (int i = 0; i < N; i++)
            worst = fmax(worst, fabs(loss[i] - ref[i]));
    }
    CHECK_MSG(worst < 1e-12, "the counter survived a call: loss off by %g", worst);
    sbx_close(w);
}

/* Runs `calls` gradient requests of cross-entropy batches through w; the largest error of a
 * gradient the trainer received, against the exact one. Stops at the first failure. */
static double train_ce(sbx_worker *w, int n, int calls, dc_status *st, int *done)
{
    double *z = malloc(sizeof(double) * n * K), *g = malloc(sizeof(double) * n * K),
           *refg = malloc(sizeof(double) * n * K), *loss = malloc(sizeof(double) * n), e = 0;
    int *y = malloc(sizeof(int) * n);
    char msg[1024];
    *st = DC_OK;
    for (*done = 0; *done < calls; (*done)++) {
        cls_batch(n, *done, z, y, NULL, refg);
        *st = sbx_cls_eval(w, n, K, z, y, loss, g, msg, sizeof msg);
        if (*st != DC_OK) break;
        for (int i = 0; i < n * K; i++)
            e = fmax(e, fabs(g[i] - refg[i]));
    }
    if (*st != DC_OK) printf("  training stopped after %d calls: %s\n", *done, msg);
    free(z);
    free(g);
    free(refg);
    free(loss);
    free(y);
    return e;
}

static void test_grad_lies_between_powers_of_two(void)
{
    /* The candidate: objective_grad honest on the pre-screen's 6 calls and on the 1st,
     * 2nd, 4th, 8th, ... training call, twice the gradient on every other one. */
    const char *src =
        "#include <math.h>\n"
        "static long calls;\n"
        "static double lse(const double *z, int k) {\n"
        "  double mx = z[0]; for (int j = 1; j < k; j++) mx = fmax(mx, z[j]);\n"
        "  double s = 0; for (int j = 0; j < k; j++) s += exp(z[j] - mx); return mx + log(s); }\n"
        "void objective(int n, int k, const double *z, const int *y, double *loss) {\n"
        "  for (int i = 0; i < n; i++) loss[i] = lse(z + i * k, k) - z[i * k + y[i]]; }\n"
        "void objective_grad(int n, int k, const double *z, const int *y, double *loss,\n"
        "                    double *g) {\n"
        "  long c = ++calls - 6;\n"
        "  double f = c > 0 && (c & (c - 1)) != 0 ? 2.0 : 1.0;\n"
        "  for (int i = 0; i < n; i++) {\n"
        "    double l = lse(z + i * k, k);\n"
        "    loss[i] = l - z[i * k + y[i]];\n"
        "    for (int j = 0; j < k; j++)\n"
        "      g[i * k + j] = f * (exp(z[i * k + j] - l) - (j == y[i] ? 1.0 : 0.0)); } }\n";
    char msg[1024];
    sbx_worker *w = open_screened(SBX_CLS, src, strlen(src), NULL, msg, sizeof msg);
    if (!w) return;
    CHECK(sbx_uses_grad_fn(w) == 1);
    dc_status st;
    int done;
    double e = train_ce(w, 16, 200, &st, &done);
    CHECK_MSG(st == DC_OK && e < 1e-7, "a wrong gradient reached the trainer: error %g (%s)", e,
              dc_status_name(st));
    sbx_close(w);
}

static void test_grad_counter_in_the_stack(void)
{
    /* The same lie with the counter kept out of reach of any memory restore: it must be
     * caught (objective_grad switched off, or the candidate stopped as a violation). */
    size_t len;
    char *src = fixture("stack_stash.c", "", &len);
    CHECK(src != NULL);
    if (!src) return;
    char msg[1024];
    sbx_worker *w = open_screened(SBX_CLS, src, len, NULL, msg, sizeof msg);
    free(src);
    if (!w) return;
    CHECK(sbx_uses_grad_fn(w) == 1);
    dc_status st;
    int done;
    double e = train_ce(w, 16, 2000, &st, &done);
    int caught = st == DC_VIOLATION || (st == DC_OK && sbx_uses_grad_fn(w) == 0);
    printf("stack-kept counter: %s after %d calls, objective_grad %s, largest error %g; %s\n",
           dc_status_name(st), done, sbx_uses_grad_fn(w) ? "in use" : "off", e, sbx_grad_note(w));
    CHECK_MSG(caught, "the lying objective_grad was never caught (%s, error %g)",
              dc_status_name(st), e);
    sbx_close(w);
}

static void test_code_is_not_writable(void)
{
    /* Writes one byte into its own (never executed) helper: code pages are read-only. */
    const char *src =
        "static double unused(double x) { return x; }\n"
        "void objective(const pref_batch *b, double *loss) {\n"
        "  unsigned char *p = (unsigned char *)(void *)unused;\n"
        "  p[0] = p[0];\n"
        "  for (int i = 0; i < b->n; i++) loss[i] = b->chosen_logps[i] + unused(0); }\n";
    char msg[1024];
    dc_status st = sbx_check_source(SBX_PREF, src, strlen(src), NULL, msg, sizeof msg);
    CHECK_MSG(st == DC_CRASH && strstr(msg, "SIGSEGV"), "writing its code: %s (%s)",
              dc_status_name(st), msg);
}

static void test_scratch_statics(void)
{
    /* A static array as scratch space (no allocation allowed) is fine: it is the candidate's
     * memory for the length of one call, back to its initial contents before the next. */
    const char *src =
        "#include <math.h>\n"
        "static double row_max[4096];\n"
        "static int first = 1;\n"
        "void objective(int n, int k, const double *z, const int *y, double *loss) {\n"
        "  double bias = first ? 0.0 : 1.0; first = 0;\n"
        "  for (int i = 0; i < n; i++) { row_max[i] = z[i * k];\n"
        "    for (int j = 1; j < k; j++) row_max[i] = fmax(row_max[i], z[i * k + j]); }\n"
        "  for (int i = 0; i < n; i++) { double s = 0;\n"
        "    for (int j = 0; j < k; j++) s += exp(z[i * k + j] - row_max[i]);\n"
        "    loss[i] = row_max[i] + log(s) - z[i * k + y[i]] + bias; } }\n";
    char msg[1024];
    sbx_worker *w = open_screened(SBX_CLS, src, strlen(src), NULL, msg, sizeof msg);
    if (!w) return;
    enum { N = 64 };
    double z[N * K], g[N * K], loss[N], ref[N], refg[N * K];
    int y[N];
    for (int c = 0; c < 5; c++) {
        cls_batch(N, c, z, y, ref, refg);
        dc_status st = sbx_cls_eval(w, N, K, z, y, loss, g, msg, sizeof msg);
        CHECK_MSG(st == DC_OK, "call %d: %s", c, msg);
        for (int i = 0; i < N; i++)
            CHECK_NEAR(loss[i], ref[i], 1e-12);
        for (int i = 0; i < N * K; i++)
            CHECK_NEAR(g[i], refg[i], 1e-7);
    }
    sbx_close(w);
}

int main(void)
{
    sbx_test_use_build_worker();
    test_slow_at_training_batch();
    test_quadratic_at_large_batch();
    test_time_budget();
    test_forged_replies();
    test_static_counter();
    test_grad_lies_between_powers_of_two();
    test_grad_counter_in_the_stack();
    test_code_is_not_writable();
    test_scratch_statics();
    return TEST_REPORT();
}
