/* test_model_select.c — the model selector alone (model_select.h): its checks of the
 * settings, fixed weights honoured within sampling error over many draws, and the UCB and
 * Thompson bandits moving their calls to the model whose candidates improve the best. */
#include "discover/propose/llm/model_select.h"
#include "tests/test.h"

static int init(dc_model_select *s, const char *models, const char *weights, const char *select,
                const char *pin, char *err)
{
    return dc_msel_init(s, models, weights, select, 0, pin, "", err, 512);
}

static void test_validation(void)
{
    dc_model_select s;
    char e[512];
    CHECK(init(&s, "a,b,c", "", "", "", e) == 0 && s.n == 3 && !strcmp(s.arms[2].name, "c"));
    CHECK(dc_msel_find(&s, "b") == 1 && dc_msel_find(&s, "zz") == -1);
    CHECK(init(&s, "a,,b", "", "", "", e) != 0 && strstr(e, "empty model name"));
    CHECK(init(&s, "", "", "", "", e) != 0 && strstr(e, "empty model name"));
    CHECK(init(&s, "a,b,a", "", "", "", e) != 0 && strstr(e, "'a' twice"));
    CHECK(init(&s, "a,b", "1", "", "", e) != 0 && strstr(e, "1 weights but --model names 2"));
    CHECK(init(&s, "a,b", "1,-1", "", "", e) != 0 && strstr(e, "negative"));
    CHECK(init(&s, "a,b", "0,0", "", "", e) != 0 && strstr(e, "all 0"));
    CHECK(init(&s, "a,b", "1,x", "", "", e) != 0 && strstr(e, "model_weights"));
    CHECK(init(&s, "a,b", "1,2", "ucb", "", e) != 0 && strstr(e, "--model-weights is for fixed"));
    CHECK(init(&s, "a,b", "", "greedy", "", e) != 0 && strstr(e, "weights, ucb or thompson"));
    CHECK(init(&s, "a,b", "", "", "1,2,3", e) != 0 && strstr(e, "price_in has 3 prices"));
    CHECK(init(&s, "a,b", "", "", "2", e) == 0 && s.arms[1].price_in == 2);
    CHECK(init(&s, "a,b", "", "", "2,0", e) == 0 && dc_msel_unknown_price(&s));
    CHECK(dc_msel_init(&s, "a,b", "", "", 1, "2,1", "0,3", e, sizeof e) == 0 &&
          !dc_msel_unknown_price(&s) && s.arms[1].price_out == 3);
}

/* 20,000 draws with weights 1:3:0: the share of b is 0.75 within 5 standard errors
 * (sd = sqrt(0.75 * 0.25 / 20000) = 0.0031), and c (weight 0) is never drawn. */
static void test_weights(void)
{
    dc_model_select s;
    char e[512];
    CHECK(init(&s, "a,b,c", "1,3,0", "weights", "", e) == 0);
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    int count[3] = {0, 0, 0};
    const int draws = 20000;
    for (int i = 0; i < draws; i++) count[dc_msel_choose(&s, &rng)]++;
    CHECK_NEAR((double)count[1] / draws, 0.75, 5 * 0.0031);
    CHECK(count[2] == 0);
    CHECK(count[0] + count[1] == draws);
}

/* A bandit over "bad" (never improves) and "good" (improves with probability 0.5): over
 * rounds, how many of the last `last` of `rounds` calls go to good. */
static int good_share(dc_msel_mode mode, int rounds, int last)
{
    dc_model_select s;
    char e[512];
    if (init(&s, "bad,good", "", mode == DC_MSEL_UCB ? "ucb" : "thompson", "", e) != 0) return -1;
    dc_rng rng, world;
    dc_rng_seed(&rng, 11);
    dc_rng_seed(&world, 12);
    int good = 0;
    for (int r = 0; r < rounds; r++) {
        int arm = dc_msel_choose(&s, &rng);
        int improved = arm == 1 && dc_rng_uniform(&world) < 0.5;
        dc_msel_record(&s, arm, improved, 0.001);
        if (r >= rounds - last && arm == 1) good++;
    }
    return good;
}

static void test_bandits(void)
{
    /* UCB1 tries each model once, then spends most calls on the one that improves */
    int u = good_share(DC_MSEL_UCB, 40, 20);
    CHECK_MSG(u >= 15, "ucb: %d of the last 20 of 40 calls went to good", u);
    int t = good_share(DC_MSEL_THOMPSON, 40, 20);
    CHECK_MSG(t >= 17, "thompson: %d of the last 20 of 40 calls went to good", t);

    /* UCB before any outcome: the models in order, each once */
    dc_model_select s;
    char e[512];
    CHECK(init(&s, "a,b,c", "", "ucb", "", e) == 0);
    CHECK(dc_msel_choose(&s, NULL) == 0);
    dc_msel_record(&s, 0, 1, 0);
    CHECK(dc_msel_choose(&s, NULL) == 1);

    /* cost-aware: the same improvement rate, one model 100 times cheaper, is preferred */
    CHECK(dc_msel_init(&s, "dear,cheap", "", "ucb", 1, "", "", e, sizeof e) == 0);
    for (int r = 0; r < 10; r++) {
        dc_msel_record(&s, 0, r % 2, 1.0);
        dc_msel_record(&s, 1, r % 2, 0.01);
    }
    CHECK(dc_msel_choose(&s, NULL) == 1);
    s.cost_aware = 0; /* without it the tie goes to the first */
    CHECK(dc_msel_choose(&s, NULL) == 0);
}

int main(void)
{
    test_validation();
    test_weights();
    test_bandits();
    return TEST_REPORT();
}
