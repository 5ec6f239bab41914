/* test_model_reward.c — the bandit's reward as dc_model_pick replays it from an archive: a
 * call scores when its candidate beat the best of its own island archived before it (the
 * seed baselines included), not the campaign's best; failed calls score 0; calls whose
 * candidate is pending or not yet archived are not counted; a dropped model is ignored. */
#define _GNU_SOURCE
#include "archive/archive.h"
#include "common/util.h"
#include "discover/propose/proposer.h"
#include "tests/test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static archive *a;
static int64_t camp;

static int64_t add_call(const char *model, int gen, int island, const char *error)
{
    arc_llm_call call = {0};
    call.campaign_id = camp;
    call.generation = gen;
    call.island = island;
    call.model = (char *)model;
    call.request_json = "{}";
    call.response_raw = "{}";
    call.error = (char *)error;
    call.cost = 0.01;
    char e[512];
    CHECK_MSG(archive_llm_call_insert(a, &call, e, sizeof e) == 0, "%s", e);
    free(call.created_at);
    return call.id;
}

static void add_cand(int gen, int island, const char *name, const char *status, double fitness,
                     int64_t call)
{
    arc_candidate c = {0};
    c.campaign_id = camp;
    c.generation = gen;
    c.island = island;
    c.parents_json = dc_strdup("[]");
    c.name = dc_strdup(name);
    c.thought = dc_strdup("");
    char code[64];
    snprintf(code, sizeof code, "/* %s */", name);
    c.code = dc_strdup(code);
    c.fingerprint = dc_strdup("");
    c.status = dc_strdup(status);
    c.message = dc_strdup("");
    c.has_fitness = !isnan(fitness);
    c.fitness = fitness;
    c.test_metric = NAN;
    c.metrics_json = dc_strdup("{}");
    c.llm_call_id = call;
    char e[512];
    CHECK_MSG(archive_candidate_insert(a, &c, e, sizeof e) == 0, "%s", e);
    arc_candidate_free(&c);
}

int main(void)
{
    char dir[] = "/tmp/discover-test-reward-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char path[300], e[512];
    snprintf(path, sizeof path, "%s/r.db", dir);
    CHECK_MSG(archive_open(path, ARC_CREATE, &a, e, sizeof e) == 0, "%s", e);
    arc_campaign nc = {0};
    nc.name = "r";
    nc.task = "fashion";
    nc.config_json = "{}";
    nc.proposer = "llm";
    nc.model = "a,b,c";
    nc.status = "running";
    CHECK_MSG(archive_campaign_create(a, &nc, e, sizeof e) == 0, "%s", e);
    free(nc.created_at);
    free(nc.updated_at);
    camp = nc.id;

    add_cand(0, 0, "baseline", "ok", 0.5, 0);
    /* island 0: a's candidate 0.9 improves; island 1: b's 0.7 improves on ITS island's best
     * (the baseline's 0.5) although the campaign's best is 0.9; b's next, 0.6, does not */
    add_cand(1, 0, "a1", "ok", 0.9, add_call("a", 1, 0, ""));
    add_cand(2, 1, "b1", "ok", 0.7, add_call("b", 2, 1, ""));
    add_cand(4, 1, "b2", "ok", 0.6, add_call("b", 4, 1, ""));
    /* a failed call: 0; a call of a model no longer listed ("c"): ignored; a pending
     * candidate and a call without its candidate yet: not counted */
    add_call("a", 3, 0, "HTTP 500");
    add_cand(5, 0, "c1", "ok", 0.95, add_call("c", 5, 0, ""));
    add_cand(6, 1, "a_pending", "pending", NAN, add_call("a", 6, 1, ""));
    add_call("b", 7, 0, "");

    dc_propose_settings st = {0};
    llm_config_default(&st.llm);
    st.llm.model = "a,b";
    st.model_select = "ucb";
    dc_propose_ctx ctx = {.a = a, .campaign_id = camp, .generation = 8, .settings = &st};
    dc_model_select sel;
    int arm = dc_model_pick(&ctx, &sel, e, sizeof e);
    CHECK_MSG(arm >= 0, "%s", e);
    CHECK(sel.n == 2);
    CHECK_MSG(sel.arms[0].pulls == 2 && sel.arms[0].wins == 1, "a: %d pulls, %d wins",
              sel.arms[0].pulls, sel.arms[0].wins);
    CHECK_MSG(sel.arms[1].pulls == 2 && sel.arms[1].wins == 1, "b: %d pulls, %d wins",
              sel.arms[1].pulls, sel.arms[1].wins);
    archive_close(a);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return TEST_REPORT();
}
