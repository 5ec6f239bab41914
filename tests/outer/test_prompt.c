/* Prompt templates and conversation assembly: placeholders are checked, every status has
 * its feedback, the full strategy replays the history in order, the budgeted strategy
 * fits its budget. */
#define _GNU_SOURCE
#include "tests/test.h"

#include "common/util.h"
#include "discover/propose/prompt.h"
#include "sandbox/sandbox.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static arc_candidate cand(int64_t id, int gen, const char *name, const char *status, double fit,
                          const char *msg)
{
    arc_candidate c;
    memset(&c, 0, sizeof c);
    c.id = id;
    c.generation = gen;
    c.name = (char *)name;
    c.thought = "an idea";
    c.code = "void objective(int n, int k, const double *l, const int *y, double *loss) {}";
    c.status = (char *)status;
    c.message = (char *)msg;
    c.has_fitness = !strcmp(status, "ok") || !strcmp(status, "duplicate");
    c.fitness = fit;
    return c;
}

static void test_feedback(const dc_prompts *p)
{
    char err[512];
    arc_candidate ok = cand(1, 1, "a", "ok", 0.81234, "");
    char *f = dc_prompt_feedback(p, &ok, NULL, 0, err, sizeof err);
    CHECK_STR(f, "Fitness: 0.8123. Please generate the next one.\n");
    free(f);
    const char *st[] = {"compile_error", "violation", "crash", "timeout", "nonfinite", "invalid",
                        "parse_error", "error"};
    const char *want[] = {"Code not valid. Error: line 3: bad", "Only the listed", "crashed",
                          "took too long", "finite", "Code not valid", "Reply not understood",
                          "Evaluation failed"};
    for (int i = 0; i < 8; i++) {
        arc_candidate c = cand(2, 1, "b", st[i], 0, "line 3: bad.");
        f = dc_prompt_feedback(p, &c, NULL, 0, err, sizeof err);
        CHECK_MSG(f && strstr(f, want[i]), "%s -> %s", st[i], f ? f : err);
        CHECK(f && strstr(f, "line 3: bad") && !strstr(f, "bad.."));
        free(f);
    }
    arc_candidate d = cand(3, 2, "c", "duplicate", 0.5, "");
    f = dc_prompt_feedback(p, &d, "dpo", 0.5, err, sizeof err);
    CHECK(f && strstr(f, "\"dpo\"") && strstr(f, "0.5000"));
    free(f);
}

static void test_conversations(const dc_prompts *p)
{
    arc_candidate c[6] = {
        cand(1, 0, "cross_entropy", "ok", 0.80, ""), cand(2, 0, "focal", "ok", 0.78, ""),
        cand(3, 1, "try1", "ok", 0.82, ""),          cand(4, 2, "try2", "compile_error", 0, "oops"),
        cand(5, 3, "try3", "ok", 0.79, ""),          cand(6, 4, "try4", "pending", 0, ""),
    };
    dc_context_cfg ctx;
    dc_context_default(&ctx);
    dc_conversation conv;
    char err[512];
    CHECK(dc_prompt_conversation(p, NULL, "system_fashion.txt", 0.05, "validation accuracy", &ctx, c, 6, &conv,
                                 err, sizeof err) == 0);
    /* system, first message, then (assistant, feedback) for gens 1..3; pending skipped. */
    CHECK(conv.n == 2 + 2 * 3);
    CHECK_STR(conv.role[0], "system");
    CHECK(strstr(conv.content[0], "void objective(int n, int k") != NULL);
    CHECK(strstr(conv.content[0], "validation accuracy") != NULL);
    CHECK(strstr(conv.content[1], "Name: cross_entropy") && strstr(conv.content[1], "Fitness: 0.8000"));
    CHECK(strstr(conv.content[1], "try1") == NULL);
    CHECK_STR(conv.role[2], "assistant");
    CHECK(strstr(conv.content[2], "\"name\":\"try1\"") != NULL);
    CHECK(strstr(conv.content[3], "Fitness: 0.8200") != NULL);
    CHECK(strstr(conv.content[5], "Code not valid. Error: oops") != NULL);
    dc_conversation_free(&conv);

    ctx.strategy = DC_CONTEXT_BUDGETED;
    ctx.top_k = 2;
    CHECK(dc_prompt_conversation(p, NULL, "system_sentiment.txt", 0.1, "reward", &ctx, c, 6, &conv, err,
                                 sizeof err) == 0);
    CHECK(conv.n == 2);
    CHECK(strstr(conv.content[0], "b->beta is 0.1") != NULL);
    const char *u = conv.content[1];
    /* best two, best first */
    const char *p1 = strstr(u, "Name: try1"), *p2 = strstr(u, "Name: cross_entropy");
    CHECK(p1 && p2 && p1 < p2);
    CHECK(strstr(u, "- try2: compile_error: oops") != NULL);
    dc_conversation_free(&conv);

    /* A tiny budget shrinks the message to the minimum instead of failing. */
    ctx.token_budget = 200;
    CHECK(dc_prompt_conversation(p, NULL, "system_sentiment.txt", 0.1, "reward", &ctx, c, 6, &conv, err,
                                 sizeof err) == 0);
    CHECK(conv.n == 2 && strstr(conv.content[1], "Name: focal") == NULL);
    dc_conversation_free(&conv);
}

