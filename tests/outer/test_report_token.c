/* test_report_token — `discover report` on a token-level preference campaign (the task's
 * interface SBX_TOKEN_PREF): the preference section is there, the frontier is drawn from the
 * task's metric schema with its reference baseline dashed, and the loss curves are computed
 * in the sandbox through the token-level interface (one token per response, similarity 0.5),
 * checked against hand-computed losses. The token-weight figure: on an archived held-out
 * pair, the shipped dpo_token.c weights every token 1 and aao.c follows the pair's
 * similarity groups (key 1.5, transitional 1, ambiguous 0.5, as its formula says), one
 * coloured span per token, token text escaped. The page's text only, no browser
 * (test_report has the browser checks of the same figures). */
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

static char *read_example(const char *name)
{
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/examples/objectives/sentiment-token/%s.c", DC_SOURCE_DIR, name);
    char *t = dc_read_file(path, 0, NULL, err, sizeof err);
    if (!t) {
        fprintf(stderr, "fixture: %s\n", err);
        exit(2);
    }
    return t;
}

/* The held-out pair: three similarity groups per response (key 0, transitional 0.5,
 * ambiguous 1), and an "<eot>" token that must come out escaped. */
#define PAIR_BETA 0.1
static const char *const CH_TOK[] = {"the", "plot", "was", "wonderful", "and", "moving", "<eot>"};
static const double CH_SIM[] = {1, 1, 0.5, 0, 1, 0, 0.5};
static const double CH_REF[] = {-1.5, -3.25, -0.75, -6.5, -1.125, -4.5, -2.0};
static const char *const RJ_TOK[] = {"the", "plot", "was", "dull", "<eot>"};
static const double RJ_SIM[] = {1, 1, 0.5, 0, 0.5};
static const double RJ_REF[] = {-1.25, -3.5, -0.5, -5.0, -2.25};
#define NCH 7
#define NRJ 5

/* Metrics as the task archives them: the pair only inside the first seed's metrics. */
static char *pair_metrics(void)
{
    cJSON *m = cJSON_CreateObject(), *ps = cJSON_AddArrayToObject(m, "per_seed");
    cJSON *s0 = cJSON_CreateObject(), *pair = cJSON_AddObjectToObject(s0, "token_pair");
    cJSON_AddItemToArray(ps, s0);
    cJSON_AddNumberToObject(pair, "beta", PAIR_BETA);
    cJSON_AddStringToObject(pair, "prompt", "i think");
    for (int side = 0; side < 2; side++) {
        cJSON *o = cJSON_AddObjectToObject(pair, side ? "rejected" : "chosen");
        int n = side ? NRJ : NCH;
        cJSON_AddItemToObject(o, "tokens", cJSON_CreateStringArray(side ? RJ_TOK : CH_TOK, n));
        cJSON_AddItemToObject(o, "ref_logps", cJSON_CreateDoubleArray(side ? RJ_REF : CH_REF, n));
        cJSON_AddItemToObject(o, "sim", cJSON_CreateDoubleArray(side ? RJ_SIM : CH_SIM, n));
        cJSON_AddNumberToObject(o, "reward", side ? 0.2 : 0.9);
    }
    char *t = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return t;
}

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* aao.c's token weight (its constants) and what its chosen-likelihood term adds to a chosen
 * token's effective weight: λ / len divided by DPO's β/2. */
static double aao_weight(double s, int chosen)
{
    double w = 1.0 - 0.5 * sigmoid((s - 0.7) / 0.05) + 0.5 * sigmoid((0.3 - s) / 0.05);
    return w + (chosen ? 0.01 / NCH / (PAIR_BETA / 2) : 0);
}

/* The weight of token t of side (0 chosen, 1 rejected) in candidate id's row; NAN when
 * absent. */
static double weight_of(const char *html, int64_t id, int side, int t)
{
    char anchor[200];
    snprintf(anchor, sizeof anchor,
             "data-kind=\"token-weight\" data-id=\"%lld\" data-side=\"%s\" data-t=\"%d\"",
             (long long)id, side ? "rejected" : "chosen", t);
    double w = NAN;
    return read_values(html, anchor, "data-weight", &w, 1) == 1 ? w : NAN;
}

