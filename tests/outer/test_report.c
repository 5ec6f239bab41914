/* test_report.c — `discover report`: builds fixture archives, runs the built binary, and
 * renders the pages in headless Chromium (three launches) to check what a reader sees:
 * no script errors, one mark per data point, LLM text shown as text, no external URL,
 * sorting and expanding work, and the preference losses computed in the sandbox match
 * LRML's and DPO's formulas (computed here, independently). */
#define _GNU_SOURCE
#include "archive/archive.h"
#include "common/curve.h"
#include "common/util.h"
#include "discover/report/report.h"
#include "run_child.h"
#include "tests/test.h"

#include "inner_loop/task.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *g_tmp;

/* ------------------------------------------------------------------ small helpers */

static char *path_in(const char *dir, const char *name)
{
    dc_sb b = {0};
    dc_sb_printf(&b, "%s/%s", dir, name);
    return dc_sb_take(&b);
}

static int count_str(const char *hay, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)); p += len) n++;
    return n;
}

/* The text of one <figure id="ID"> ... </figure> (figures do not nest), malloc'ed. */
static char *figure(const char *html, const char *id)
{
    char key[96];
    snprintf(key, sizeof key, "<figure class=\"wide\" id=\"%s\"", id);
    const char *s = strstr(html, key);
    if (!s) {
        snprintf(key, sizeof key, "<figure id=\"%s\"", id);
        s = strstr(html, key);
    }
    if (!s) return dc_strdup("");
    const char *e = strstr(s, "</figure>");
    size_t n = e ? (size_t)(e - s) : strlen(s);
    char *out = dc_malloc(n + 1);
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

/* Parses the space-separated numbers of attribute `attr` in the first element that has
 * `anchor`; returns the count (<= cap). */
static int read_values(const char *html, const char *anchor, const char *attr, double *out, int cap)
{
    const char *s = strstr(html, anchor);
    if (!s) return 0;
    char key[64];
    snprintf(key, sizeof key, " %s=\"", attr);
    const char *v = strstr(s, key), *end = strchr(s, '>');
    if (!v || (end && v > end)) return 0;
    v += strlen(key);
    int n = 0;
    while (*v && *v != '"' && n < cap) {
        char *e;
        double x = strtod(v, &e);
        if (e == v) break;
        out[n++] = x;
        v = e;
        while (*v == ' ') v++;
    }
    return n;
}

static double read_attr(const char *html, const char *anchor, const char *attr)
{
    double v = NAN;
    return read_values(html, anchor, attr, &v, 1) == 1 ? v : NAN;
}

/* Every href in a tag must be a fragment (#...), and no tag may have src: the page loads
 * nothing. Escaped text contains no raw '<', so only real tags are inspected; <script>
 * and <style> bodies are skipped. */
static int external_refs(const char *html)
{
    int bad = 0;
    for (const char *p = html; (p = strchr(p, '<'));) {
        const char *e = strchr(p, '>');
        if (!e) break;
        size_t n = (size_t)(e - p);
        char *tag = dc_malloc(n + 1);
        memcpy(tag, p, n);
        tag[n] = '\0';
        const char *h = tag;
        while ((h = strstr(h, " href="))) {
            h += 6;
            if (*h == '"') h++;
            if (*h != '#') {
                fprintf(stderr, "external reference in tag: %.200s\n", tag);
                bad++;
            }
        }
        if (strstr(tag, " src=")) {
            fprintf(stderr, "src attribute in tag: %.200s\n", tag);
            bad++;
        }
        int skip_script = !strncmp(tag, "<script", 7), skip_style = !strncmp(tag, "<style", 6);
        free(tag);
        p = e + 1;
        if (skip_script) p = strstr(p, "</script>") ? strstr(p, "</script>") + 1 : p;
        if (skip_style) p = strstr(p, "</style>") ? strstr(p, "</style>") + 1 : p;
    }
    /* CSS/SVG url(...) may only name something in the page (clip paths: url(#clip1)). */
    for (const char *u = html; (u = strstr(u, "url(")); u += 4)
        if (u[4] != '#') bad++;
    if (strstr(html, "@import")) bad++;
    return bad;
}

static char *find_chromium(void)
{
    const char *names[] = {"chromium", "chromium-browser", "google-chrome"};
    const char *path = getenv("PATH");
    char *copy = dc_strdup(path && *path ? path : "/usr/bin:/bin");
    for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
        char *save = NULL;
        char *dirs = dc_strdup(copy);
        for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
            char *p = path_in(d, names[k]);
            if (access(p, X_OK) == 0) {
                free(dirs);
                free(copy);
                return p;
            }
            free(p);
        }
        free(dirs);
    }
    free(copy);
    return NULL;
}

/* One headless Chromium launch with a fresh profile; mode is "--dump-dom" or
 * "--screenshot=FILE". Returns the exit status; *out the DOM, *err the log. */
static int chromium(const char *bin, const char *mode, const char *file, char **out, char **err)
{
    static int launch;
    char prof[64], url[1200];
    snprintf(prof, sizeof prof, "profile%d", ++launch);
    char *profile = path_in(g_tmp, prof);
    char *udd = NULL;
    dc_sb b = {0};
    dc_sb_printf(&b, "--user-data-dir=%s", profile);
    udd = dc_sb_take(&b);
    snprintf(url, sizeof url, "file://%s", file);
    char *argv[] = {(char *)bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr",
                    "--v=0", "--window-size=1400,3000", udd, (char *)mode, url, NULL};
    int rc = run_child(argv, NULL, 90, out, err);
    free(udd);
    free(profile);
    return rc;
}

/* JavaScript errors or console messages of the page in Chromium's log. */
static int console_errors(const char *log)
{
    int n = 0;
    for (const char *p = log; (p = strstr(p, ":CONSOLE")); p++) {
        const char *e = strchr(p, '\n');
        fprintf(stderr, "console: %.*s\n", e ? (int)(e - p) : 300, p);
        n++;
    }
    return n;
}

static int run_report(char *const *args, char **out, char **err)
{
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)discover_bin();
    argv[n++] = "report";
    for (int i = 0; args[i] && n < 15; i++) argv[n++] = args[i];
    argv[n] = NULL;
    return run_child(argv, NULL, 60, out, err);
}

