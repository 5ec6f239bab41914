/* report_data.c — everything the report shows, read from the archive in one place: which
 * campaign (named, the only one, or the most recent), its candidates with code and
 * thoughts, its LLM calls, the focus candidate's curves and, for preference campaigns, the
 * β-sweep frontiers and the sandboxed loss curves. */
#include "report.h"

#include "inner_loop/task.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int rp_best_index(const arc_candidate *c, int n)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if (c[i].has_fitness && isfinite(c[i].fitness) && (best < 0 || c[i].fitness > c[best].fitness))
            best = i;
    return best;
}

static void free_campaigns(arc_campaign *list, int n)
{
    for (int i = 0; i < n; i++) arc_campaign_free(&list[i]);
    free(list);
}

/* Picks the campaign: by name, else the focus candidate's, else the only/most recent one. */
static int choose_campaign(archive *a, const rp_options *o, int64_t cand_campaign, rp_data *d,
                           char *err, size_t errcap)
{
    arc_campaign *list = NULL;
    int n = 0;
    if (archive_campaign_list(a, &list, &n, err, errcap) != 0) return -1;
    d->ncampaigns = n;
    if (n == 0) {
        dc_fmt(err, errcap, "archive %s has no campaign yet; 'discover run' starts one",
               archive_path(a));
        free(list);
        return -1;
    }
    int pick = -1;
    if (o->campaign) {
        for (int i = 0; i < n && pick < 0; i++)
            if (!strcmp(list[i].name, o->campaign)) pick = i;
        if (pick < 0) {
            dc_sb names = {0};
            for (int i = 0; i < n; i++) dc_sb_printf(&names, "%s%s", i ? ", " : "", list[i].name);
            dc_fmt(err, errcap, "no campaign '%s' in %s; the campaigns there are: %s", o->campaign,
                   archive_path(a), names.data);
            dc_sb_free(&names);
            free_campaigns(list, n);
            return -1;
        }
        dc_fmt(d->campaign_note, sizeof d->campaign_note, "campaign chosen with --campaign");
    } else if (cand_campaign > 0) {
        for (int i = 0; i < n && pick < 0; i++)
            if (list[i].id == cand_campaign) pick = i;
        dc_fmt(d->campaign_note, sizeof d->campaign_note, "the campaign of candidate %lld",
               (long long)o->candidate);
    } else if (n == 1) {
        pick = 0;
        dc_fmt(d->campaign_note, sizeof d->campaign_note, "the only campaign in the archive");
    } else {
        pick = n - 1; /* the list is oldest first */
        dc_fmt(d->campaign_note, sizeof d->campaign_note,
               "the most recent of %d campaigns in the archive (--campaign NAME picks another)", n);
    }
    if (pick < 0) {
        dc_fmt(err, errcap, "candidate %lld belongs to no campaign in %s", (long long)o->candidate,
               archive_path(a));
        free_campaigns(list, n);
        return -1;
    }
    d->camp = list[pick];
    memset(&list[pick], 0, sizeof list[pick]);
    free_campaigns(list, n);
    return 0;
}

/* The task's reference baseline (dc_task_ops.reference_baseline), any case. */
static int is_dpo_name(const rp_data *d, const char *name)
{
    return name && d->reference && !strcasecmp(name, d->reference);
}

static const arc_candidate *fit_base;
static double fit_or_minus_inf(const arc_candidate *c)
{
    return c->has_fitness && isfinite(c->fitness) ? c->fitness : -INFINITY;
}
static int by_fitness_then_id(const void *a, const void *b)
{
    int ia = *(const int *)a, ib = *(const int *)b;
    double fa = fit_or_minus_inf(&fit_base[ia]), fb = fit_or_minus_inf(&fit_base[ib]);
    if (fa != fb) return fa > fb ? -1 : 1;
    return ia - ib;
}

