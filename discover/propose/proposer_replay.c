#define _GNU_SOURCE
/* proposer_replay.c — re-runs an LLM campaign without the LLM, from its archived replies.
 *
 * DiscoPOP's search could not be reproduced without GPT-4; a `replay:ARCHIVE` campaign
 * feeds the recorded replies, in order, through today's sandbox, trainer and scoring. Each
 * reply used is archived again in the new campaign (cost 0), so `show` still displays it. */
#include "proposer.h"

#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    arc_llm_call *calls; /* successful calls only, in order */
    int n;
    char source[4096];
} replay_state;

static dc_propose_rc replay_propose(dc_proposer *self, const dc_propose_ctx *ctx,
                                    dc_proposal *out, char *err, size_t errcap)
{
    replay_state *s = self->state;
    memset(out, 0, sizeof *out);
    /* The replies this campaign has used so far = its archived calls. */
    arc_llm_call *mine = NULL;
    int used = 0;
    char e[512];
    if (archive_llm_call_list(ctx->a, ctx->campaign_id, &mine, &used, e, sizeof e) != 0) {
        dc_fmt(err, errcap, "%s", e);
        return DC_PROPOSE_FAILED;
    }
    for (int i = 0; i < used; i++) arc_llm_call_free(&mine[i]);
    free(mine);
    if (used >= s->n) {
        dc_fmt(err, errcap, "replay finished: all %d recorded replies of %s were used", s->n,
               s->source);
        return DC_PROPOSE_EXHAUSTED;
    }
    const arc_llm_call *src = &s->calls[used];
    arc_llm_call copy = *src;
    copy.id = 0;
    copy.campaign_id = ctx->campaign_id;
    copy.generation = ctx->generation;
    copy.latency_s = 0;
    copy.cost = 0;
    copy.created_at = NULL;
    /* A reply over the limit (recorded before it was enforced) is copied cut, and not used,
     * exactly as a live one would be. */
    size_t bytes = dc_call_reply_bytes(src), stored = strlen(src->response_raw);
    char *cut = NULL;
    if (stored > DC_REPLY_LIMIT) {
        size_t keep = dc_reply_cut(src->response_raw, stored);
        cut = dc_malloc(keep + 1);
        memcpy(cut, src->response_raw, keep);
        cut[keep] = '\0';
        copy.response_raw = cut;
    }
    copy.response_bytes = (int64_t)bytes;
    int inserted = archive_llm_call_insert(ctx->a, &copy, e, sizeof e);
    free(copy.created_at); /* set by the archive; the other fields are borrowed */
    free(cut);
    if (inserted != 0) {
        dc_fmt(err, errcap, "%s", e);
        return DC_PROPOSE_FAILED;
    }
    out->llm_call_id = copy.id;
    if (bytes > DC_REPLY_LIMIT) {
        dc_proposal_oversized(bytes, ctx->generation, out);
        return DC_PROPOSE_OK;
    }
    char *content = dc_completion_content(src->response_raw);
    dc_proposal_from_reply(content, "recorded response has no choices[0].message.content",
                           ctx->generation, out);
    free(content);
    return DC_PROPOSE_OK;
}

static void replay_destroy(dc_proposer *self)
{
    replay_state *s = self->state;
    for (int i = 0; i < s->n; i++) arc_llm_call_free(&s->calls[i]);
    free(s->calls);
    free(s);
    free(self);
}

dc_proposer *dc_proposer_replay(const char *archive_path, const char *campaign, char *err,
                                size_t errcap)
{
    archive *src = NULL;
    char e[512];
    if (archive_open(archive_path, ARC_READONLY, &src, e, sizeof e) != 0) {
        dc_fmt(err, errcap, "replay: %s", e);
        return NULL;
    }
    int64_t cid = 0;
    if (campaign && *campaign) {
        arc_campaign c;
        int r = archive_campaign_by_name(src, campaign, &c, e, sizeof e);
        if (r != 0) {
            if (r > 0)
                dc_fmt(err, errcap,
                       "replay: no campaign '%s' in %s ('discover campaigns --archive %s' lists them)",
                       campaign, archive_path, archive_path);
            else
                dc_fmt(err, errcap, "replay: %s", e);
            archive_close(src);
            return NULL;
        }
        cid = c.id;
        arc_campaign_free(&c);
    } else {
        arc_campaign *all = NULL;
        int n = 0;
        if (archive_campaign_list(src, &all, &n, e, sizeof e) != 0) {
            dc_fmt(err, errcap, "replay: %s", e);
            archive_close(src);
            return NULL;
        }
        /* The first campaign that has LLM calls. */
        for (int i = 0; i < n && !cid; i++) {
            int calls = 0;
            long long t = 0;
            double cost = 0;
            if (archive_llm_totals(src, all[i].id, &calls, &t, &cost, e, sizeof e) == 0 && calls > 0)
                cid = all[i].id;
        }
        for (int i = 0; i < n; i++) arc_campaign_free(&all[i]);
        free(all);
        if (!cid) {
            dc_fmt(err, errcap, "replay: %s has no campaign with recorded LLM replies", archive_path);
            archive_close(src);
            return NULL;
        }
    }
    arc_llm_call *calls = NULL;
    int n = 0;
    if (archive_llm_call_list(src, cid, &calls, &n, e, sizeof e) != 0) {
        dc_fmt(err, errcap, "replay: %s", e);
        archive_close(src);
        return NULL;
    }
    archive_close(src);
    replay_state *s = dc_calloc(1, sizeof *s);
    snprintf(s->source, sizeof s->source, "%s", archive_path);
    s->calls = dc_calloc((size_t)n + 1, sizeof *s->calls);
    for (int i = 0; i < n; i++) {
        if (calls[i].error && *calls[i].error) {
            arc_llm_call_free(&calls[i]);
            continue;
        }
        s->calls[s->n++] = calls[i];
    }
    free(calls);
    if (s->n == 0) {
        dc_fmt(err, errcap, "replay: the campaign in %s has no successful LLM replies", archive_path);
        free(s->calls);
        free(s);
        return NULL;
    }
    dc_proposer *p = dc_calloc(1, sizeof *p);
    p->kind = "replay";
    p->propose = replay_propose;
    p->destroy = replay_destroy;
    p->state = s;
    return p;
}