/* The token-weight figure of campaign "pair": dpo_token.c and aao.c (the best) on the pair. */
static void check_token_weights(const char *db, int64_t id_dpo, int64_t id_aao)
{
    char *out = NULL, *errs = NULL;
    char *argv[] = {(char *)discover_bin(),
                    "report",
                    "--archive",
                    (char *)db,
                    "--campaign",
                    "pair",
                    "-o",
                    "-",
                    NULL};
    int rc = run_child(argv, NULL, 60, &out, &errs);
    CHECK_MSG(rc == 0 && out, "discover report --campaign pair failed (%d): %s", rc,
              errs ? errs : "");
    const char *html = out ? out : "";
    CHECK(strstr(html, "id=\"fig-token-weights\"") && strstr(html, "divided by DPO's gradient"));
    CHECK(strstr(html, "data-kind=\"token-weight-legend\"") != NULL);
    CHECK(strstr(html, "(DPO reference)") && strstr(html, "(best by fitness)"));
    /* one coloured span per token and objective, token text escaped */
    CHECK_MSG(count_str(html, "data-kind=\"token-weight\"") == 2 * (NCH + NRJ), "%d spans",
              count_str(html, "data-kind=\"token-weight\""));
    CHECK(count_str(html, "&lt;eot&gt;</span>") == 4 && !strstr(html, "<eot>"));
    CHECK(count_str(html, ">wonderful</span>") == 2);
    for (int side = 0; side < 2; side++) {
        int n = side ? NRJ : NCH;
        const double *sim = side ? RJ_SIM : CH_SIM;
        double lo = INFINITY, hi = -INFINITY;
        for (int t = 0; t < n; t++) {
            /* DPO: the same weight, 1, on every token of a response */
            double w = weight_of(html, id_dpo, side, t);
            lo = fmin(lo, w), hi = fmax(hi, w);
            CHECK_MSG(fabs(w - 1) < 1e-5, "dpo_token side %d token %d: weight %g", side, t, w);
            /* AAO: its weight of the token's similarity group */
            double a = weight_of(html, id_aao, side, t), want = aao_weight(sim[t], side == 0);
            CHECK_MSG(fabs(a - want) < 1e-5, "aao side %d token %d (sim %g): weight %g, want %g",
                      side, t, sim[t], a, want);
        }
        CHECK_MSG(hi - lo < 1e-6, "dpo_token side %d: weights differ by %g", side, hi - lo);
        /* key tokens (similarity 0) above transitional ones (0.5) above ambiguous ones (1) */
        double key = weight_of(html, id_aao, side, 3), trans = weight_of(html, id_aao, side, 2),
               amb = weight_of(html, id_aao, side, 0);
        CHECK_MSG(key > trans + 0.4 && trans > amb + 0.4, "aao side %d: key %g trans %g amb %g",
                  side, key, trans, amb);
    }
    free(errs);
    free(out);
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
    camp.created_at = camp.updated_at = NULL; /* freed above; the next create sets them */
    /* a second campaign whose candidates carry the held-out pair: the shipped DPO and AAO */
    camp.name = "pair";
    if (archive_campaign_create(a, &camp, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    free(camp.created_at);
    free(camp.updated_at);
    char *pm = pair_metrics(), *dpo_c = read_example("dpo_token"), *aao_c = read_example("aao");
    int64_t id_pdpo = add(a, camp.id, 0, "dpo_token", dpo_c, 0.90, pm);
    int64_t id_aao = add(a, camp.id, 0, "aao", aao_c, 0.97, pm);
    archive_close(a);
    check_token_weights(db, id_pdpo, id_aao);
    free(pm);
    free(dpo_c);
    free(aao_c);

    char *out = NULL, *errs = NULL;
    char *argv[] = {
        (char *)discover_bin(), "report", "--archive", db, "--campaign", "tok", "-o", "-", NULL};
    int rc = run_child(argv, NULL, 60, &out, &errs);
    CHECK_MSG(rc == 0 && out, "discover report failed (%d): %s", rc, errs ? errs : "");
    const char *html = out ? out : "";
    CHECK(strstr(html, "<section id=\"preference\">") && strstr(html, "href=\"#preference\""));
    CHECK(strstr(html, "one token per response and similarity 0.5") != NULL);
    /* no held-out pair archived in this campaign: the figure says so, draws no token */
    CHECK(strstr(html, "id=\"fig-token-weights\"") &&
          strstr(html, "No candidate of this campaign has a held-out pair archived"));
    CHECK(count_str(html, "data-kind=\"token-weight\"") == 0);

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