/* --prompt-style: discover keeps the task's prompt; discopop's is DiscoPOP's shorter one
 * (the role, the keys in order, the interface, one example, fitness to maximise) without
 * discover's hints; a task without one, or an unknown style, is refused by name. */
static void test_prompt_styles(const dc_prompts *p)
{
    char file[256], err[512];
    CHECK(dc_prompt_style_file(p, "", "system_fashion.txt", file, sizeof file, err, sizeof err) == 0);
    CHECK_STR(file, "system_fashion.txt");
    CHECK(dc_prompt_style_file(p, "discover", "system_sentiment.txt", file, sizeof file, err,
                               sizeof err) == 0);
    CHECK_STR(file, "system_sentiment.txt");
    CHECK(dc_prompt_style_file(p, "discopop", "system_sentiment.txt", file, sizeof file, err,
                               sizeof err) == 0);
    CHECK_STR(file, "system_sentiment_discopop.txt");
    CHECK(dc_prompt_style_file(p, "discopop", "system_sentiment_token.txt", file, sizeof file, err,
                               sizeof err) != 0);
    CHECK(strstr(err, "system_sentiment_token_discopop.txt") && strstr(err, "--prompt-style discover"));
    CHECK(dc_prompt_style_file(p, "terse", "system_fashion.txt", file, sizeof file, err,
                               sizeof err) != 0);
    CHECK(strstr(err, "discover or discopop"));

    arc_candidate c[1] = {cand(1, 0, "dpo", "ok", 0.9, "")};
    dc_context_cfg ctx;
    dc_context_default(&ctx);
    const char *files[] = {"system_sentiment_discopop.txt", "system_fashion_discopop.txt"};
    for (int i = 0; i < 2; i++) {
        dc_conversation conv;
        CHECK(dc_prompt_conversation(p, NULL, files[i], 0.05, "reward", &ctx, c, 1, &conv, err,
                                     sizeof err) == 0);
        const char *sys = conv.content[0];
        CHECK(strstr(sys, "machine learning researcher testing") != NULL);
        CHECK(strstr(sys, "\"thought\", \"name\" and \"code\", in that order") != NULL);
        CHECK(strstr(sys, "void objective(") && strstr(sys, "to be maximised"));
        CHECK(strstr(sys, "Propose a different idea") == NULL); /* discover's nudge, not DiscoPOP's */
        CHECK(i == 1 || strstr(sys, "b->beta is 0.05") != NULL);
        dc_conversation_free(&conv);
    }
}

static void test_bad_templates(void)
{
    char dir[] = "/tmp/discover-prompts-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    dc_prompts p;
    char err[1024];
    CHECK(dc_prompts_open(&p, dir, err, sizeof err) != 0);
    CHECK(strstr(err, "lacks") != NULL);
    /* Copy the defaults, then break one placeholder. */
    dc_prompts def;
    CHECK(dc_prompts_open(&def, NULL, err, sizeof err) == 0);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp %s/*.txt %s/ && echo 'Fitness: {{fitnes}}' > %s/feedback_ok.txt",
             def.dir, dir, dir);
    CHECK(system(cmd) == 0);
    CHECK(dc_prompts_open(&p, dir, err, sizeof err) != 0);
    CHECK(strstr(err, "feedback_ok.txt") && strstr(err, "{{fitnes}}"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    dc_prompts p;
    char err[1024];
    int ok = dc_prompts_open(&p, NULL, err, sizeof err) == 0;
    CHECK_MSG(ok, "%s", err);
    if (ok) {
        test_feedback(&p);
        test_conversations(&p);
        test_prompt_styles(&p);
    }
    test_bad_templates();
    char *j = dc_completion_content("{\"choices\":[{\"message\":{\"content\":\"hi\"}}]}");
    CHECK_STR(j, "hi");
    free(j);
    CHECK(dc_completion_content("{\"choices\":[]}") == NULL);
    CHECK(dc_completion_content("not json") == NULL);
    return TEST_REPORT();
}
