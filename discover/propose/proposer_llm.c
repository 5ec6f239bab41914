/* proposer_llm.c — proposals from an OpenAI-compatible chat-completions endpoint.
 *
 * Every exchange is archived (request body, raw response, tokens, latency, cost, error),
 * successful or not, before anything else happens with it; the API key travels only in
 * the Authorization header and is never archived or printed. */
#include "proposer.h"

#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int budget_reached(const dc_propose_ctx *ctx, char *err, size_t errcap)
{
    const dc_propose_settings *cfg = ctx->settings;
    if (!cfg->max_calls && !cfg->max_tokens && !(cfg->max_cost > 0)) return 0;
    int calls = 0;
    long long tokens = 0;
    double cost = 0;
    char e[512];
    if (archive_llm_totals(ctx->a, ctx->campaign_id, &calls, &tokens, &cost, e, sizeof e) != 0) {
        dc_fmt(err, errcap, "%s", e);
        return -1;
    }
    /* Calls in flight count now; their tokens and cost only once archived, so those two
     * budgets can be overshot by what the calls in flight spend (README says so). */
    if (cfg->max_calls && calls + ctx->calls_in_flight >= cfg->max_calls) {
        dc_fmt(err, errcap, "call budget reached: %d of %d LLM calls used", calls + ctx->calls_in_flight,
               cfg->max_calls);
        return 1;
    }
    if (cfg->max_tokens && tokens >= cfg->max_tokens) {
        dc_fmt(err, errcap, "token budget reached: %lld of %lld tokens used", tokens, cfg->max_tokens);
        return 1;
    }
    if (cfg->max_cost > 0 && cost >= cfg->max_cost) {
        dc_fmt(err, errcap, "cost budget reached: %.4f of %.4f spent", cost, cfg->max_cost);
        return 1;
    }
    return 0;
}

/* The proposer's state: whether the note on unknown prices was printed (once a run). */
typedef struct {
    int price_noted;
} llm_state;

/* One call from begin to finish. Everything the network part reads is owned here, so
 * the campaign may free its context (and its candidates) while the call is in flight. */
struct dc_pending {
    archive *a;
    int64_t campaign_id;
    int generation, island;
    char *model;
    llm_config lc;
    dc_conversation conv;
    llm_message *msgs;
    llm_reply reply;
    int rc; /* llm_chat's */
};

int dc_pending_generation(const dc_pending *p)
{
    return p->generation;
}

static void pending_free(dc_pending *p)
{
    if (!p) return;
    free(p->msgs);
    dc_conversation_free(&p->conv);
    llm_reply_free(&p->reply);
    free(p->model);
    free(p);
}

static dc_propose_rc llm_begin(dc_proposer *self, const dc_propose_ctx *ctx, dc_pending **out,
                               char *err, size_t errcap)
{
    llm_state *state = self->state;
    *out = NULL;
    int b = budget_reached(ctx, err, errcap);
    if (b < 0) return DC_PROPOSE_FAILED;
    if (b > 0) return DC_PROPOSE_BUDGET;
    dc_model_select sel;
    int arm = dc_model_pick(ctx, &sel, err, errcap);
    if (arm < 0) return DC_PROPOSE_FAILED;
    if (sel.cost_aware && !state->price_noted && dc_msel_unknown_price(&sel)) {
        state->price_noted = 1;
        fprintf(stderr, "discover: note: --model-cost-aware: a model without --price-in/--price-out "
                        "counts its calls as costing 0 (at least %g), so it looks cheap; give "
                        "one price per model\n", DC_MSEL_MIN_COST);
    }

    char sys[256];
    if (dc_prompt_style_file(ctx->prompts, ctx->settings->prompt_style, ctx->system_prompt, sys,
                             sizeof sys, err, errcap) != 0)
        return DC_PROPOSE_FAILED;
    dc_pending *p = dc_calloc(1, sizeof *p);
    if (dc_prompt_conversation(ctx->prompts, ctx->a, sys, ctx->beta,
                               ctx->fitness_description, ctx->settings->context, ctx->cands,
                               ctx->ncands, &p->conv, err, errcap) != 0) {
        free(p);
        return DC_PROPOSE_FAILED;
    }
    p->msgs = dc_conversation_view(&p->conv);
    p->a = ctx->a;
    p->campaign_id = ctx->campaign_id;
    p->generation = ctx->generation;
    p->island = ctx->island;
    p->model = dc_strdup(sel.arms[arm].name);
    p->lc = ctx->settings->llm;
    p->lc.api_key = llm_key_from_env();
    p->lc.model = p->model;
    p->lc.price_in_per_mtok = sel.arms[arm].price_in;
    p->lc.price_out_per_mtok = sel.arms[arm].price_out;
    *out = p;
    return DC_PROPOSE_OK;
}