/* ------------------------------------------------------------------ fixtures */

typedef struct {
    int64_t id;
    int has_fitness;
    double fitness, test;
} fx_cand;

static int64_t add_candidate(archive *a, int64_t camp, int gen, const char *name, const char *status,
                             const char *thought, const char *code, const char *parents, int has_fit,
                             double fit, double test, const char *metrics, dc_curves *curves)
{
    arc_candidate c;
    memset(&c, 0, sizeof c);
    c.campaign_id = camp;
    c.generation = gen;
    c.parents_json = (char *)(parents ? parents : "[]");
    c.name = (char *)name;
    c.thought = (char *)thought;
    c.code = (char *)code;
    c.fingerprint = "";
    c.status = (char *)status;
    c.message = (char *)(strcmp(status, "ok") ? "the worker said no (fixture)" : "");
    c.has_fitness = has_fit;
    c.fitness = fit;
    c.test_metric = test;
    c.metrics_json = (char *)(metrics ? metrics : "{}");
    c.seconds = 1.5;
    if (curves) c.curves = *curves;
    char err[512];
    if (archive_candidate_insert(a, &c, err, sizeof err) != 0) {
        fprintf(stderr, "fixture: %s\n", err);
        exit(2);
    }
    free(c.code_hash);
    free(c.created_at);
    return c.id;
}

static int64_t add_campaign(archive *a, const char *name, const char *task, const char *proposer,
                            const char *model)
{
    arc_campaign c;
    memset(&c, 0, sizeof c);
    c.name = (char *)name;
    c.task = (char *)task;
    c.config_json = "{}";
    c.proposer = (char *)proposer;
    c.model = (char *)model;
    c.seed = 7;
    c.status = "finished";
    char err[512];
    if (archive_campaign_create(a, &c, err, sizeof err) != 0) {
        fprintf(stderr, "fixture: %s\n", err);
        exit(2);
    }
    free(c.created_at);
    free(c.updated_at);
    return c.id;
}

static const char *INJECTED_THOUGHT =
    "Try focal weighting.<script>document.title='PWNED'</script><img src=x "
    "onerror=\"document.title='PWNED2'\"> (see https://example.com/paper)";

#define FX_N 30
#define FX_BEST 16 /* an "ok" candidate (cycle below) */
static fx_cand fx[FX_N];
static int64_t fx_best, fx_injected;
static dc_curves fx_curves;

/* Campaign "fash": 30 candidates of mixed statuses over 6 generations, curves on the best,
 * two LLM calls (one failed). */
static void build_fashion(archive *a)
{
    int64_t camp = add_campaign(a, "fash", "fashion", "llm", "fake-model");
    static const char *cycle[] = {"ok", "ok", "compile_error", "ok", "crash", "ok", "timeout", "duplicate",
                                  "ok", "nonfinite", "ok", "invalid", "parse_error"};
    for (int t = 0; t < 50; t++) dc_curves_add(&fx_curves, "train_loss", t * 10, 2.0 * exp(-t / 8.0) + 0.3);
    for (int t = 0; t < 10; t++) dc_curves_add(&fx_curves, "val_accuracy", t * 50, 0.5 + 0.04 * t);
    for (int i = 0; i < FX_N; i++) {
        int gen = i < 3 ? 0 : 1 + (i - 3) / 6;
        const char *st = i < 3 ? "ok" : cycle[i % 13];
        int has = !strcmp(st, "ok");
        double fit = 0.70 + 0.01 * ((i * 7) % 13), test = fit - 0.015 * (i % 4);
        if (i == 10) has = 0;   /* ok but never scored: missing fitness */
        if (i == 14) test = NAN; /* scored, but no held-out metric */
        if (i == FX_BEST) fit = 0.95; /* the best; carries the curves */
        char name[64], parents[64], code[256];
        if (i == 12) snprintf(name, sizeof name, "focal \"g=2\" <v2> & co");
        else snprintf(name, sizeof name, "cand_%02d", i);
        if (i >= 3) snprintf(parents, sizeof parents, "[%lld,%lld]", (long long)fx[i % 3].id,
                             (long long)fx[i - 1].id);
        else snprintf(parents, sizeof parents, "[]");
        snprintf(code, sizeof code,
                 "void objective(int n, int k, const double *logits, const int *labels, double *loss)\n"
                 "{ for (int i = 0; i < n; i++) loss[i] = %d.0 * logits[i * k + labels[i]]; }\n",
                 -(i + 1));
        const char *thought = i == 5 ? INJECTED_THOUGHT : "A plain idea.";
        fx[i].has_fitness = has;
        fx[i].fitness = has ? fit : NAN;
        fx[i].test = has ? test : NAN;
        fx[i].id = add_candidate(a, camp, gen, name, st, thought, code, parents, has, fit, test, NULL,
                                 i == FX_BEST ? &fx_curves : NULL);
        if (i == FX_BEST) fx_best = fx[i].id;
        if (i == 5) fx_injected = fx[i].id;
    }
    for (int k = 0; k < 2; k++) {
        arc_llm_call c;
        memset(&c, 0, sizeof c);
        c.campaign_id = camp;
        c.generation = k + 1;
        c.request_json = "{\"model\":\"fake-model\"}";
        c.response_raw = k ? "" : "{\"choices\":[]}";
        c.http_status = k ? 0 : 200;
        c.tokens_in = 1200 + 100 * k;
        c.tokens_out = k ? 0 : 300;
        c.latency_s = 2.5 + k;
        c.cost = k ? 0 : 0.0125;
        c.error = k ? "connection refused" : "";
        char err[512];
        if (archive_llm_call_insert(a, &c, err, sizeof err) != 0) {
            fprintf(stderr, "fixture: %s\n", err);
            exit(2);
        }
        free(c.created_at);
    }
}

static char *read_example(const char *name)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/examples/objectives/sentiment/%s.c", DC_SOURCE_DIR, name);
    char *t = dc_read_file(path, 0, NULL, err, sizeof err);
    if (!t) {
        fprintf(stderr, "fixture: %s\n", err);
        exit(2);
    }
    return t;
}

