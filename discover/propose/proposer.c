/* proposer.c — the offline proposers' adapter (evolve and its control, random) and proposer
 * selection. */
#include "proposer.h"

#include "common/rng.h"
#include "common/util.h"
#include "discover/propose/evolve/evolve.h"
#include "discover/propose/llm/reply_parse.h"
#include "sandbox/sandbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dc_proposal_free(dc_proposal *p)
{
    dc_candidate_text_free(&p->text);
    memset(p, 0, sizeof *p);
}

void dc_proposal_from_reply(const char *content, const char *missing_msg, int generation,
                            dc_proposal *out)
{
    dc_candidate_text f = {0};
    char perr[512];
    if (content && dc_reply_parse(content, &f, perr, sizeof perr) == 0) {
        out->text.name = f.name;
        out->text.thought = f.thought;
        out->text.code = f.code;
        return;
    }
    out->parse_failed = 1;
    snprintf(out->parse_error, sizeof out->parse_error, "%s",
             content ? perr : (missing_msg ? missing_msg : "the reply has no content"));
    char name[64];
    snprintf(name, sizeof name, "unparsed_gen%d", generation);
    out->text.name = dc_strdup(name);
    out->text.thought = dc_strdup("");
    out->text.code = dc_strdup("");
}

_Static_assert(DC_REPLY_LIMIT == 2 * SBX_SOURCE_LIMIT, "DC_REPLY_LIMIT is twice the source limit");

size_t dc_reply_cut(const char *raw, size_t len)
{
    if (len <= DC_REPLY_LIMIT) return len;
    size_t n = DC_REPLY_LIMIT;
    /* Back up over continuation bytes to the start of the character that would be split. */
    while (n > 0 && ((unsigned char)raw[n] & 0xc0) == 0x80)
        n--;
    return n;
}

size_t dc_call_reply_bytes(const arc_llm_call *c)
{
    size_t stored = c->response_raw ? strlen(c->response_raw) : 0;
    return c->response_bytes > 0 && (size_t)c->response_bytes > stored ? (size_t)c->response_bytes
                                                                       : stored;
}

void dc_proposal_oversized(size_t bytes, int generation, dc_proposal *out)
{
    out->parse_failed = 1;
    snprintf(out->parse_error, sizeof out->parse_error,
             "the reply was %zu bytes; a reply may be at most %u bytes (512 KiB) and one "
             "objective's source at most %u bytes (256 KiB), so it was not used and only its "
             "first %u bytes were kept; send one short objective, not a library",
             bytes, DC_REPLY_LIMIT, SBX_SOURCE_LIMIT, DC_REPLY_LIMIT);
    char name[64];
    snprintf(name, sizeof name, "unparsed_gen%d", generation);
    out->text.name = dc_strdup(name);
    out->text.thought = dc_strdup("");
    out->text.code = dc_strdup("");
}

void dc_proposer_destroy(dc_proposer *p)
{
    if (p && p->destroy) p->destroy(p);
}

/* ---- evolve: the offline grammar (discover/evolve.c) ---- */

/* The grammar's entry point a proposer calls: evolve_propose or evolve_random. */
typedef int (*grammar_fn)(sbx_kind, const evolve_parent *, int, dc_rng *, evolve_proposal *,
                          char *, size_t);
typedef struct {
    grammar_fn fn;
} grammar_state;

static dc_propose_rc evolve_propose_cb(dc_proposer *self, const dc_propose_ctx *ctx,
                                       dc_proposal *out, char *err, size_t errcap)
{
    const grammar_state *gs = self->state;
    evolve_parent *pool = dc_calloc((size_t)ctx->ncands + 1, sizeof *pool);
    for (int i = 0; i < ctx->ncands; i++) {
        const arc_candidate *c = &ctx->cands[i];
        pool[i].id = c->id;
        pool[i].name = c->name;
        pool[i].code = c->code;
        pool[i].status = c->status;
        pool[i].has_fitness = c->has_fitness;
        pool[i].fitness = c->fitness;
    }
    /* One RNG stream per generation: a resumed campaign proposes exactly what an
     * uninterrupted one would have; random uses the same streams as evolve. */
    dc_rng rng;
    dc_rng_seed(&rng, ctx->settings->seed * 1000003ULL + (uint64_t)ctx->generation);
    evolve_proposal p = {0};
    int rc = gs->fn(ctx->kind, pool, ctx->ncands, &rng, &p, err, errcap);
    free(pool);
    if (rc != 0) return DC_PROPOSE_FAILED;
    memset(out, 0, sizeof *out);
    out->text.name = p.text.name;
    out->text.thought = p.text.thought;
    out->text.code = p.text.code;
    out->nparents = p.nparents;
    for (int i = 0; i < p.nparents && i < 2; i++) out->parents[i] = p.parents[i];
    return DC_PROPOSE_OK;
}

static void free_grammar(dc_proposer *self)
{
    free(self->state);
    free(self);
}

static dc_proposer *grammar_proposer(const char *kind, grammar_fn fn)
{
    dc_proposer *p = dc_calloc(1, sizeof *p);
    grammar_state *gs = dc_calloc(1, sizeof *gs);
    gs->fn = fn;
    p->kind = kind;
    p->propose = evolve_propose_cb;
    p->destroy = free_grammar;
    p->state = gs;
    return p;
}

dc_proposer *dc_proposer_evolve(void) { return grammar_proposer("evolve", evolve_propose); }

dc_proposer *dc_proposer_random(void) { return grammar_proposer("random", evolve_random); }

dc_proposer *dc_proposer_from_spec(const char *spec, const char *replay_campaign, char *err,
                                   size_t errcap)
{
    if (!strcmp(spec, "evolve")) return dc_proposer_evolve();
    if (!strcmp(spec, "random")) return dc_proposer_random();
    if (!strcmp(spec, "llm")) return dc_proposer_llm();
    if (!strncmp(spec, "replay:", 7)) {
        if (!spec[7]) {
            dc_fmt(err, errcap, "--proposer replay:ARCHIVE needs the path of an archive after 'replay:'");
            return NULL;
        }
        return dc_proposer_replay(spec + 7, replay_campaign, err, errcap);
    }
    dc_fmt(err, errcap, "unknown proposer '%s' (use llm, evolve, random or replay:ARCHIVE)", spec);
    return NULL;
}
