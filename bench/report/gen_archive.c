/* gen_archive.c — a synthetic archive for timing `discover report`: one sentiment campaign
 * with N candidates over N/50 generations (statuses mixed as in a real LLM campaign, two
 * 60-point curves and per-beta metrics on each scored one, ~1.5 KB of code and ~400 bytes
 * of thought each), one LLM call per candidate (8 KB request, 2 KB response) and two-seed
 * beta sweeps for DPO and the best candidate.
 *
 * Usage: gen_archive ARCHIVE.db N   (the file must not exist) */
#include "archive/archive.h"
#include "common/curve.h"
#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *e)
{
    fprintf(stderr, "gen_archive: %s\n", e);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 3) die("usage: gen_archive ARCHIVE.db N");
    int n = atoi(argv[2]);
    char e[512];
    archive *a;
    if (archive_open(argv[1], ARC_CREATE, &a, e, sizeof e)) die(e);
    arc_campaign camp = {0};
    camp.name = "synthetic";
    camp.task = "sentiment";
    camp.config_json = "{}";
    camp.proposer = "llm";
    camp.model = "synthetic-model";
    camp.status = "finished";
    if (archive_campaign_create(a, &camp, e, sizeof e)) die(e);
    static const char *st[] = {"ok", "ok", "ok", "compile_error", "ok", "nonfinite", "ok", "duplicate",
                               "ok", "timeout", "ok", "invalid", "crash", "ok", "parse_error"};
    /* DPO's source (the seed) and a family of variants: a logistic/exponential blend with a
     * per-candidate weight, padded with a comment to a realistic size. */
    dc_sb pad = {0};
    for (int i = 0; i < 18; i++) dc_sb_append(&pad, "/* the weight trades the logistic tail for the exponential one */\n");
    char *big = dc_malloc(8192), *resp = dc_malloc(2048);
    memset(big, 'x', 8191), big[8191] = 0;
    memset(resp, 'y', 2047), resp[2047] = 0;
    srand(1);
    int64_t best = 0;
    double bestf = -1;
    for (int i = 0; i < n; i++) {
        int gen = i < 4 ? 0 : 1 + (i - 4) / 50;
        arc_llm_call call = {0};
        call.campaign_id = camp.id;
        call.generation = gen;
        call.request_json = big;
        call.response_raw = resp;
        call.http_status = i % 97 ? 200 : 500;
        call.error = i % 97 ? "" : "HTTP 500";
        call.tokens_in = 2000 + 3 * i;
        call.tokens_out = 300 + rand() % 200;
        call.latency_s = 1.0 + (rand() % 1000) / 250.0;
        call.cost = 1e-6 * (call.tokens_in + 4 * call.tokens_out);
        if (archive_llm_call_insert(a, &call, e, sizeof e)) die(e);
        free(call.created_at);

        const char *s = i < 4 ? "ok" : st[i % 15];
        double w = (i % 89) / 89.0;
        dc_sb code = {0};
        dc_sb_printf(&code,
                     "%s#include <math.h>\nvoid objective(const pref_batch *b, double *loss)\n{\n"
                     "    for (int i = 0; i < b->n; i++) {\n"
                     "        double rho = (b->chosen_logps[i] - b->ref_chosen_logps[i]) -\n"
                     "                     (b->rejected_logps[i] - b->ref_rejected_logps[i]);\n"
                     "        double x = b->beta * rho;\n"
                     "        loss[i] = %.4f * log1p(exp(-x)) + %.4f * exp(-x);\n    }\n}\n",
                     pad.data, 1 - w, w);
        char name[64], thought[512], parents[64], metrics[256];
        snprintf(name, sizeof name, i == 0 ? "dpo" : "blend_%d", i);
        snprintf(thought, sizeof thought,
                 "Blend the logistic loss with the exponential loss at weight %.3f: the exponential "
                 "term pushes harder on pairs the policy already ranks correctly, while the logistic "
                 "term keeps gradients alive on the hard pairs. <b>Expect</b> a small gain in reward "
                 "at the same KL; watch for divergence at small beta (candidate %d).",
                 w, i);
        snprintf(parents, sizeof parents, i < 4 ? "[]" : "[%d,%d]", 1 + rand() % (i > 1 ? i - 1 : 1),
                 1 + rand() % (i > 1 ? i - 1 : 1));
        arc_candidate c = {0};
        c.campaign_id = camp.id;
        c.generation = gen;
        c.parents_json = parents;
        c.name = name;
        c.thought = thought;
        c.code = code.data;
        c.fingerprint = "";
        c.status = (char *)s;
        c.message = strcmp(s, "ok") ? "synthetic failure message" : "";
        c.has_fitness = !strcmp(s, "ok");
        double q = 1 - exp(-gen / 30.0);
        c.fitness = 0.80 + 0.1 * q + 0.03 * ((rand() % 1000) / 1000.0 - 0.5);
        c.test_metric = c.fitness - 0.02 * q + 0.02 * ((rand() % 1000) / 1000.0 - 0.5);
        snprintf(metrics, sizeof metrics,
                 "{\"beta_0.05/reward\":%.4f,\"beta_0.05/kl\":%.4f,\"beta_0.1/reward\":%.4f,\"beta_0.1/kl\":%.4f}",
                 c.fitness + 0.01, 0.9 - 0.2 * w, c.fitness - 0.01, 0.5 - 0.1 * w);
        c.metrics_json = c.has_fitness ? metrics : "{}";
        c.seconds = 30 + rand() % 30;
        c.llm_call_id = call.id;
        if (c.has_fitness)
            for (int t = 0; t < 60; t++) {
                dc_curves_add(&c.curves, "train_loss", 5 * t, 0.69 * exp(-t / (10.0 + w * 20)) + 0.1);
                dc_curves_add(&c.curves, "reward", 5 * t, 0.6 + 0.3 * (1 - exp(-t / 15.0)));
            }
        if (archive_candidate_insert(a, &c, e, sizeof e)) die(e);
        if (c.has_fitness && c.fitness > bestf) bestf = c.fitness, best = c.id;
        dc_curves_free(&c.curves);
        free(c.code_hash);
        free(c.created_at);
        dc_sb_free(&code);
    }
    int64_t swept[2] = {1, best};
    for (int k = 0; k < 2; k++)
        for (int seed = 1; seed <= 2; seed++) {
            arc_evaluation ev = {0};
            ev.candidate_id = swept[k];
            ev.task = "sentiment";
            ev.seed = seed;
            ev.params_json = "{\"betas\":[0.05,0.1,0.25]}";
            ev.status = "ok";
            ev.message = "";
            ev.metrics_json = k ? "{\"beta_0.05/reward\":0.975,\"beta_0.05/kl\":0.66,\"beta_0.1/reward\":0.964,"
                                  "\"beta_0.1/kl\":0.33,\"beta_0.25/reward\":0.925,\"beta_0.25/kl\":0.14}"
                                : "{\"beta_0.05/reward\":0.972,\"beta_0.05/kl\":0.99,\"beta_0.1/reward\":0.964,"
                                  "\"beta_0.1/kl\":0.55,\"beta_0.25/reward\":0.928,\"beta_0.25/kl\":0.18}";
            if (archive_evaluation_insert(a, &ev, e, sizeof e)) die(e);
            free(ev.created_at);
        }
    free(camp.created_at);
    free(camp.updated_at);
    dc_sb_free(&pad);
    free(big);
    free(resp);
    archive_close(a);
    return 0;
}
