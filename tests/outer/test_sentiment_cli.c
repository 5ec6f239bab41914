/* The preference task from the command line: `discover eval --task sentiment --beta` gives
 * reward, KL and preference accuracy per β plus the reference policy's reward, and
 * `discover run --task sentiment` works with every proposer (evolve, llm, replay). Uses the
 * task's CI-sized configuration and a private cache folder. */
#define _GNU_SOURCE
#include "tests/test.h"

#include "archive/archive.h"
#include "common/util.h"
#include "fake_llm_server.h"
#include "run_child.h"

#include <cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Small model, few steps: seconds per candidate (tests/inner_loop/test_sentiment_task.c). */
#define TINY "--set", "vocab=1024", "--set", "layers=1", "--set", "width=48", "--set",         \
             "heads=2", "--set", "context=40", "--set", "pretrain_steps=100", "--set",        \
             "sft_steps=400", "--set", "lm_batch=16", "--set", "sft_lr=0.004", "--set",       \
             "pretrain_lr=0.004", "--set", "prompts=256", "--set", "samples=8", "--set",      \
             "eval_prompts=64", "--set", "eval_samples=4", "--set", "response_len=16",        \
             "--set", "steps=40", "--set", "batch=16", "--set", "lr=0.002", "--set",          \
             "threads=1", "--set", "gap=0.15"

static char tmp[128];

static const char *statuses(const char *db, const char *campaign, char *buf, size_t cap)
{
    buf[0] = '\0';
    archive *a;
    char e[512];
    if (archive_open(db, ARC_READONLY, &a, e, sizeof e) != 0) return buf;
    arc_campaign c;
    if (archive_campaign_by_name(a, campaign, &c, e, sizeof e) == 0) {
        arc_filter f = {.campaign_id = c.id};
        arc_candidate *cs;
        int n;
        if (archive_candidate_list(a, &f, &cs, &n, e, sizeof e) == 0) {
            for (int i = 0; i < n; i++) {
                size_t L = strlen(buf);
                snprintf(buf + L, cap - L, "%s%s", i ? "," : "", cs[i].status);
                arc_candidate_free(&cs[i]);
            }
            free(cs);
        }
        arc_campaign_free(&c);
    }
    archive_close(a);
    return buf;
}

static void test_eval_beta(void)
{
    char *argv[] = {(char *)discover_bin(), "eval", DC_SOURCE_DIR "/examples/objectives/sentiment/dpo.c",
                    "--task", "sentiment", "--beta", "0.5,1", TINY, "--json", NULL};
    char *out = NULL, *err = NULL;
    int rc = run_child(argv, NULL, 300, &out, &err);
    CHECK_MSG(rc == 0, "eval exited %d: %s", rc, err ? err : "");
    cJSON *o = cJSON_Parse(out ? out : "");
    CHECK(o != NULL);
    cJSON *per = cJSON_GetObjectItem(o, "per_beta");
    const char *betas[] = {"0.5", "1"};
    for (int i = 0; i < 2; i++) {
        cJSON *b = cJSON_GetObjectItem(per, betas[i]);
        CHECK_MSG(b != NULL, "per_beta has no %s", betas[i]);
        const char *keys[] = {"reward", "kl", "pref_accuracy"};
        for (int k = 0; k < 3; k++) {
            cJSON *v = cJSON_GetObjectItem(b, keys[k]);
            CHECK_MSG(cJSON_IsNumber(v) && isfinite(v->valuedouble), "beta %s: %s", betas[i], keys[k]);
        }
        cJSON *r = cJSON_GetObjectItem(b, "reward");
        CHECK(r && r->valuedouble > 0 && r->valuedouble < 1);
    }
    cJSON *ref = cJSON_GetObjectItem(o, "ref_reward");
    CHECK(cJSON_IsNumber(ref) && ref->valuedouble > 0 && ref->valuedouble < 1);
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "fitness")));
    cJSON_Delete(o);
    free(out);
    free(err);
}

static char *reply(const char *name, const char *code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "thought", "A margin on the DPO logit.");
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "code", code);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static void test_run_all_proposers(void)
{
    char db[200], buf[512];
    snprintf(db, sizeof db, "%s/senti.db", tmp);
    /* evolve */
    char *a1[] = {(char *)discover_bin(), "run", "--task", "sentiment", "--proposer", "evolve",
                  "--generations", "2", "--archive", db, "--campaign", "evo", "--beta", "0.5",
                  TINY, "--quiet", NULL};
    int rc = run_child(a1, NULL, 300, NULL, NULL);
    CHECK(rc == 0);
    statuses(db, "evo", buf, sizeof buf);
    CHECK_MSG(!strstr(buf, "pending") && strstr(buf, "ok"), "evolve statuses: %s", buf);

    /* llm, against the scripted server */
    fake_llm *srv = fake_llm_start();
    CHECK(srv != NULL);
    if (!srv) return;
    char *good = reply("dpo_margin",
                       "#include <math.h>\n"
                       "void objective(const pref_batch *b, double *loss)\n"
                       "{\n"
                       "    for (int i = 0; i < b->n; i++) {\n"
                       "        double x = b->beta * ((b->chosen_logps[i] - b->ref_chosen_logps[i]) -\n"
                       "                              (b->rejected_logps[i] - b->ref_rejected_logps[i])) - 0.1;\n"
                       "        loss[i] = x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x));\n"
                       "    }\n"
                       "}\n");
    char *bad = reply("nan_loss", "void objective(const pref_batch *b, double *loss)\n"
                                  "{ for (int i = 0; i < b->n; i++) loss[i] = log(-1.0 - b->beta); }\n");
    fake_llm_push_content(srv, good, 100, 50);
    fake_llm_push_content(srv, bad, 100, 50);
    char *a2[] = {(char *)discover_bin(), "run", "--task", "sentiment", "--proposer", "llm",
                  "--api-base", (char *)fake_llm_base_url(srv), "--model", "m", "--generations",
                  "2", "--archive", db, "--campaign", "llm", "--baselines", "dpo", "--beta", "0.5",
                  TINY, "--quiet", NULL};
    rc = run_child(a2, NULL, 300, NULL, NULL);
    CHECK(rc == 0);
    CHECK_STR(statuses(db, "llm", buf, sizeof buf), "ok,ok,nonfinite");
    /* The preference system prompt went out with the β of the task. */
    const char *body = fake_llm_request_body(srv, 0);
    CHECK(body && strstr(body, "pref_batch") && strstr(body, "b->beta is 0.5"));
    fake_llm_stop(srv);
    free(good);
    free(bad);

    /* replay the LLM campaign into the same archive under another name */
    char src[256];
    snprintf(src, sizeof src, "replay:%s", db);
    char *a3[] = {(char *)discover_bin(), "run", "--task", "sentiment", "--proposer", src,
                  "--replay-campaign", "llm", "--generations", "5", "--archive", db, "--campaign",
                  "again", "--baselines", "dpo", "--beta", "0.5", TINY, "--quiet", NULL};
    rc = run_child(a3, NULL, 300, NULL, NULL);
    CHECK(rc == 0);
    CHECK_STR(statuses(db, "again", buf, sizeof buf), "ok,ok,nonfinite");
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/discover-test-senti-XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    setenv("DISCOVER_CACHE", tmp, 1);
    test_eval_beta();
    test_run_all_proposers();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return TEST_REPORT();
}