static const double FX_BETAS[3] = {0.05, 0.1, 0.25};
/* Per candidate (dpo, lrml), seed, β: reward and KL of the replayed sweeps. */
static double fx_reward[2][2][3], fx_kl[2][2][3];
static int64_t fx_dpo, fx_lrml, fx_broken, fx_hinge;
/* LRML's value-drift curves, named as the sentiment task names them; DPO's, of a two-seed
 * run ("seedN/" prefixes) with the PPO baseline's curves riding along. */
static dc_curves fx_senti_curves, fx_dpo_curves;

/* Campaign "senti": DPO and LRML with two-seed β sweeps, a candidate whose code does not
 * compile (best fitness: the loss plot must leave it out and say so), hinge with its own
 * per-β metrics, and a failed candidate. Offline proposer: no LLM calls. */
static void build_sentiment(archive *a)
{
    int64_t camp = add_campaign(a, "senti", "sentiment", "evolve", "");
    char *dpo = read_example("dpo"), *lrml = read_example("lrml"), *hinge = read_example("hinge");
    for (int sd = 1; sd <= 2; sd++) {
        char nm[64];
        for (int t = 0; t <= 5; t++) {
            snprintf(nm, sizeof nm, "seed%d/sft/reward", sd);
            dc_curves_add(&fx_dpo_curves, nm, t * 40, 0.50 + 0.02 * t * t);
            snprintf(nm, sizeof nm, "seed%d/sft/length", sd);
            dc_curves_add(&fx_dpo_curves, nm, t * 40, 12.0 - t);
            snprintf(nm, sizeof nm, "seed%d/beta_0.05/po/reward", sd);
            dc_curves_add(&fx_dpo_curves, nm, t * 20, 1.0 - 0.04 * t * sd);
            snprintf(nm, sizeof nm, "seed%d/beta_0.05/po/length", sd);
            dc_curves_add(&fx_dpo_curves, nm, t * 20, 7.0 + t);
            snprintf(nm, sizeof nm, "seed%d/ppo/po/reward", sd);
            dc_curves_add(&fx_dpo_curves, nm, t * 10, 1.0 + 0.01 * t * sd);
            snprintf(nm, sizeof nm, "seed%d/ppo/po/length", sd);
            dc_curves_add(&fx_dpo_curves, nm, t * 10, 7.0 - 0.5 * t);
        }
    }
    fx_dpo = add_candidate(a, camp, 0, "dpo", "ok", "Seed baseline dpo.", dpo, NULL, 1, 0.90, 0.89, NULL,
                           &fx_dpo_curves);
    fx_hinge = add_candidate(a, camp, 0, "hinge", "ok", "Seed baseline hinge.", hinge, NULL, 1, 0.80, 0.81,
                             "{\"fitness\":0.8,\"beta_0.1/reward\":0.93,\"beta_0.1/kl\":0.21}", NULL);
    for (int t = 0; t <= 5; t++) dc_curves_add(&fx_senti_curves, "sft/reward", t * 40, 0.50 + 0.02 * t * t);
    for (int t = 0; t <= 5; t++) {
        dc_curves_add(&fx_senti_curves, "beta_0.05/po/reward", t * 20, 0.70 + 0.1 * (1 - exp(-t)));
        dc_curves_add(&fx_senti_curves, "beta_0.05/po/kl", t * 20, 0.05 * t);
    }
    fx_lrml = add_candidate(a, camp, 1, "lrml", "ok", "Blend logistic and exponential.", lrml, "[1]", 1, 0.95,
                            0.93, NULL, &fx_senti_curves);
    fx_broken = add_candidate(a, camp, 1, "broken_blend", "ok", "Compiled once, not any more.",
                              "void objective(const pref_batch *b, double *loss) { this is not C }", "[1]", 1,
                              0.99, 0.70, NULL, NULL);
    add_candidate(a, camp, 2, "crashy", "crash", "Divide by zero.", "void objective(void){}", "[3]", 0, NAN, NAN,
                  NULL, NULL);
    int64_t ids[2] = {fx_dpo, fx_lrml};
    for (int c = 0; c < 2; c++)
        for (int s = 0; s < 2; s++) {
            dc_sb m = {0};
            dc_sb_append(&m, "{");
            for (int k = 0; k < 3; k++) {
                fx_reward[c][s][k] = 0.9 + 0.02 * k + 0.01 * s + 0.005 * c;
                fx_kl[c][s][k] = 1.0 / (1 + k) - 0.05 * s - 0.2 * c;
                dc_sb_printf(&m, "%s\"beta_%g/reward\":%.17g,\"beta_%g/kl\":%.17g", k ? "," : "", FX_BETAS[k],
                             fx_reward[c][s][k], FX_BETAS[k], fx_kl[c][s][k]);
            }
            /* the best-of-N baseline rides along in the DPO runs (option bon=4) */
            if (c == 0)
                dc_sb_printf(&m, ",\"bon_2/reward\":%.17g,\"bon_2/kl\":0.02,\"bon_4/reward\":%.17g,"
                                 "\"bon_4/kl\":0.06,\"bon_2/length\":12,\"tq/reward\":%.17g,"
                                 "\"tq/kl\":0.8,\"tq/alpha\":0.1,\"ppo/reward\":%.17g,\"ppo/kl\":0.3,"
                                 "\"ppo/kl_coef\":0.05,\"ppo/length\":6",
                             0.70 + 0.01 * s, 0.75 + 0.01 * s, 0.76 + 0.02 * s, 0.80 + 0.01 * s);
            dc_sb_append(&m, "}");
            arc_evaluation e;
            memset(&e, 0, sizeof e);
            e.candidate_id = ids[c];
            e.task = "sentiment";
            e.seed = s + 1;
            e.params_json = "{\"betas\":[0.05,0.1,0.25]}";
            e.status = "ok";
            e.message = "";
            e.fitness = 0.9;
            e.test_metric = 0.9;
            e.metrics_json = m.data;
            char err[512];
            if (archive_evaluation_insert(a, &e, err, sizeof err) != 0) {
                fprintf(stderr, "fixture: %s\n", err);
                exit(2);
            }
            free(e.created_at);
            dc_sb_free(&m);
        }
    free(dpo);
    free(lrml);
    free(hinge);
}

/* ------------------------------------------------------------------ references */

static double sig(double z) { return 1.0 / (1.0 + exp(-z)); }

