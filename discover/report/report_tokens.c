/* report_tokens.c — the token-weight figure of token-level preference campaigns: one held-out
 * pair, its tokens coloured by each objective's effective weight on them.
 *
 * The pair comes from the archive: the task puts it into every run's metrics under the key
 * its dc_task_ops.token_pair_metric names (inner_loop/task.h has the format: each response
 * token's text, log π_ref and similarity). The weights mean running candidate code, so they
 * are computed in the sandbox (sandbox.h), through sbx_token_eval, the call that trains the
 * candidate: a batch of this one pair with the policy's log-probs equal to π_ref's (where
 * training starts; every objective sees the same inputs), d loss / d log π of every token by
 * the worker's central differences. The effective weight of a token is that gradient divided
 * by DPO's for the same token at the same inputs, −β·σ(−βΔ) on chosen tokens and +β·σ(−βΔ)
 * on rejected ones (Δ the pair's summed log-ratio margin: 0 here, so ∓β/2), computed here
 * from its formula: 1 is DPO's push, 0 none, a negative weight pushes the other way. */
#include "report.h"

#include "sandbox/sandbox.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const SIDE[2] = {"chosen", "rejected"};

void rp_token_pair_free(rp_token_pair *p)
{
    free(p->prompt);
    for (int s = 0; s < 2; s++) {
        for (int t = 0; t < p->side[s].n; t++)
            free(p->side[s].tokens[t]);
        free(p->side[s].tokens);
        free(p->side[s].ref);
        free(p->side[s].sim);
    }
    memset(p, 0, sizeof *p);
}

static int parse_side(const cJSON *o, rp_pair_side *s)
{
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(o, "tokens"),
                *ref = cJSON_GetObjectItemCaseSensitive(o, "ref_logps"),
                *sim = cJSON_GetObjectItemCaseSensitive(o, "sim"),
                *rew = cJSON_GetObjectItemCaseSensitive(o, "reward");
    int n = cJSON_GetArraySize(tok);
    if (!cJSON_IsArray(tok) || !cJSON_IsArray(ref) || !cJSON_IsArray(sim) || n < 1 ||
        n > RP_PAIR_MAX_TOKENS || cJSON_GetArraySize(ref) != n || cJSON_GetArraySize(sim) != n)
        return -1;
    s->tokens = dc_calloc((size_t)n, sizeof *s->tokens);
    s->ref = dc_malloc((size_t)n * sizeof *s->ref);
    s->sim = dc_malloc((size_t)n * sizeof *s->sim);
    s->n = n;
    s->reward = cJSON_IsNumber(rew) ? rew->valuedouble : NAN;
    for (int t = 0; t < n; t++) {
        const cJSON *w = cJSON_GetArrayItem(tok, t), *r = cJSON_GetArrayItem(ref, t),
                    *m = cJSON_GetArrayItem(sim, t);
        if (!cJSON_IsString(w) || !cJSON_IsNumber(r) || !cJSON_IsNumber(m) ||
            !isfinite(r->valuedouble) || !isfinite(m->valuedouble))
            return -1;
        s->tokens[t] = dc_strdup(w->valuestring);
        s->ref[t] = r->valuedouble;
        s->sim[t] = m->valuedouble;
    }
    return 0;
}

int rp_token_pair_parse(const char *metrics_json, const char *key, rp_token_pair *out)
{
    memset(out, 0, sizeof *out);
    if (!key) return -1;
    cJSON *m = cJSON_Parse(metrics_json ? metrics_json : "");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(m, key);
    const cJSON *seed;
    /* the task puts it into each seed's metrics: the first seed's, as archived */
    cJSON_ArrayForEach(seed, cJSON_GetObjectItemCaseSensitive(m, "per_seed"))
    {
        if (o) break;
        o = cJSON_GetObjectItemCaseSensitive(seed, key);
    }
    const cJSON *beta = cJSON_GetObjectItemCaseSensitive(o, "beta"),
                *prompt = cJSON_GetObjectItemCaseSensitive(o, "prompt");
    int rc = -1;
    if (cJSON_IsObject(o) && cJSON_IsNumber(beta) && isfinite(beta->valuedouble) &&
        beta->valuedouble > 0) {
        out->beta = beta->valuedouble;
        out->prompt = dc_strdup(cJSON_IsString(prompt) ? prompt->valuestring : "");
        rc = 0;
        for (int s = 0; s < 2 && rc == 0; s++)
            rc = parse_side(cJSON_GetObjectItemCaseSensitive(o, SIDE[s]), &out->side[s]);
    }
    cJSON_Delete(m);
    if (rc != 0) rp_token_pair_free(out);
    return rc;
}

