/* test_sentiment_fitness — the sentiment tasks' search fitness cannot be won by buying
 * reward with KL: with the default kl_penalty a candidate with more reward but much more
 * per-token KL ranks below DPO's measured reward-vs-KL frontier, one above the frontier
 * ranks above it, and moving along the frontier changes the fitness by little. The
 * frontier is DPO's β sweep of bench/RESULTS-sentiment.md (default configuration, mean of
 * seeds 1-3, reward / per-token KL). No training: the fitness function and the option's
 * default only. */
#include "tests/test.h"
#include "inner_loop/sentiment/sent_internal.h"
#include "inner_loop/sentiment/sentiment.h"

#include <math.h>
#include <stdlib.h>

static const struct {
    double beta, reward, kl;
} DPO[] = {{0.05, 0.822, 0.615}, {0.1, 0.818, 0.487}, {0.25, 0.768, 0.307}, {0.5, 0.739, 0.191}};
#define NDPO (int)(sizeof DPO / sizeof DPO[0])

static void test_default_is_used(void)
{
    const dc_task_ops *ops[] = {&dc_task_sentiment, &dc_task_sentiment_token};
    for (int i = 0; i < 2; i++) {
        dc_task *t = ops[i]->create();
        CHECK_NEAR(t->kl_penalty, atof(SENT_KL_PENALTY_DEFAULT), 0);
        CHECK_MSG(t->kl_penalty > 0, "%s: the default fitness must charge for KL", ops[i]->name);
        CHECK(strstr(ops[i]->fitness_description, "KL") != NULL);
        char err[256];
        CHECK(ops[i]->set_option(t, "kl_penalty", "0", err, sizeof err) == 0);
        CHECK(t->kl_penalty == 0); /* reward alone stays available */
        ops[i]->destroy(t);
    }
}

static void test_ranking(void)
{
    double c = atof(SENT_KL_PENALTY_DEFAULT);
    CHECK_NEAR(sent_fitness(0.8, 0.4, 0.5), 0.6, 1e-15);
    /* a KL buyer: more reward than every frontier point, at 0.9 nats per token */
    double buyer = sent_fitness(0.835, 0.9, c);
    /* a candidate above the frontier: β 0.25's KL with more reward than β 0.1's */
    double above = sent_fitness(0.80, 0.30, c);
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < NDPO; i++) {
        double f = sent_fitness(DPO[i].reward, DPO[i].kl, c);
        CHECK_MSG(buyer < f, "the KL buyer (%.4f) ranks above DPO at β %g (%.4f)", buyer,
                  DPO[i].beta, f);
        CHECK_MSG(above > f, "a candidate above the frontier (%.4f) ranks below DPO at β %g "
                  "(%.4f)", above, DPO[i].beta, f);
        /* and with the penalty off, the buyer would have won: the test is about the penalty */
        CHECK(sent_fitness(0.835, 0.9, 0) > sent_fitness(DPO[i].reward, DPO[i].kl, 0));
        if (DPO[i].beta >= 0.1) lo = fmin(lo, f), hi = fmax(hi, f);
    }
    /* along the frontier's β 0.1-0.5 stretch the fitness is nearly level */
    CHECK_MSG(hi - lo < 0.01, "DPO β 0.1-0.5 fitness spread %.4f", hi - lo);
    /* β 0.05 bought its last 0.004 of reward with 0.128 nats: it scores below β 0.1 */
    CHECK(sent_fitness(DPO[0].reward, DPO[0].kl, c) < sent_fitness(DPO[1].reward, DPO[1].kl, c));
    /* training still beats staying at π_ref (reward 0.587, KL 0) */
    CHECK(sent_fitness(DPO[1].reward, DPO[1].kl, c) > sent_fitness(0.587, 0.0, c));
}

int main(void)
{
    test_default_is_used();
    test_ranking();
    return TEST_REPORT();
}
