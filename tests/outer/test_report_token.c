/* test_report_token — `discover report` on a token-level preference campaign (the task's
 * interface SBX_TOKEN_PREF): the preference section is there, the frontier is drawn from the
 * task's metric schema with its reference baseline dashed, and the loss curves are computed
 * in the sandbox through the token-level interface (one token per response, similarity 0.5),
 * checked against hand-computed losses. The page's text only, no browser (test_report has
 * the browser checks of the same figures). */
#define _GNU_SOURCE
#include "tests/test.h"

#include "archive/archive.h"
#include "common/util.h"
#include "discover/propose/evolve/evolve_token.h"
#include "discover/report/report.h"
#include "run_child.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int count_str(const char *hay, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)); p += len)
        n++;
    return n;
}

/* The space-separated numbers of attribute attr in the first element carrying anchor. */
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
        while (*v == ' ')
            v++;
    }
    return n;
}

static int64_t add(archive *a, int64_t camp, int gen, const char *name, const char *code,
                   double fit, const char *metrics)
{
    arc_candidate c;
    memset(&c, 0, sizeof c);
    c.campaign_id = camp;
    c.generation = gen;
    c.parents_json = "[]";
    c.name = (char *)name;
    c.thought = "fixture";
    c.code = (char *)code;
    c.fingerprint = "";
    c.status = "ok";
    c.message = "";
    c.has_fitness = 1;
    c.fitness = fit;
    c.test_metric = fit;
    c.metrics_json = (char *)metrics;
    c.seconds = 1;
    char err[512];
    if (archive_candidate_insert(a, &c, err, sizeof err) != 0) {
        fprintf(stderr, "fixture: %s\n", err);
        exit(2);
    }
    free(c.code_hash);
    free(c.created_at);
    return c.id;
}

static char *seed_code(int i)
{
    evolve_proposal p;
    if (evolve_token_seed(i, &p) != 0) return dc_strdup("");
    char *code = dc_strdup(p.text.code);
    evolve_proposal_free(&p);
    return code;
}

int main(void)
{
    char dir[] = "/tmp/dc_report_token_XXXXXX", db[128], err[512];
    if (!mkdtemp(dir)) return 2;
    snprintf(db, sizeof db, "%s/tok.db", dir);
    archive *a;
    if (archive_open(db, ARC_CREATE, &a, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    arc_campaign camp;
    memset(&camp, 0, sizeof camp);
    camp.name = "tok";
    camp.task = "sentiment-token";
    camp.config_json = "{}";
    camp.proposer = "evolve";
    camp.model = "";
    camp.seed = 1;
    camp.status = "finished";
    if (archive_campaign_create(a, &camp, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    free(camp.created_at);
    free(camp.updated_at);
    char *dpo = seed_code(0), *gate = seed_code(1), *lr = seed_code(2);
    /* the reference is the candidate named as the task's reference baseline (dpo_token) */
    int64_t id_dpo = add(a, camp.id, 0, "dpo_token", dpo, 0.90,
                         "{\"beta_0.05/reward\":0.91,\"beta_0.05/kl\":0.4,"
                         "\"beta_0.1/reward\":0.88,\"beta_0.1/kl\":0.2}");
    int64_t id_gate = add(a, camp.id, 0, "token_ambiguity_gate", gate, 0.95,
                          "{\"beta_0.05/reward\":0.93,\"beta_0.05/kl\":0.35,"
                          "\"beta_0.1/reward\":0.9,\"beta_0.1/kl\":0.15}");
    int64_t id_lr = add(a, camp.id, 0, "token_unlearned_focus", lr, 0.92, "{}");
    archive_close(a);

    char *out = NULL, *errs = NULL;
    char *argv[] = {(char *)discover_bin(), "report", "--archive", db, "-o", "-", NULL};
    int rc = run_child(argv, NULL, 60, &out, &errs);
    CHECK_MSG(rc == 0 && out, "discover report failed (%d): %s", rc, errs ? errs : "");
    const char *html = out ? out : "";
    CHECK(strstr(html, "<section id=\"preference\">") && strstr(html, "href=\"#preference\""));
    CHECK(strstr(html, "one token per response and similarity 0.5") != NULL);

    /* frontier: two β each for the reference and the gate, dashed reference */
    char anchor[160];
    CHECK_MSG(count_str(html, "data-kind=\"frontier-point\"") == 4, "frontier points %d",
              count_str(html, "data-kind=\"frontier-point\""));
    double v = NAN;
    snprintf(anchor, sizeof anchor,
             "data-kind=\"frontier-point\" data-id=\"%lld\" data-beta=\"0.1\"", (long long)id_gate);
    CHECK(read_values(html, anchor, "data-reward", &v, 1) == 1 && fabs(v - 0.9) < 1e-9);
    snprintf(anchor, sizeof anchor,
             "data-kind=\"frontier-point\" data-id=\"%lld\" data-beta=\"0.05\"", (long long)id_dpo);
    CHECK(read_values(html, anchor, "data-kl", &v, 1) == 1 && fabs(v - 0.4) < 1e-9);
    CHECK(strstr(html, "DPO dashed.") != NULL);

    /* losses through the token interface: the reference and the gate (weight 1 at similarity
     * 0.5) lie on log(1+e^-x); the log-ratio focus weights the chosen token 0.5 + σ(-x) */
    CHECK_MSG(count_str(html, "data-kind=\"loss\"") == 4, "loss curves %d",
              count_str(html, "data-kind=\"loss\""));
    double f[RP_LOSS_N];
    int64_t same[2] = {id_dpo, id_gate};
    for (int c = 0; c < 3; c++) {
        snprintf(anchor, sizeof anchor, "data-kind=\"loss\" data-id=\"%lld\"",
                 (long long)(c < 2 ? same[c] : id_lr));
        CHECK(read_values(html, anchor, "data-y", f, RP_LOSS_N) == RP_LOSS_N);
        double worst = 0;
        for (int i = 0; i < RP_LOSS_N; i++) {
            double x = RP_LOSS_XMIN + (RP_LOSS_XMAX - RP_LOSS_XMIN) * i / (RP_LOSS_N - 1);
            double w = c < 2 ? 1.0 : 0.5 + 1.0 / (1.0 + exp(x));
            double want = log1p(exp(-w * x));
            worst = fmax(worst, fabs(f[i] - want) / fmax(1, want));
        }
        CHECK_MSG(worst < 1e-4, "candidate %d's token-level loss off by %g", c, worst);
    }
    free(out);
    free(errs);
    free(dpo);
    free(gate);
    free(lr);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return TEST_REPORT();
}