int rp_token_weights(const char *code, const rp_token_pair *p, double *w[2], double *grad[2],
                     char *why, size_t whycap)
{
    int nc = p->side[0].n, nr = p->side[1].n;
    double *lc = dc_malloc((size_t)nc * sizeof *lc), *lr = dc_malloc((size_t)nr * sizeof *lr);
    memcpy(lc, p->side[0].ref, (size_t)nc * sizeof *lc); /* π_θ = π_ref */
    memcpy(lr, p->side[1].ref, (size_t)nr * sizeof *lr);
    int off = 0;
    token_pref_batch b = {
        1,  p->beta,        &off,           &off,           &nc,           &nr, lc,
        lr, p->side[0].ref, p->side[1].ref, p->side[0].sim, p->side[1].sim};
    double loss;
    sbx_worker *wk = NULL;
    char msg[512] = "";
    dc_status st = sbx_open(SBX_TOKEN_PREF, code ? code : "", code ? strlen(code) : 0, NULL, &wk,
                            msg, sizeof msg);
    if (st == DC_OK) st = sbx_token_eval(wk, &b, nc, nr, &loss, grad[0], grad[1], msg, sizeof msg);
    sbx_close(wk);
    int rc = 0;
    if (st != DC_OK) {
        dc_fmt(why, whycap, "%s%s%s", dc_status_name(st), msg[0] ? ": " : "", msg);
        rc = -1;
    }
    /* DPO's gradient magnitude at the same inputs: β·σ(−βΔ) */
    double delta = 0;
    for (int t = 0; t < nc; t++)
        delta += lc[t] - p->side[0].ref[t];
    for (int t = 0; t < nr; t++)
        delta -= lr[t] - p->side[1].ref[t];
    double g = p->beta / (1.0 + exp(p->beta * delta));
    for (int s = 0; s < 2 && rc == 0; s++)
        for (int t = 0; t < p->side[s].n; t++) {
            w[s][t] = (s == 0 ? -grad[s][t] : grad[s][t]) / g;
            if (!isfinite(w[s][t])) {
                dc_fmt(why, whycap, "a non-finite gradient on %s token %d", SIDE[s], t);
                rc = -1;
            }
        }
    free(lc);
    free(lr);
    return rc;
}

static void add_row(rp_data *d, const arc_candidate *c, int is_dpo)
{
    rp_token_row *r = &d->pair_rows[d->npair_rows++];
    memset(r, 0, sizeof *r);
    r->cand_id = c->id;
    r->is_dpo = is_dpo;
    snprintf(r->name, sizeof r->name, "%s", c->name ? c->name : "");
    for (int s = 0; s < 2; s++) {
        r->w[s] = dc_calloc((size_t)d->pair.side[s].n, sizeof(double));
        r->grad[s] = dc_calloc((size_t)d->pair.side[s].n, sizeof(double));
    }
    if (rp_token_weights(c->code, &d->pair, r->w, r->grad, r->why, sizeof r->why) != 0)
        r->failed = 1;
}