/* LRML (DiscoPOP) straight from the paper's formula, τ = 0.05. */
static void lrml_ref(double x, double *f, double *df)
{
    const double tau = 0.05;
    double w = sig(x / tau), fd = log(1 + exp(-x)), fe = exp(-x);
    double dw = w * (1 - w) / tau, dfd = -sig(-x), dfe = -exp(-x);
    *f = (1 - w) * fd + w * fe;
    *df = -dw * fd + (1 - w) * dfd + dw * fe + w * dfe;
}

static int cmp_cand_fitness_desc(const void *a, const void *b)
{
    const fx_cand *x = a, *y = b;
    int nx = !isfinite(x->fitness), ny = !isfinite(y->fitness);
    if (nx || ny) return nx != ny ? nx - ny : (x->id > y->id) - (x->id < y->id);
    if (x->fitness != y->fitness) return x->fitness > y->fitness ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* ------------------------------------------------------------------ checks */

static void check_units(void)
{
    dc_sb b = {0};
    rp_esc(&b, "<a href='x'>&\"\x01");
    CHECK_STR(b.data, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;\xef\xbf\xbd");
    dc_sb_free(&b);
    /* Downsampling keeps the ends and a lone spike. */
    double y[1000];
    int keep[1000];
    for (int i = 0; i < 1000; i++) y[i] = 0;
    y[537] = 9;
    int m = rp_downsample(y, 1000, 100, keep);
    int spike = 0;
    for (int i = 0; i < m; i++) spike |= keep[i] == 537;
    CHECK(m <= 100 && keep[0] == 0 && keep[m - 1] == 999 && spike);
    /* Frontier from the sentiment task's metric names, averaged over two seeds. */
    const dc_metric_def *schema = dc_task_find("sentiment")->metrics;
    rp_frontier f;
    memset(&f, 0, sizeof f);
    CHECK(rp_frontier_add(&f, schema, "trained",
                          "{\"beta_0.1/reward\":0.8,\"beta_0.1/kl\":0.4,\"beta_0.05/reward\":0.9,"
                          "\"beta_0.05/kl\":1.0,\"beta_0.5/reward\":0.7}", NULL) == 2);
    CHECK(rp_frontier_add(&f, schema, "trained", "{\"reward\":0.6,\"kl\":0.2}", "{\"beta\":0.1}") == 1);
    /* The decoding baselines' series: N (best-of-N) or α (Transfer Q*) as the parameter. */
    rp_frontier bon, q;
    memset(&bon, 0, sizeof bon);
    memset(&q, 0, sizeof q);
    CHECK(rp_frontier_add(&bon, schema, "best_of_n",
                          "{\"bon_2/reward\":0.5,\"bon_2/kl\":0.1,\"bon_4/reward\":0.6,\"bon_4/kl\":0.2,"
                          "\"bon_8/reward\":0.7,\"beta_0.1/kl\":0.4}", NULL) == 2);
    CHECK(rp_frontier_add(&q, schema, "transfer_q", "{\"tq/reward\":0.9,\"tq/kl\":0.3,\"tq/alpha\":0.1}", NULL) == 1);
    CHECK(rp_frontier_add(&q, schema, "transfer_q", "{\"tq/reward\":0.9,\"tq/kl\":0.3}", NULL) == 0);
    CHECK(bon.n == 2 && q.n == 1 && q.beta[0] == 0.1);
    rp_frontier_finish(&f);
    CHECK(f.n == 2);
    CHECK_NEAR(f.beta[0], 0.05, 1e-12);
    CHECK_NEAR(f.reward[1], 0.7, 1e-12);
    CHECK_NEAR(f.kl[1], 0.3, 1e-12);
    CHECK(f.samples[1] == 2);
}

/* Many candidates, in memory (no archive, no browser): the scatter plots aggregate into
 * bins that still account for every candidate, and the table lays out one page of rows. */
static void check_many(void)
{
    enum { N = 1700 };
    rp_data d;
    memset(&d, 0, sizeof d);
    d.camp.name = "many";
    d.camp.task = "fashion";
    d.camp.proposer = "evolve";
    d.camp.model = "";
    d.cands = dc_calloc(N, sizeof *d.cands);
    d.ncands = N;
    int scored = 0;
    for (int i = 0; i < N; i++) {
        arc_candidate *c = &d.cands[i];
        c->id = i + 1;
        c->generation = i / 40;
        c->name = "x";
        c->status = i % 10 == 9 ? "crash" : "ok";
        c->has_fitness = i % 10 != 9;
        c->fitness = 0.5 + 0.4 * sin(i * 0.37) * 0.5;
        c->test_metric = c->fitness - 0.01;
        scored += c->has_fitness;
    }
    char *html = rp_render(&d, "test");
    char *ff = figure(html, "fig-fitness");
    int total = 0, bins = 0;
    for (const char *p = ff; (p = strstr(p, "data-kind=\"bin\" data-n=\"")); p++, bins++)
        total += atoi(p + strlen("data-kind=\"bin\" data-n=\""));
    CHECK_MSG(scored > RP_MAX_SCATTER && total == scored && bins > 0 && bins < scored,
              "bins %d holding %d of %d scored candidates", bins, total, scored);
    CHECK(count_str(ff, "data-kind=\"point\"") == 0);
    CHECK(count_str(html, "<tbody id=") == N && count_str(html, "class=\"more\"") == N - RP_TABLE_PAGE);
    CHECK(strstr(html, "id=\"show-all\"") != NULL);
    free(ff);
    free(html);
    free(d.cands);
}

static void check_cli(const char *db)
{
    char *out = NULL, *err = NULL;
    char *a1[] = {"--archive", (char *)db, "--campaign", "nope", "-o", "-", NULL};
    int rc = run_report(a1, &out, &err);
    CHECK(rc == 1);
    CHECK_MSG(err && strstr(err, "nope") && strstr(err, "fash") && strstr(err, "senti"),
              "unknown campaign must list the existing ones: %s", err ? err : "");
    free(out), free(err), out = err = NULL;

    char *a2[] = {"--archive", (char *)db, "-o", g_tmp, NULL};
    rc = run_report(a2, &out, &err);
    CHECK(rc == 1);
    CHECK_MSG(err && strstr(err, "not a regular file"), "directory as output: %s", err ? err : "");
    free(out), free(err), out = err = NULL;

    char *a3[] = {"--archive", (char *)db, "--candidate", "12x", "-o", "-", NULL};
    CHECK(run_report(a3, &out, &err) == 1);
    free(out), free(err), out = err = NULL;

    /* Default campaign: the most recent (senti), said in the header; -o - is stdout. The
     * fashion report follows its --candidate's campaign. */
    char *a4[] = {"--archive", (char *)db, "-o", "-", NULL};
    rc = run_report(a4, &out, &err);
    CHECK(rc == 0);
    CHECK(out && !strncmp(out, "<!DOCTYPE html>", 15));
    CHECK(out && strstr(out, "<h1>Campaign senti</h1>") && strstr(out, "the most recent of 2 campaigns"));
    free(out), free(err), out = err = NULL;

    char cid[32];
    snprintf(cid, sizeof cid, "%lld", (long long)fx[4].id);
    char *a5[] = {"--archive", (char *)db, "--candidate", cid, "-o", "-", NULL};
    rc = run_report(a5, &out, &err);
    CHECK(rc == 0 && out && strstr(out, "<h1>Campaign fash</h1>"));
    free(out), free(err);
}

/* Report A in the browser, with a driver script appended: sort by fitness (descending)
 * and open one row; the DOM dump records the results. */
static void check_fashion_page(const char *chrome, const char *db, const char *outdir)
{
    char *html_path = path_in(g_tmp, "fash.html");
    char *out = NULL, *err = NULL;
    char *args[] = {"--archive", (char *)db, "--campaign", "fash", "-o", html_path, NULL};
    int rc = run_report(args, &out, &err);
    CHECK_MSG(rc == 0, "discover report failed (%d): %s", rc, err ? err : "");
    free(out), free(err), out = err = NULL;
    char e[512];
    size_t len = 0;
    char *html = dc_read_file(html_path, 0, &len, e, sizeof e);
    CHECK(html != NULL);
    if (!html) return;
    CHECK_MSG(external_refs(html) == 0, "the page must reference nothing outside itself");

    dc_sb driven = {0};
    dc_sb_append(&driven, html);
    dc_sb_printf(&driven,
                 "<script>(function(){var th=document.querySelector('#cands th[data-col=\"fitness\"]');"
                 "th.click();th.click();"
                 "var ids=Array.prototype.map.call(document.getElementById('cands').tBodies,"
                 "function(b){return b.getAttribute('data-id');});"
                 "var o=document.createElement('div');o.id='test-order';o.setAttribute('data-order',ids.join(','));"
                 "document.body.appendChild(o);"
                 "document.querySelector('#c%lld tr.crow').click();"
                 "var p=document.createElement('div');p.id='test-open';"
                 "p.setAttribute('data-hidden',String(document.querySelector('#c%lld tr.detail').hidden));"
                 "document.body.appendChild(p);})();</script>\n",
                 (long long)fx_injected, (long long)fx_injected);
    char *driven_path = path_in(outdir, "fash_driven.html");
    CHECK(dc_write_file(driven_path, driven.data, driven.len, e, sizeof e) == 0);
    dc_sb_free(&driven);

    rc = chromium(chrome, "--dump-dom", driven_path, &out, &err);
    CHECK_MSG(rc == 0 && out && strstr(out, "</html>"), "chromium --dump-dom failed (%d): %.2000s", rc,
              err ? err : "");
    const char *dom = out ? out : "";
    CHECK_MSG(strstr(dom, "data-ready=\"1\""), "the page's script did not finish");
    CHECK_MSG(strstr(dom, "<div id=\"js-errors\" class=\"errors\" hidden=\"\"></div>"),
              "the page reported script errors");
    CHECK(console_errors(err ? err : "") == 0);

    /* One point per scored candidate in each plot; ticks for the rest. */
    int nfit = 0, ntest = 0;
    for (int i = 0; i < FX_N; i++) {
        nfit += fx[i].has_fitness && isfinite(fx[i].fitness);
        ntest += fx[i].has_fitness && isfinite(fx[i].test);
    }
    char *ff = figure(dom, "fig-fitness"), *ft = figure(dom, "fig-test");
    CHECK_MSG(count_str(ff, "data-kind=\"point\"") == nfit, "fitness points %d, expected %d",
              count_str(ff, "data-kind=\"point\""), nfit);
    CHECK(count_str(ff, "data-kind=\"unscored\"") == FX_N - nfit);
    CHECK_MSG(count_str(ft, "data-kind=\"point\"") == ntest, "test points %d, expected %d",
              count_str(ft, "data-kind=\"point\""), ntest);
    CHECK(count_str(ff, "data-kind=\"best-line\"") == 1 && count_str(ft, "data-kind=\"best-line\"") == 1);
    free(ff);
    free(ft);

    /* LLM text stays text: the injected script did not run, its markup is visible. */
    CHECK(strstr(dom, "<title>discover report: fash</title>") != NULL);
    CHECK(strstr(dom, "&lt;script&gt;document.title='PWNED'&lt;/script&gt;") != NULL);
    CHECK(strstr(dom, "<script>document.title") == NULL && strstr(dom, "<img") == NULL);
    CHECK(strstr(dom, "focal \"g=2\" &lt;v2&gt; &amp; co") != NULL);
    CHECK_MSG(external_refs(dom) == 0, "the rendered DOM must reference nothing outside itself");

    /* Sorting by fitness, descending: the same order computed here. */
    fx_cand sorted[FX_N];
    memcpy(sorted, fx, sizeof sorted);
    qsort(sorted, FX_N, sizeof *sorted, cmp_cand_fitness_desc);
    dc_sb want = {0};
    for (int i = 0; i < FX_N; i++) dc_sb_printf(&want, "%s%lld", i ? "," : "", (long long)sorted[i].id);
    char key[4096];
    snprintf(key, sizeof key, "data-order=\"%s\"", want.data);
    CHECK_MSG(strstr(dom, key) != NULL, "sorted order: want %s", want.data);
    dc_sb_free(&want);
    CHECK_MSG(strstr(dom, "id=\"test-open\" data-hidden=\"false\""), "clicking a row must open it");

    /* Curves of the best candidate, with drift time computed here. */
    char *fc = figure(dom, "fig-curves");
    CHECK(count_str(fc, "data-kind=\"curve\"") == 2);
    CHECK(strstr(fc, "data-n=\"50\"") && strstr(fc, "data-n=\"10\""));
    CHECK(count_str(fc, "data-kind=\"drift-time\"") == 2 && count_str(fc, "data-kind=\"drift-magnitude\"") == 2);
    const dc_curve *tl = dc_curves_find(&fx_curves, "train_loss");
    double first = tl->value[0], last = tl->value[tl->len - 1];
    int dt = -1;
    for (int i = 0; i < tl->len && dt < 0; i++)
        if (fabs(tl->value[i] - first) >= 0.9 * fabs(last - first)) dt = tl->step[i];
    snprintf(key, sizeof key, "by step %d", dt);
    CHECK_MSG(strstr(fc, key) != NULL, "drift time of train_loss: want '%s'", key);
    snprintf(key, sizeof key, "#%lld cand_%02d", (long long)fx_best, FX_BEST);
    CHECK(strstr(fc, key) != NULL);
    free(fc);

    /* LLM calls: two bars, two latency points. */
    char *fl = figure(dom, "fig-llm");
    CHECK(count_str(fl, "data-kind=\"llm-call\"") == 2 && count_str(fl, "data-kind=\"llm-latency\"") == 2);
    CHECK(strstr(fl, "<td>2</td><td>1</td><td>2500</td><td>300</td><td>0.0125</td>") != NULL);
    CHECK_MSG(count_str(fl, "data-kind=\"llm-cost\"") == 1, "the cumulative cost line is missing");
    free(fl);

    free(out), free(err);
    free(driven_path);
    free(html);
    free(html_path);
}

static void check_sentiment_page(const char *chrome, const char *db, const char *outdir)
{
    char *html_path = path_in(outdir, "senti.html");
    char *out = NULL, *err = NULL;
    char *args[] = {"--archive", (char *)db, "--campaign", "senti", "-o", html_path, NULL};
    int rc = run_report(args, &out, &err);
    CHECK_MSG(rc == 0, "discover report failed (%d): %s", rc, err ? err : "");
    free(out), free(err), out = err = NULL;

    rc = chromium(chrome, "--dump-dom", html_path, &out, &err);
    CHECK_MSG(rc == 0 && out && strstr(out, "</html>"), "chromium --dump-dom failed (%d)", rc);
    const char *dom = out ? out : "";
    CHECK(strstr(dom, "data-ready=\"1\"") != NULL);
    CHECK(strstr(dom, "<div id=\"js-errors\" class=\"errors\" hidden=\"\"></div>") != NULL);
    CHECK(console_errors(err ? err : "") == 0);
    CHECK(strstr(dom, "No LLM calls (offline proposer).") != NULL);

    /* Loss plots: DPO's reference + dpo, lrml, hinge from the sandbox; broken_blend left
     * out with its reason in the caption. */
    char *fl = figure(dom, "fig-losses");
    CHECK_MSG(count_str(fl, "data-kind=\"loss\"") == 4, "loss curves: %d", count_str(fl, "data-kind=\"loss\""));
    CHECK(count_str(fl, "data-kind=\"dloss\"") == 4);
    CHECK_MSG(strstr(fl, "Left out because they failed in the sandbox") && strstr(fl, "broken_blend") &&
                  strstr(fl, "compile_error"),
              "the caption must name the candidate that failed in the sandbox");
    double f[RP_LOSS_N], df[RP_LOSS_N], ref[RP_LOSS_N];
    char anchor[96];
    snprintf(anchor, sizeof anchor, "data-kind=\"loss\" data-id=\"%lld\"", (long long)fx_lrml);
    int nf = read_values(fl, anchor, "data-y", f, RP_LOSS_N);
    snprintf(anchor, sizeof anchor, "data-kind=\"dloss\" data-id=\"%lld\"", (long long)fx_lrml);
    int nd = read_values(fl, anchor, "data-y", df, RP_LOSS_N);
    CHECK(nf == RP_LOSS_N && nd == RP_LOSS_N);
    double worst_f = 0, worst_df = 0, min_f = INFINITY, min_x = 0;
    for (int i = 0; i < nf && i < nd; i++) {
        double x = RP_LOSS_XMIN + (RP_LOSS_XMAX - RP_LOSS_XMIN) * i / (RP_LOSS_N - 1), rf, rdf;
        lrml_ref(x, &rf, &rdf);
        worst_f = fmax(worst_f, fabs(f[i] - rf) / fmax(1, fabs(rf)));
        worst_df = fmax(worst_df, fabs(df[i] - rdf) / fmax(1, fabs(rdf)));
        if (x < 0 && f[i] < min_f) min_f = f[i], min_x = x;
    }
    CHECK_MSG(worst_f < 1e-5, "LRML f(x) off by %g", worst_f);
    CHECK_MSG(worst_df < 1e-3, "LRML f'(x) off by %g", worst_df);
    /* The paper's local minimum: ρ ≈ −2.3714 at β = 0.05, i.e. x ≈ −0.1186, loss ≈ 0.7859
     * (grid step 0.1). */
    CHECK_NEAR(min_x, -0.1186, 0.06);
    CHECK_NEAR(min_f, 0.7859, 2e-3);
    /* The paper's view (ρ at β = 0.05, step 0.1): LRML's local minimum at ρ ≈ −2.3714 (loss
     * ≈ 0.7859) and local maximum at ρ ≈ 1.44012 (loss ≈ 0.8783), found on the plotted data;
     * DPO's reference there is log(1 + e^−βρ). */
    CHECK(count_str(fl, "data-kind=\"loss-rho\"") == 4 && count_str(fl, "data-kind=\"dloss-rho\"") == 4);
    snprintf(anchor, sizeof anchor, "data-kind=\"loss-rho\" data-id=\"%lld\"", (long long)fx_lrml);
    nf = read_values(fl, anchor, "data-y", f, RP_LOSS_N);
    snprintf(anchor, sizeof anchor, "data-kind=\"dloss-rho\" data-id=\"%lld\"", (long long)fx_lrml);
    nd = read_values(fl, anchor, "data-y", df, RP_LOSS_N);
    CHECK(nf == RP_LOSS_N && nd == RP_LOSS_N);
    int nmin = 0, nmax = 0;
    double rmin = 0, rmax = 0, fmin_rho = 0, fmax_rho = 0;
    worst_df = 0;
    for (int i = 1; i + 1 < nf; i++) {
        double rho = RP_LOSS_XMIN + (RP_LOSS_XMAX - RP_LOSS_XMIN) * i / (RP_LOSS_N - 1), rf, rdf;
        lrml_ref(0.05 * rho, &rf, &rdf);
        worst_df = fmax(worst_df, fabs(df[i] - rdf) / fmax(1, fabs(rdf)));
        if (f[i] < f[i - 1] && f[i] < f[i + 1]) nmin++, rmin = rho, fmin_rho = f[i];
        if (f[i] > f[i - 1] && f[i] > f[i + 1]) nmax++, rmax = rho, fmax_rho = f[i];
    }
    CHECK_MSG(nmin == 1 && nmax == 1, "LRML paper view: %d minima, %d maxima (want 1 and 1)", nmin, nmax);
    CHECK_NEAR(rmin, -2.3714, 0.051);
    CHECK_NEAR(rmax, 1.44012, 0.051);
    CHECK_NEAR(fmin_rho, 0.7859, 1e-3);
    CHECK_NEAR(fmax_rho, 0.8783, 1e-3);
    CHECK_MSG(worst_df < 1e-3, "LRML f'(x) in the paper view off by %g", worst_df);
    CHECK(read_values(fl, "data-kind=\"loss-rho\" data-id=\"0\"", "data-y", ref, RP_LOSS_N) == RP_LOSS_N);
    CHECK_NEAR(ref[0], log(1 + exp(0.5)), 1e-5);
    CHECK_NEAR(ref[RP_LOSS_N - 1], log(1 + exp(-0.5)), 1e-5);
    /* The archived DPO candidate, run in the sandbox, lies on the analytic reference. */
    snprintf(anchor, sizeof anchor, "data-kind=\"loss\" data-id=\"%lld\"", (long long)fx_dpo);
    CHECK(read_values(fl, anchor, "data-y", f, RP_LOSS_N) == RP_LOSS_N);
    CHECK(read_values(fl, "data-kind=\"loss\" data-id=\"0\"", "data-y", ref, RP_LOSS_N) == RP_LOSS_N);
    double worst_dpo = 0;
    for (int i = 0; i < RP_LOSS_N; i++) {
        double x = RP_LOSS_XMIN + (RP_LOSS_XMAX - RP_LOSS_XMIN) * i / (RP_LOSS_N - 1);
        double want = log(1 + exp(-x));
        worst_dpo = fmax(worst_dpo, fabs(f[i] - want) / fmax(1, want));
        worst_dpo = fmax(worst_dpo, fabs(ref[i] - want) / fmax(1, want));
    }
    CHECK_MSG(worst_dpo < 1e-5, "DPO loss off by %g", worst_dpo);
    free(fl);

    /* Frontier: 3 β each for DPO and LRML (means of two seeds), 1 for hinge. */
    char *fr = figure(dom, "fig-frontier");
    CHECK_MSG(count_str(fr, "data-kind=\"frontier-point\"") == 7, "frontier points %d",
              count_str(fr, "data-kind=\"frontier-point\""));
    int64_t ids[2] = {fx_dpo, fx_lrml};
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 3; k++) {
            snprintf(anchor, sizeof anchor, "data-kind=\"frontier-point\" data-id=\"%lld\" data-beta=\"%g\"",
                     (long long)ids[c], FX_BETAS[k]);
            CHECK_NEAR(read_attr(fr, anchor, "data-reward"), (fx_reward[c][0][k] + fx_reward[c][1][k]) / 2, 1e-5);
            CHECK_NEAR(read_attr(fr, anchor, "data-kl"), (fx_kl[c][0][k] + fx_kl[c][1][k]) / 2, 1e-5);
        }
    snprintf(anchor, sizeof anchor, "data-kind=\"frontier-point\" data-id=\"%lld\" data-beta=\"0.1\"",
             (long long)fx_hinge);
    CHECK_NEAR(read_attr(fr, anchor, "data-reward"), 0.93, 1e-9);
    CHECK(strstr(fr, "DPO dashed.") != NULL);
    /* best-of-N: one grey point per N, the mean over the two seeds' runs */
    CHECK_MSG(count_str(fr, "data-kind=\"bon-point\"") == 2, "best-of-N points: %d",
              count_str(fr, "data-kind=\"bon-point\""));
    CHECK_NEAR(read_attr(fr, "data-kind=\"bon-point\" data-n=\"2\"", "data-reward"), 0.705, 1e-6);
    CHECK_NEAR(read_attr(fr, "data-kind=\"bon-point\" data-n=\"4\"", "data-reward"), 0.755, 1e-6);
    CHECK_NEAR(read_attr(fr, "data-kind=\"bon-point\" data-n=\"4\"", "data-kl"), 0.06, 1e-9);
    CHECK(strstr(fr, "best-of-N sampling") != NULL);
    /* Transfer Q*: one point (α 0.1), the mean over the two seeds */
    CHECK(count_str(fr, "data-kind=\"tq-point\"") == 1);
    CHECK_NEAR(read_attr(fr, "data-kind=\"tq-point\" data-alpha=\"0.1\"", "data-reward"), 0.77, 1e-6);
    CHECK_NEAR(read_attr(fr, "data-kind=\"tq-point\" data-alpha=\"0.1\"", "data-kl"), 0.8, 1e-9);
    /* PPO: one point (KL coefficient 0.05), the mean over the two seeds */
    CHECK(count_str(fr, "data-kind=\"ppo-point\"") == 1);
    CHECK_NEAR(read_attr(fr, "data-kind=\"ppo-point\" data-kl-coef=\"0.05\"", "data-reward"), 0.805, 1e-6);
    CHECK_NEAR(read_attr(fr, "data-kind=\"ppo-point\" data-kl-coef=\"0.05\"", "data-kl"), 0.3, 1e-9);
    CHECK(strstr(fr, "PPO trained from") != NULL);
    free(fr);
    /* the best (broken_blend) has no curves: no drift overlay */
    CHECK(strstr(dom, "id=\"fig-drift\"") == NULL);
    free(out), free(err), out = err = NULL;

    /* --candidate: the curves figure follows the chosen candidate (LRML, not the best), with
     * its SFT and preference-optimisation drift curves and their drift times. */
    char cid[32];
    snprintf(cid, sizeof cid, "%lld", (long long)fx_lrml);
    char *args2[] = {"--archive", (char *)db, "--candidate", cid, "-o", "-", NULL};
    rc = run_report(args2, &out, &err);
    CHECK_MSG(rc == 0 && out, "discover report --candidate %s failed (%d): %s", cid, rc, err ? err : "");
    char *fc = figure(out ? out : "", "fig-curves");
    snprintf(anchor, sizeof anchor, "of <a href=\"#c%lld\">#%lld lrml</a></b> (chosen with --candidate)",
             (long long)fx_lrml, (long long)fx_lrml);
    CHECK_MSG(strstr(fc, anchor) != NULL, "the curves figure must show the chosen candidate");
    CHECK_MSG(count_str(fc, "data-kind=\"curve\"") == 3, "sentiment curves: %d", count_str(fc, "data-kind=\"curve\""));
    CHECK(strstr(fc, "sft/reward") && strstr(fc, "beta_0.05/po/reward") && strstr(fc, "beta_0.05/po/kl"));
    CHECK(count_str(fc, "data-kind=\"drift-time\"") == 3 && count_str(fc, "data-kind=\"drift-magnitude\"") == 3);
    /* sft/reward goes 0.50 → 1.00 as 0.02·t²: 90 % of the change (0.45) is first covered at
     * t = 5 (0.02·25 = 0.5), step 200; po/reward covers 90 % of 0.1·(1 − e^−5) at t = 3. */
    CHECK_MSG(strstr(fc, "by step 200") != NULL, "drift time of sft/reward: want 'by step 200'");
    CHECK_MSG(strstr(fc, "by step 60") != NULL, "drift time of beta_0.05/po/reward: want 'by step 60'");
    free(fc);
    /* The drift overlay of LRML (one seed) with DPO's run (its seed 1: the first of its two)
     * and the PPO baseline from DPO's run: reward through SFT, PPO, LRML and DPO; length
     * through SFT, PPO and DPO (LRML traced no length). */
    char *fd = figure(out ? out : "", "fig-drift");
    CHECK_MSG(count_str(fd, "data-kind=\"drift-line\"") == 7, "drift lines: %d",
              count_str(fd, "data-kind=\"drift-line\""));
    CHECK(count_str(fd, "data-kind=\"drift-line\" data-phase=\"sft\"") == 2);
    CHECK(count_str(fd, "data-kind=\"drift-line\" data-phase=\"ppo\"") == 2);
    CHECK(count_str(fd, "data-kind=\"drift-line\" data-phase=\"trained\"") == 3);
    /* legend drifts, in drawing order: reward SFT +0.5, PPO +0.05 (seed 1: 1 → 1.05), LRML
     * 0.1·(1 − e^−5), DPO −0.2 (seed 1; seed 2 would be −0.4); length SFT −5, PPO −2.5, DPO +5 */
    const double want[7] = {0.5, 0.05, 0.1 * (1 - exp(-5)), -0.2, -5, -2.5, 5};
    const char *p = fd;
    for (int i = 0; i < 7; i++) {
        p = strstr(p, "data-kind=\"drift-legend\"");
        CHECK_MSG(p != NULL, "drift legend %d", i);
        if (!p) break;
        CHECK_NEAR(read_attr(p, "data-kind=\"drift-legend\"", "data-drift"), want[i], 1e-5);
        p++;
    }
    snprintf(anchor, sizeof anchor, "#%lld DPO (\xce\xb2 0.05)", (long long)fx_dpo);
    CHECK(strstr(fd, anchor) != NULL && strstr(fd, "lrml (\xce\xb2 0.05)") != NULL);
    free(fd);
    free(out), free(err), out = err = NULL;

    /* Screenshot for people (and proof the page renders at all). */
    char *png = path_in(outdir, "senti.png");
    dc_sb mode = {0};
    dc_sb_printf(&mode, "--screenshot=%s", png);
    unlink(png);
    rc = chromium(chrome, mode.data, html_path, &out, &err);
    struct stat st;
    CHECK_MSG(rc == 0 && stat(png, &st) == 0 && st.st_size > 20000, "screenshot %s missing or tiny", png);
    printf("screenshot: %s\n", png);
    dc_sb_free(&mode);
    free(png);
    free(out), free(err);
    free(html_path);
}

int main(void)
{
    double t0 = dc_now();
    check_units();
    check_many();
    char tmpl[] = "/tmp/dc_report_test.XXXXXX";
    g_tmp = mkdtemp(tmpl);
    if (!g_tmp) {
        perror("mkdtemp");
        return 2;
    }
    char outdir[1024], e[512];
    if (!getcwd(outdir, sizeof outdir - 32)) return 2;
    strcat(outdir, "/test_report_out");
    if (dc_mkdirs(outdir, e, sizeof e) != 0) {
        fprintf(stderr, "%s\n", e);
        return 2;
    }
    char *db = path_in(g_tmp, "fixture.db");
    archive *a = NULL;
    if (archive_open(db, ARC_CREATE, &a, e, sizeof e) != 0) {
        fprintf(stderr, "%s\n", e);
        return 2;
    }
    build_fashion(a);
    build_sentiment(a);
    archive_close(a);

    check_cli(db);
    char *chrome = find_chromium();
    CHECK_MSG(chrome != NULL, "chromium is not installed: the report test renders pages in headless "
                              "Chromium; run ./setup.sh test (it installs it)");
    if (chrome) {
        check_fashion_page(chrome, db, outdir);
        check_sentiment_page(chrome, db, outdir);
    }
    printf("pages and screenshot in %s (%.1f s)\n", outdir, dc_now() - t0);
    free(chrome);
    dc_curves_free(&fx_curves);
    dc_curves_free(&fx_senti_curves);
    dc_curves_free(&fx_dpo_curves);
    free(db);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmp);
    return TEST_REPORT();
}