static void llm_send(dc_pending *p)
{
    p->rc = llm_chat(&p->lc, p->msgs, p->conv.n, &p->reply);
}

static dc_propose_rc llm_finish(dc_proposer *self, dc_pending *p, dc_proposal *out, char *err,
                                size_t errcap)
{
    (void)self;
    memset(out, 0, sizeof *out);
    llm_reply *reply = &p->reply;
    int rc = p->rc;
    arc_llm_call call = {0};
    call.campaign_id = p->campaign_id;
    call.generation = p->generation;
    call.island = p->island;
    call.model = p->model;
    call.request_json = reply->request_json ? reply->request_json : "";
    call.response_raw = reply->response_raw ? reply->response_raw : "";
    /* An oversized reply is archived cut, with its full size: a 10 MB reply stored whole
     * and resent in every later prompt grew the archive by 10 MB a call. */
    size_t bytes = strlen(call.response_raw);
    char *cut = NULL;
    if (bytes > DC_REPLY_LIMIT) {
        size_t keep = dc_reply_cut(call.response_raw, bytes);
        cut = dc_malloc(keep + 1);
        memcpy(cut, call.response_raw, keep);
        cut[keep] = '\0';
        call.response_raw = cut;
        call.response_bytes = (int64_t)bytes;
    }
    call.http_status = reply->http_status;
    call.tokens_in = reply->tokens_in;
    call.tokens_out = reply->tokens_out;
    call.latency_s = reply->latency_s;
    call.cost = reply->cost;
    call.error = rc == 0 ? "" : reply->error;
    char e[512];
    int inserted = archive_llm_call_insert(p->a, &call, e, sizeof e);
    free(call.created_at); /* set by the archive; the other fields are borrowed */
    free(cut);
    dc_propose_rc out_rc = DC_PROPOSE_OK;
    if (inserted != 0) {
        dc_fmt(err, errcap, "%s", e);
        out_rc = DC_PROPOSE_FAILED;
    } else if (rc != 0) {
        dc_fmt(err, errcap, "LLM call failed: %s", reply->error);
        out_rc = DC_PROPOSE_FAILED;
    } else {
        out->llm_call_id = call.id;
        if (bytes > DC_REPLY_LIMIT)
            dc_proposal_oversized(bytes, p->generation, out);
        else
            dc_proposal_from_reply(reply->content, NULL, p->generation, out);
    }
    pending_free(p);
    return out_rc;
}

static dc_propose_rc llm_propose(dc_proposer *self, const dc_propose_ctx *ctx, dc_proposal *out,
                                 char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    dc_pending *p;
    dc_propose_rc rc = llm_begin(self, ctx, &p, err, errcap);
    if (rc != DC_PROPOSE_OK) return rc;
    llm_send(p);
    return llm_finish(self, p, out, err, errcap);
}

static void free_self(dc_proposer *self)
{
    free(self->state);
    free(self);
}

dc_proposer *dc_proposer_llm(void)
{
    dc_proposer *p = dc_calloc(1, sizeof *p);
    p->state = dc_calloc(1, sizeof(llm_state));
    p->kind = "llm";
    p->propose = llm_propose;
    p->destroy = free_self;
    p->begin = llm_begin;
    p->send = llm_send;
    p->finish = llm_finish;
    p->discard = pending_free;
    return p;
}
