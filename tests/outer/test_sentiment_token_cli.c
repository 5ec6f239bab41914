/* `discover run --task sentiment-token` with every proposer (evolve, llm against the
 * scripted server, replay of that campaign), at the CI-sized configuration of
 * test_sentiment_token.c (same cached stages). The LLM's request carries the token-level
 * system prompt; a reply written against the sequence-level pref_batch is a compile error
 * that names token_pref_batch. */
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

#define TINY                                                                                       \
    "--set", "vocab=1024", "--set", "layers=1", "--set", "width=48", "--set", "heads=2", "--set",  \
        "context=40", "--set", "pretrain_steps=100", "--set", "sft_steps=400", "--set",            \
        "lm_batch=16", "--set", "sft_lr=0.004", "--set", "pretrain_lr=0.004", "--set",             \
        "prompts=256", "--set", "samples=8", "--set", "eval_prompts=64", "--set",                  \
        "eval_samples=4", "--set", "response_len=16", "--set", "steps=20", "--set", "batch=16",    \
        "--set", "lr=0.002", "--set", "threads=1", "--set", "gap=0.15", "--set", "curve_points=2", \
        "--beta", "0.5"

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

/* Every candidate of campaign "evo" is token-level code with evolve's token genes; the seeds
 * use each kind of weight; the last two are children (with parents) of scored seeds. */
static void check_evolve_tokens(const char *db)
{
    archive *a;
    char e[512];
    arc_campaign c;
    arc_candidate *cs = NULL;
    int n = 0;
    CHECK(archive_open(db, ARC_READONLY, &a, e, sizeof e) == 0);
    CHECK(archive_campaign_by_name(a, "evo", &c, e, sizeof e) == 0);
    arc_filter f = {.campaign_id = c.id, .with_code = 1};
    CHECK_MSG(archive_candidate_list(a, &f, &cs, &n, e, sizeof e) == 0, "%s", e);
    CHECK(n == 6);
    int sim = 0, lr = 0, pos = 0;
    for (int i = 0; i < n; i++) {
        const char *code = cs[i].code ? cs[i].code : "";
        CHECK(strstr(code, "evolve-token:") && strstr(code, "const token_pref_batch *t"));
        sim += strstr(code, "ambiguous tokens down") != NULL;
        lr += strstr(code, "not yet learned") != NULL;
        pos += strstr(code, "position ramp */") != NULL;
    }
    CHECK(n == 6 && !strcmp(cs[0].name, "dpo_token"));
    CHECK(sim >= 1 && lr >= 1 && pos >= 1);
    for (int i = 4; i < n; i++)
        CHECK_MSG(cs[i].thought && (!strncmp(cs[i].thought, "Mutation", 8) ||
                                    !strncmp(cs[i].thought, "Crossover", 9)),
                  "candidate %d: %s", i, cs[i].thought ? cs[i].thought : "(no thought)");
    for (int i = 0; i < n; i++)
        arc_candidate_free(&cs[i]);
    free(cs);
    arc_campaign_free(&c);
    archive_close(a);
}

static char *reply(const char *name, const char *code)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "thought", "Weight key tokens more.");
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddStringToObject(o, "code", code);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

int main(void)
{
    char tmp[128] = "/tmp/discover-test-token-XXXXXX", db[200], buf[512];
    if (!mkdtemp(tmp)) return 1;
    snprintf(db, sizeof db, "%s/token.db", tmp);

    char *a1[] = {(char *)discover_bin(),
                  "run",
                  "--task",
                  "sentiment-token",
                  "--proposer",
                  "evolve",
                  "--generations",
                  "2",
                  "--archive",
                  db,
                  "--campaign",
                  "evo",
                  TINY,
                  "--quiet",
                  NULL};
    CHECK(run_child(a1, NULL, 300, NULL, NULL) == 0);
    /* evolve's four token-level seeds, then two children of them */
    CHECK_STR(statuses(db, "evo", buf, sizeof buf), "ok,ok,ok,ok,ok,ok");
    check_evolve_tokens(db);

    fake_llm *srv = fake_llm_start();
    CHECK(srv != NULL);
    if (!srv) return TEST_REPORT();
    char *good =
        reply("key_weighted",
              "#include <math.h>\n"
              "void objective(const token_pref_batch *b, double *loss)\n{\n"
              "    for (int i = 0; i < b->n; i++) {\n"
              "        double m = 0;\n"
              "        for (int t = 0; t < b->chosen_len[i]; t++) {\n"
              "            int j = b->chosen_off[i] + t;\n"
              "            m += (1.5 - b->chosen_sim[j]) * (b->chosen_logps[j] - "
              "b->ref_chosen_logps[j]);\n        }\n"
              "        for (int t = 0; t < b->rejected_len[i]; t++) {\n"
              "            int j = b->rejected_off[i] + t;\n"
              "            m -= (1.5 - b->rejected_sim[j]) * (b->rejected_logps[j] - "
              "b->ref_rejected_logps[j]);\n        }\n"
              "        double x = b->beta * m;\n"
              "        loss[i] = x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x));\n    }\n}\n");
    char *seq = reply("sequence_level", "void objective(const pref_batch *b, double *loss)\n"
                                        "{ for (int i = 0; i < b->n; i++) loss[i] = b->beta; }\n");
    fake_llm_push_content(srv, good, 100, 50);
    fake_llm_push_content(srv, seq, 100, 50);
    char *a2[] = {(char *)discover_bin(),
                  "run",
                  "--task",
                  "sentiment-token",
                  "--proposer",
                  "llm",
                  "--api-base",
                  (char *)fake_llm_base_url(srv),
                  "--model",
                  "m",
                  "--generations",
                  "2",
                  "--archive",
                  db,
                  "--campaign",
                  "llm",
                  "--baselines",
                  "dpo_token",
                  TINY,
                  "--quiet",
                  NULL};
    CHECK(run_child(a2, NULL, 300, NULL, NULL) == 0);
    CHECK_STR(statuses(db, "llm", buf, sizeof buf), "ok,ok,compile_error");
    const char *body = fake_llm_request_body(srv, 0);
    CHECK(body && strstr(body, "token_pref_batch") && strstr(body, "chosen_sim"));
    fake_llm_stop(srv);
    free(good);
    free(seq);

    char src[256];
    snprintf(src, sizeof src, "replay:%s", db);
    char *a3[] = {(char *)discover_bin(),
                  "run",
                  "--task",
                  "sentiment-token",
                  "--proposer",
                  src,
                  "--replay-campaign",
                  "llm",
                  "--generations",
                  "5",
                  "--archive",
                  db,
                  "--campaign",
                  "again",
                  "--baselines",
                  "dpo_token",
                  TINY,
                  "--quiet",
                  NULL};
    CHECK(run_child(a3, NULL, 300, NULL, NULL) == 0);
    CHECK_STR(statuses(db, "again", buf, sizeof buf), "ok,ok,compile_error");

    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return TEST_REPORT();
}