void rp_compute_token_weights(rp_data *d)
{
    if (d->kind != SBX_TOKEN_PREF || !d->pair_metric) return;
    int dpo = -1, best = -1;
    for (int i = 0; i < d->ncands && dpo < 0; i++)
        if (d->cands[i].name && d->reference && !strcasecmp(d->cands[i].name, d->reference) &&
            !strcmp(d->cands[i].status, "ok") && d->cands[i].code)
            dpo = i;
    /* the best scored candidate other than DPO's (beside DPO it is the one worth seeing) */
    for (int i = 0; i < d->ncands; i++) {
        const arc_candidate *c = &d->cands[i];
        if (i != dpo && c->has_fitness && isfinite(c->fitness) && c->code &&
            (best < 0 || c->fitness > d->cands[best].fitness))
            best = i;
    }
    /* the pair: the best candidate's, else DPO's, else the first candidate's that has one */
    int from = -1;
    for (int k = -2; k < d->ncands && from < 0; k++) {
        int i = k == -2 ? best : k == -1 ? dpo : k;
        if (i >= 0 && rp_token_pair_parse(d->cands[i].metrics_json, d->pair_metric, &d->pair) == 0)
            from = i;
    }
    if (from < 0) {
        dc_fmt(d->pair_note, sizeof d->pair_note,
               "No candidate of this campaign has a held-out pair archived (its metrics lack "
               "'%s': campaigns run before this figure existed)",
               d->pair_metric);
        return;
    }
    d->has_pair = 1;
    d->pair.from_id = d->cands[from].id;
    if (best >= 0) add_row(d, &d->cands[best], 0);
    if (dpo >= 0) add_row(d, &d->cands[dpo], 1);
    int dpo_best = dpo >= 0 && d->cands[dpo].has_fitness && isfinite(d->cands[dpo].fitness) &&
                   (best < 0 || d->cands[dpo].fitness > d->cands[best].fitness);
    d->pair_rows[0].after_dpo = best >= 0 && dpo_best;
    if (dpo < 0)
        dc_fmt(d->pair_note, sizeof d->pair_note,
               "This campaign has no scored '%s' candidate to show beside the best",
               d->reference ? d->reference : "DPO");
    else if (dpo_best)
        dc_fmt(d->pair_note, sizeof d->pair_note,
               "DPO's own candidate has the best fitness: the other row is the best of the rest");
}

void rp_token_rows_free(rp_data *d)
{
    for (int k = 0; k < d->npair_rows; k++)
        for (int s = 0; s < 2; s++) {
            free(d->pair_rows[k].w[s]);
            free(d->pair_rows[k].grad[s]);
        }
    d->npair_rows = 0;
    rp_token_pair_free(&d->pair);
}

/* The diverging palette: white at 0, blue towards +RP_WEIGHT_SPAN (DPO's direction), red
 * towards −RP_WEIGHT_SPAN (against it), saturated beyond. Text turns white on dark cells. */
static void weight_colors(double w, char *bg, size_t bgcap, const char **fg)
{
    static const double white[3] = {247, 247, 247}, blue[3] = {33, 102, 172},
                        red[3] = {178, 24, 43};
    double t = isfinite(w) ? fmax(-1.0, fmin(1.0, w / RP_WEIGHT_SPAN)) : 0;
    const double *end = t >= 0 ? blue : red;
    double a = fabs(t);
    int c[3];
    for (int k = 0; k < 3; k++)
        c[k] = (int)lround(white[k] + (end[k] - white[k]) * a);
    snprintf(bg, bgcap, "#%02x%02x%02x", c[0], c[1], c[2]);
    *fg = a > 0.6 ? "#fff" : "#111";
}

static void token_span(dc_sb *b, const rp_data *d, const rp_token_row *r, int s, int t)
{
    char bg[16], v1[32], v2[32], v3[32];
    const char *fg;
    double w = r->w[s][t];
    weight_colors(w, bg, sizeof bg, &fg);
    dc_sb_printf(b,
                 "<span class=\"tok\" data-kind=\"token-weight\" data-id=\"%lld\" data-side=\"%s\" "
                 "data-t=\"%d\" data-weight=\"%.6g\" data-sim=\"%.6g\" style=\"background:%s;"
                 "color:%s\" title=\"weight %s, similarity %s, d loss/d log \xcf\x80 %s\">",
                 (long long)r->cand_id, SIDE[s], t, w, d->pair.side[s].sim[t], bg, fg,
                 rp_num(v1, sizeof v1, w), rp_num(v2, sizeof v2, d->pair.side[s].sim[t]),
                 rp_num(v3, sizeof v3, r->grad[s][t]));
    rp_esc(b, d->pair.side[s].tokens[t]);
    dc_sb_append(b, "</span>");
}

