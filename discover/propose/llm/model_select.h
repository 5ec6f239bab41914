/* model_select.h — which of several LLMs answers the next call of a campaign.
 *
 * `--model A,B,...` names the models; the next call's model is drawn with fixed weights
 * (`--model-weights`, default equal) or picked by a bandit (`--model-select ucb|thompson`).
 * A call's reward is 1 when its candidate improved on the campaign's best fitness so far,
 * else 0 (a failed call, an unparsable reply or a rejected candidate is 0); with
 * cost-awareness the reward is divided by the call's cost. The selector keeps no file: the
 * campaign rebuilds it from the archived calls before each call (model_history in
 * proposer_llm.c), so --resume continues the bandit where it stopped. Pure logic, no I/O. */
#ifndef DC_MODEL_SELECT_H
#define DC_MODEL_SELECT_H

#include "common/rng.h"

#include <stddef.h>

#define DC_MSEL_MAX 16
/* The cost a call is counted at, at least (USD): a model with unknown (0) prices would
 * otherwise have an infinite cost-aware reward. */
#define DC_MSEL_MIN_COST 1e-6

typedef enum { DC_MSEL_WEIGHTS = 0, DC_MSEL_UCB, DC_MSEL_THOMPSON } dc_msel_mode;

typedef struct {
    char name[128];
    double weight;              /* fixed sampling (DC_MSEL_WEIGHTS) */
    double price_in, price_out; /* per million tokens; 0 = unknown */
    int pulls;                  /* calls whose outcome is known */
    int wins;                   /* of them, calls whose candidate improved the best */
    double cost;                /* their summed cost */
} dc_msel_arm;

typedef struct {
    dc_msel_mode mode;
    int cost_aware;
    int n;
    dc_msel_arm arms[DC_MSEL_MAX];
} dc_model_select;

/* Checks and parses the settings: models a comma list of non-empty names (at most
 * DC_MSEL_MAX, no repeats); weights "" (equal) or one number >= 0 per model, not all 0;
 * select "" or "weights" (fixed sampling), "ucb" or "thompson"; price lists "" or one
 * number >= 0 per model (a single number is every model's price). -1 with a message that
 * names the setting otherwise. */
int dc_msel_init(dc_model_select *s, const char *models, const char *weights, const char *select,
                 int cost_aware, const char *price_in, const char *price_out, char *err,
                 size_t errcap);
/* The index of model name, -1 when it is not in the list (a dropped model). */
int dc_msel_find(const dc_model_select *s, const char *name);
/* 1 when some model has neither price set (its calls cost 0). */
int dc_msel_unknown_price(const dc_model_select *s);
/* Records the known outcome of one call of arm i. */
void dc_msel_record(dc_model_select *s, int i, int improved, double cost);
/* The arm for the next call. rng is drawn from only by the weights and thompson modes. */
int dc_msel_choose(const dc_model_select *s, dc_rng *rng);

#endif