/* β-sweep frontiers: the reference's (the first candidate named as the task's
 * reference_baseline, DPO) and those of the best few
 * candidates that have sweep data, from their evaluations (replays) or, when they have
 * none, from the candidate's own metrics. */
static int gather_frontiers(archive *a, rp_data *d, char *err, size_t errcap)
{
    int *order = dc_malloc((size_t)(d->ncands + 1) * sizeof *order), m = 0;
    int dpo = -1;
    for (int i = 0; i < d->ncands; i++)
        if (is_dpo_name(d, d->cands[i].name) && dpo < 0) dpo = i;
    if (dpo >= 0) order[m++] = dpo;
    /* Then every other candidate, best fitness first; candidates without a fitness may
     * still have been replayed, so they follow in id order. */
    int first = m;
    for (int i = 0; i < d->ncands; i++)
        if (i != dpo) order[m++] = i;
    fit_base = d->cands;
    qsort(order + first, (size_t)(m - first), sizeof *order, by_fitness_then_id);
    d->fronts = dc_calloc(RP_FRONTIER_CANDIDATES, sizeof *d->fronts);
    int rc = 0;
    for (int k = 0; k < m && d->nfronts < RP_FRONTIER_CANDIDATES; k++) {
        const arc_candidate *c = &d->cands[order[k]];
        rp_frontier *f = &d->fronts[d->nfronts];
        memset(f, 0, sizeof *f);
        arc_evaluation *ev = NULL;
        int nev = 0;
        if (archive_evaluation_list(a, c->id, &ev, &nev, err, errcap) != 0) {
            rc = -1;
            break;
        }
        int pts = 0;
        for (int i = 0; i < nev; i++) {
            if (strcmp(ev[i].status, "ok") != 0) continue; /* a failed replay has no frontier */
            pts += rp_frontier_add(f, d->metrics, "trained", ev[i].metrics_json, ev[i].params_json);
            rp_frontier_add(&d->bon, d->metrics, "best_of_n", ev[i].metrics_json, NULL);
            rp_frontier_add(&d->tq, d->metrics, "transfer_q", ev[i].metrics_json, NULL);
            rp_frontier_add(&d->ppo, d->metrics, "ppo", ev[i].metrics_json, NULL);
        }
        for (int i = 0; i < nev; i++) arc_evaluation_free(&ev[i]);
        free(ev);
        if (pts == 0 && !strcmp(c->status, "ok")) {
            pts = rp_frontier_add(f, d->metrics, "trained", c->metrics_json, NULL);
            rp_frontier_add(&d->bon, d->metrics, "best_of_n", c->metrics_json, NULL);
            rp_frontier_add(&d->tq, d->metrics, "transfer_q", c->metrics_json, NULL);
            rp_frontier_add(&d->ppo, d->metrics, "ppo", c->metrics_json, NULL);
        }
        if (pts == 0) continue;
        rp_frontier_finish(f);
        f->cand_id = c->id;
        f->is_dpo = order[k] == dpo;
        snprintf(f->name, sizeof f->name, "%s", c->name ? c->name : "");
        d->nfronts++;
    }
    free(order);
    if (d->tq.n) rp_frontier_finish(&d->tq);
    if (d->ppo.n) rp_frontier_finish(&d->ppo);
    if (d->bon.n) {
        rp_frontier_finish(&d->bon);
        d->bon.is_bon = 1;
        snprintf(d->bon.name, sizeof d->bon.name, "best-of-N from \xcf\x80_ref (no training)");
    }
    return rc;
}

