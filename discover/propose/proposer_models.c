/* proposer_models.c — the llm proposer's choice of model, rebuilt from the archive.
 *
 * The bandit's state is never kept anywhere but in the archive: before each call the
 * campaign's calls (llm_calls.model) and the candidates they produced are replayed into a
 * fresh selector. So --resume needs no side file, and a changed --model list simply
 * counts the calls of the models still listed (a dropped model's calls are ignored, a new
 * model starts with none). A call's reward is whether its candidate beat the best of its own
 * island archived before it (with one island: the campaign's best so far). */
#include "proposer.h"

#include "common/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A candidate whose outcome is final (not in flight, not to be re-run). */
static int settled(const arc_candidate *c)
{
    return strcmp(c->status, "pending") != 0 && strcmp(c->status, "interrupted") != 0;
}

int dc_model_pick(const dc_propose_ctx *ctx, dc_model_select *sel, char *err, size_t errcap)
{
    const dc_propose_settings *st = ctx->settings;
    char pin[32], pout[32];
    snprintf(pin, sizeof pin, "%.17g", st->llm.price_in_per_mtok);
    snprintf(pout, sizeof pout, "%.17g", st->llm.price_out_per_mtok);
    if (dc_msel_init(sel, st->llm.model, st->model_weights, st->model_select,
                     st->model_cost_aware, st->price_in && *st->price_in ? st->price_in : pin,
                     st->price_out && *st->price_out ? st->price_out : pout, err, errcap) != 0)
        return -1;
    if (sel->n == 1) return 0;
    if (sel->mode != DC_MSEL_WEIGHTS) {
        /* Every candidate of the campaign, not the proposing island's view: a call is
         * judged against its own island. */
        arc_filter f = {.campaign_id = ctx->campaign_id};
        arc_candidate *cands = NULL;
        int ncands = 0;
        arc_llm_outcome *calls = NULL;
        int ncalls = 0;
        char e[512];
        if (archive_candidate_list(ctx->a, &f, &cands, &ncands, e, sizeof e) != 0 ||
            archive_llm_outcomes(ctx->a, ctx->campaign_id, &calls, &ncalls, e, sizeof e) != 0) {
            dc_fmt(err, errcap, "%s", e);
            for (int k = 0; k < ncands; k++) arc_candidate_free(&cands[k]);
            free(cands);
            return -1;
        }
        for (int i = 0; i < ncalls; i++) {
            int arm = dc_msel_find(sel, calls[i].model);
            if (arm < 0) continue; /* a dropped model, or a call from before schema 3 */
            const arc_candidate *cand = NULL;
            for (int k = 0; k < ncands && !cand; k++)
                if (cands[k].llm_call_id == calls[i].id) cand = &cands[k];
            if (!cand) {
                /* no candidate: a failed call is a known 0; otherwise its candidate is not
                 * archived yet (a call in flight, or an orphan reply to be adopted) */
                if (calls[i].failed) dc_msel_record(sel, arm, 0, calls[i].cost);
                continue;
            }
            if (!settled(cand)) continue;
            /* improved: it beat every scored candidate of its island (the seed baselines
             * included) archived before it; with one island, the campaign's best so far */
            double best = -INFINITY;
            for (int k = 0; k < ncands && cands[k].id < cand->id; k++) {
                const arc_candidate *o = &cands[k];
                int same_island = o->generation == 0 || o->island == cand->island;
                if (same_island && o->has_fitness && settled(o) && o->fitness > best)
                    best = o->fitness;
            }
            int improved = cand->has_fitness && !strcmp(cand->status, "ok") && cand->fitness > best;
            dc_msel_record(sel, arm, improved, calls[i].cost);
        }
        free(calls);
        for (int k = 0; k < ncands; k++) arc_candidate_free(&cands[k]);
        free(cands);
    }
    /* One stream per generation, apart from evolve's: the same seed picks the same models. */
    dc_rng rng;
    dc_rng_seed(&rng, (ctx->settings->seed ^ 0x6d6f64656c73ULL) * 1000003ULL +
                          (uint64_t)ctx->generation);
    return dc_msel_choose(sel, &rng);
}
