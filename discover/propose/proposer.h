/* proposer.h — where candidates come from: an LLM, the offline `evolve` grammar (or random
 * draws from it, the control), or the replies recorded in another archive
 * (`replay:ARCHIVE`). */
#ifndef DC_PROPOSER_H
#define DC_PROPOSER_H

#include "archive/archive.h"
#include "common/candidate_text.h"
#include "sandbox/sandbox.h"
#include "discover/propose/llm/llm_client.h"
#include "discover/propose/llm/model_select.h"
#include "prompt.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    dc_candidate_text text;
    int64_t parents[2];
    int nparents;
    int64_t llm_call_id;   /* archived exchange, 0 when none */
    int parse_failed;      /* the reply could not be parsed: parse_error says why */
    char parse_error[512];
} dc_proposal;
void dc_proposal_free(dc_proposal *p);
/* Fills out's name/thought/code from an LLM reply's content, or marks it parse_failed with
 * the parser's message (missing_msg when content is NULL). */
void dc_proposal_from_reply(const char *content, const char *missing_msg, int generation,
                            dc_proposal *out);

/* The most of an LLM reply (its response body) that is used, archived and resent in later
 * prompts: twice SBX_SOURCE_LIMIT, room for one objective of the largest size the sandbox
 * compiles plus its thought and the JSON around it. A longer reply is not used: only its
 * first DC_REPLY_LIMIT bytes are archived (llm_calls.response_bytes keeps its full size) and
 * its candidate is a parse_error whose message, the next feedback, says so. */
#define DC_REPLY_LIMIT (512u * 1024u)
/* The length of the part of an oversized reply that is archived (at most DC_REPLY_LIMIT,
 * cut at a character boundary so the stored text stays valid UTF-8). */
size_t dc_reply_cut(const char *raw, size_t len);
/* The size of an archived call's reply as received (response_bytes; the stored length for
 * calls archived before it was recorded). */
size_t dc_call_reply_bytes(const arc_llm_call *c);
/* Marks out as an oversized reply of `bytes` bytes: parse_failed, with the message. */
void dc_proposal_oversized(size_t bytes, int generation, dc_proposal *out);

typedef enum {
    DC_PROPOSE_OK = 0,
    DC_PROPOSE_EXHAUSTED, /* nothing more to propose (replay ran out of recorded replies) */
    DC_PROPOSE_BUDGET,    /* a budget cap (calls, tokens, cost) is reached */
    DC_PROPOSE_FAILED,    /* the proposer failed (LLM endpoint down after retries) */
} dc_propose_rc;

/* The campaign's settings that proposers use (the campaign fills them from its
 * configuration; a proposer never sees the campaign's own structures). */
typedef struct {
    uint64_t seed;                 /* the campaign's seed (evolve's choices) */
    const dc_context_cfg *context; /* what of the archive goes into a prompt */
    llm_config llm;                /* endpoint, model and numbers of the LLM */
    /* several models (model_select.h): llm.model is then a comma list; the prices are
     * lists parallel to it ("" = llm's single prices) */
    const char *model_weights, *model_select, *price_in, *price_out;
    int model_cost_aware;
    const char *prompt_style;      /* dc_prompt_style_file: "" or "discover", "discopop" */
    int max_calls;                 /* budgets, 0 = no cap */
    long long max_tokens;
    double max_cost;
} dc_propose_settings;

/* What a proposer may look at. */
typedef struct {
    archive *a;
    int64_t campaign_id;
    int generation;
    int island;                    /* the island proposing (0 with one); cands is its view */
    sbx_kind kind;                 /* the task's objective interface */
    const char *system_prompt;     /* the task's system prompt template */
    const arc_candidate *cands;    /* the campaign's candidates, id order, with code */
    int ncands;
    const dc_propose_settings *settings;
    const dc_prompts *prompts;
    double beta;                   /* preference tasks: the β shown in the prompt */
    const char *fitness_description;
    int calls_in_flight;           /* LLM calls already sent and not yet archived: they count
                                      against max_calls (tokens and cost only once archived) */
} dc_propose_ctx;

/* A proposal split in three for concurrent LLM calls (dc_proposer.begin): one started on
 * the campaign's thread, its network part run on any thread, finished on the campaign's
 * thread again. Opaque; owned by the proposer's functions. */
typedef struct dc_pending dc_pending;

typedef struct dc_proposer dc_proposer;
struct dc_proposer {
    const char *kind;
    dc_propose_rc (*propose)(dc_proposer *self, const dc_propose_ctx *ctx, dc_proposal *out,
                             char *err, size_t errcap);
    void (*destroy)(dc_proposer *self);
    void *state;
    /* Optional, for proposers that wait on the network (the llm proposer); NULL otherwise.
     * propose(ctx) == begin(ctx) + send + finish, with:
     *   begin   campaign thread: budgets, model, prompt from ctx (ctx need not outlive it);
     *           DC_PROPOSE_OK with *out set, or BUDGET/FAILED with err
     *   send    any thread, touches neither the archive nor the terminal
     *   finish  campaign thread: archives the exchange, fills out; frees p
     *   discard frees p without archiving (a call never sent) */
    dc_propose_rc (*begin)(dc_proposer *self, const dc_propose_ctx *ctx, dc_pending **out,
                           char *err, size_t errcap);
    void (*send)(dc_pending *p);
    dc_propose_rc (*finish)(dc_proposer *self, dc_pending *p, dc_proposal *out, char *err,
                            size_t errcap);
    void (*discard)(dc_pending *p);
};
/* The generation a pending proposal is for. */
int dc_pending_generation(const dc_pending *p);

/* The model for the llm proposer's next call: the selector of settings (checked as
 * dc_msel_init does) rebuilt from the campaign's archived calls and candidates, then asked.
 * *sel gets the selector (prices included), the return value the model's index; -1 with a
 * message on a bad setting or an archive error. Deterministic for a campaign's seed and
 * generation, so a resumed campaign picks what an uninterrupted one would have. */
int dc_model_pick(const dc_propose_ctx *ctx, dc_model_select *sel, char *err, size_t errcap);

dc_proposer *dc_proposer_evolve(void);
/* The control: fresh random genomes of evolve's grammar, same seeding (evolve_random). */
dc_proposer *dc_proposer_random(void);
dc_proposer *dc_proposer_llm(void);
/* Opens the source archive read-only and loads the recorded replies of `campaign` (or its
 * only campaign when ""). NULL with a message on error. */
dc_proposer *dc_proposer_replay(const char *archive_path, const char *campaign, char *err,
                                size_t errcap);
/* Builds the proposer named `spec` ("llm", "evolve", "random" or "replay:ARCHIVE"; replay_campaign
 * picks the campaign in that archive, "" for its only one). */
dc_proposer *dc_proposer_from_spec(const char *spec, const char *replay_campaign, char *err,
                                   size_t errcap);
void dc_proposer_destroy(dc_proposer *p);

#endif