void rp_plot_token_weights(dc_sb *b, const rp_data *d)
{
    if (d->kind != SBX_TOKEN_PREF || !d->pair_metric) return;
    char v1[32];
    dc_sb_append(b, "<figure id=\"fig-token-weights\"><figcaption><b>Effective token weights on "
                    "one held-out pair.</b> ");
    if (!d->has_pair) {
        rp_esc(b, d->pair_note);
        dc_sb_append(b, ".</figcaption></figure>");
        return;
    }
    dc_sb_printf(
        b,
        "A validation pair (archived with candidate #%lld; its prompt in grey), each "
        "response token coloured by the objective's effective weight on it: "
        "d&nbsp;loss&nbsp;/&nbsp;d&nbsp;log&nbsp;\xcf\x80 of the token, computed in the "
        "sandbox from the candidate's code (the gradient call training uses) at "
        "\xcf\x80<sub>\xce\xb8</sub>&nbsp;=&nbsp;\xcf\x80<sub>ref</sub>, where training "
        "starts, with \xce\xb2&nbsp;=&nbsp;%s, divided by DPO's gradient for the same "
        "token there (\xe2\x88\x93\xce\xb2/2). 1 (mid blue) is DPO's push, which is the "
        "same on every token; darker blue more, white none, red against DPO's direction "
        "(a chosen token pushed down, a rejected one up); beyond \xc2\xb1%g the colour "
        "saturates. The pair is evaluated as a batch of one (an objective using batch "
        "statistics sees only it); weights that depend on the policy's log-ratio show their "
        "value at log-ratio 0. Hover a token for its weight, similarity and "
        "gradient.",
        (long long)d->pair.from_id, rp_num(v1, sizeof v1, d->pair.beta), RP_WEIGHT_SPAN);
    if (d->pair_note[0]) {
        dc_sb_append(b, " ");
        rp_esc(b, d->pair_note);
        dc_sb_append(b, ".");
    }
    dc_sb_append(b, "</figcaption><div class=\"legend\" data-kind=\"token-weight-legend\">"
                    "<span>effective weight:</span>");
    static const double ticks[] = {-2, -1, -0.5, 0, 0.5, 1, 1.5, 2};
    for (size_t k = 0; k < sizeof ticks / sizeof *ticks; k++) {
        char bg[16];
        const char *fg;
        weight_colors(ticks[k], bg, sizeof bg, &fg);
        dc_sb_printf(b, "<span><i style=\"background:%s;border:1px solid #ccc\"></i>%g%s</span>",
                     bg, ticks[k], ticks[k] == 1 ? " (DPO)" : "");
    }
    dc_sb_append(b, "</div>");
    for (int k = 0; k < d->npair_rows; k++) {
        const rp_token_row *r = &d->pair_rows[k];
        dc_sb_printf(b,
                     "<div class=\"tokrow\" data-kind=\"token-row\" data-id=\"%lld\"><div "
                     "class=\"ctitle\"><a href=\"#c%lld\">#%lld</a> ",
                     (long long)r->cand_id, (long long)r->cand_id, (long long)r->cand_id);
        rp_esc(b, r->name);
        dc_sb_append(b, r->is_dpo      ? " (DPO reference)"
                        : r->after_dpo ? " (best by fitness after DPO)"
                                       : " (best by fitness)");
        dc_sb_append(b, "</div>");
        if (r->failed) {
            dc_sb_append(b, "<p class=\"warn\">Could not be evaluated on the pair: ");
            rp_esc(b, r->why);
            dc_sb_append(b, "</p></div>");
            continue;
        }
        for (int s = 0; s < 2; s++) {
            dc_sb_printf(b, "<p class=\"toks\"><b>%s</b>", SIDE[s]);
            if (isfinite(d->pair.side[s].reward))
                dc_sb_printf(b, " (reward %s)", rp_num(v1, sizeof v1, d->pair.side[s].reward));
            dc_sb_append(b, ": <span class=\"tprompt\">");
            rp_esc(b, d->pair.prompt);
            dc_sb_append(b, "</span> ");
            for (int t = 0; t < d->pair.side[s].n; t++)
                token_span(b, d, r, s, t);
            dc_sb_append(b, "</p>");
        }
        dc_sb_append(b, "</div>");
    }
    dc_sb_append(b, "</figure>");
}