int rp_gather(archive *a, const rp_options *o, rp_data *d, char *err, size_t errcap)
{
    memset(d, 0, sizeof *d);
    int64_t cand_campaign = 0;
    if (o->candidate > 0) {
        int r = archive_candidate_get(a, o->candidate, &d->focus, err, errcap);
        if (r < 0) return -1;
        if (r > 0) {
            dc_fmt(err, errcap, "no candidate %lld in %s; 'discover ls' lists them",
                   (long long)o->candidate, archive_path(a));
            return -1;
        }
        d->has_focus = 1;
        cand_campaign = d->focus.campaign_id;
        dc_fmt(d->focus_note, sizeof d->focus_note, "chosen with --candidate");
    }
    if (choose_campaign(a, o, cand_campaign, d, err, errcap) != 0) goto fail;
    if (d->has_focus && d->focus.campaign_id != d->camp.id) {
        dc_fmt(err, errcap,
               "candidate %lld is not in campaign '%s'; leave out --campaign to report on its own "
               "campaign",
               (long long)o->candidate, d->camp.name);
        goto fail;
    }
    arc_filter f = {d->camp.id, NULL, 0, 1};
    if (archive_candidate_list(a, &f, &d->cands, &d->ncands, err, errcap) != 0) goto fail;
    if (archive_llm_call_list(a, d->camp.id, &d->calls, &d->ncalls, err, errcap) != 0) goto fail;
    if (archive_confirmed_list(a, d->camp.id, &d->confirmed, &d->nconfirmed, err, errcap) != 0)
        goto fail;
    if (!d->has_focus) {
        int b = rp_best_index(d->cands, d->ncands);
        if (b >= 0) {
            int r = archive_candidate_get(a, d->cands[b].id, &d->focus, err, errcap);
            if (r < 0) goto fail;
            d->has_focus = r == 0;
            dc_fmt(d->focus_note, sizeof d->focus_note,
                   "the best by fitness (--candidate ID picks another)");
        }
    }
    // the campaign's task decides: its interface, and its metric schema for the frontier
    const dc_task_ops *ops = dc_task_find(d->camp.task);
    d->metrics = ops ? ops->metrics : NULL;
    d->is_pref = ops && (ops->kind == SBX_PREF || ops->kind == SBX_TOKEN_PREF);
    d->kind = ops ? ops->kind : SBX_PREF;
    d->reference = ops ? ops->reference_baseline : NULL;
    if (d->is_pref) {
        // a frontier is drawn when the task's metric schema names one ("trained" β sweeps)
        if (dc_metric_axis_def(d->metrics, "trained", DC_AXIS_REWARD) &&
            gather_frontiers(a, d, err, errcap) != 0)
            goto fail;
        rp_compute_losses(d);
        d->pair_metric = ops->token_pair_metric;
        rp_compute_token_weights(d);
    }
    // the drift overlay compares the focus with DPO's run (PPO rides along in either)
    d->drift_curves = ops ? ops->drift_curves : NULL;
    if (d->drift_curves && d->has_focus) {
        d->focus_is_dpo = is_dpo_name(d, d->focus.name);
        for (int i = 0; i < d->ncands && !d->has_dpo; i++) {
            const arc_candidate *c = &d->cands[i];
            if (d->focus_is_dpo || !is_dpo_name(d, c->name) || strcmp(c->status, "ok") != 0)
                continue;
            int r = archive_candidate_get(a, c->id, &d->dpo, err, errcap);
            if (r < 0) goto fail;
            d->has_dpo = r == 0;
        }
    }
    return 0;
fail:
    rp_data_free(d);
    return -1;
}

void rp_data_free(rp_data *d)
{
    arc_campaign_free(&d->camp);
    for (int i = 0; i < d->ncands; i++) arc_candidate_free(&d->cands[i]);
    free(d->cands);
    for (int i = 0; i < d->ncalls; i++) arc_llm_call_free(&d->calls[i]);
    free(d->calls);
    if (d->has_focus) arc_candidate_free(&d->focus);
    if (d->has_dpo) arc_candidate_free(&d->dpo);
    free(d->losses);
    free(d->loss_fails);
    free(d->fronts);
    rp_token_rows_free(d);
    for (int i = 0; i < d->nconfirmed; i++) arc_confirmed_free(&d->confirmed[i]);
    free(d->confirmed);
    memset(d, 0, sizeof *d);
}
