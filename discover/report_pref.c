/* report_pref.c — preference losses as functions of x = βρ, for the loss plots.
 *
 * Computing a candidate's f(x) means running its code, so it goes through the sandbox
 * (sandbox.h): a worker compiles it and evaluates one batch whose pairs sweep x over
 * [RP_LOSS_XMIN, RP_LOSS_XMAX]: reference log-probs 0, rejected 0, chosen = x/β, lengths
 * 1. Then ρ = chosen, x = β·chosen, and df/dx = (d loss / d chosen) / β. For a row-separable
 * objective the worker's d(Σ loss)/d chosen_i is exactly f'(x_i); an objective that uses
 * batch statistics is shown as it behaves on this batch (the caption says so). Only DPO's
 * reference curve is computed in this process, from its formula. */
#include "report.h"

#include "sandbox/sandbox.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double grid_x(int i)
{
    return RP_LOSS_XMIN + (RP_LOSS_XMAX - RP_LOSS_XMIN) * i / (RP_LOSS_N - 1);
}

void rp_loss_dpo_reference(rp_loss *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "DPO (reference)");
    for (int i = 0; i < RP_LOSS_N; i++) {
        double x = grid_x(i);
        out->x[i] = x;
        out->f[i] = x > 0 ? log1p(exp(-x)) : -x + log1p(exp(x)); /* log(1 + e^−x), stable */
        out->df[i] = -1.0 / (1.0 + exp(x));                        /* −σ(−x) */
    }
}

int rp_loss_sandbox(const char *code, rp_loss *out, char *why, size_t whycap)
{
    static double zeros[RP_LOSS_N], ones[RP_LOSS_N];
    double chosen[RP_LOSS_N], d_chosen[RP_LOSS_N], d_rejected[RP_LOSS_N];
    for (int i = 0; i < RP_LOSS_N; i++) {
        out->x[i] = grid_x(i);
        chosen[i] = out->x[i] / RP_LOSS_BETA;
        ones[i] = 1.0;
    }
    pref_batch b = {RP_LOSS_N, RP_LOSS_BETA, chosen, zeros, zeros, zeros, ones, ones};
    sbx_worker *w = NULL;
    char msg[512] = "";
    dc_status st = sbx_open(SBX_PREF, code ? code : "", code ? strlen(code) : 0, NULL, &w, msg,
                            sizeof msg);
    if (st == DC_OK) st = sbx_pref_eval(w, &b, out->f, d_chosen, d_rejected, msg, sizeof msg);
    sbx_close(w);
    if (st != DC_OK) {
        dc_fmt(why, whycap, "%s%s%s", dc_status_name(st), msg[0] ? ": " : "", msg);
        return -1;
    }
    int finite = 0;
    for (int i = 0; i < RP_LOSS_N; i++) {
        out->df[i] = d_chosen[i] / RP_LOSS_BETA;
        if (!isfinite(out->f[i])) out->f[i] = NAN;
        if (!isfinite(out->df[i])) out->df[i] = NAN;
        finite += isfinite(out->f[i]) != 0;
    }
    if (finite == 0) {
        dc_fmt(why, whycap, "no finite loss anywhere on x in [%g, %g]", RP_LOSS_XMIN, RP_LOSS_XMAX);
        return -1;
    }
    return 0;
}

/* Order of candidates by fitness, best first (finite fitness of ok candidates only). */
static const arc_candidate *sort_base;
static int by_fitness_desc(const void *a, const void *b)
{
    double fa = sort_base[*(const int *)a].fitness, fb = sort_base[*(const int *)b].fitness;
    if (fa != fb) return fa > fb ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

void rp_compute_losses(rp_data *d)
{
    int *idx = dc_malloc((size_t)(d->ncands + 1) * sizeof *idx), m = 0;
    for (int i = 0; i < d->ncands; i++) {
        const arc_candidate *c = &d->cands[i];
        if (c->has_fitness && isfinite(c->fitness) && !strcmp(c->status, "ok") && c->code)
            idx[m++] = i;
    }
    sort_base = d->cands;
    qsort(idx, (size_t)m, sizeof *idx, by_fitness_desc);
    d->losses = dc_calloc(RP_LOSS_CANDIDATES + 1, sizeof *d->losses);
    d->loss_fails = dc_calloc(RP_LOSS_CANDIDATES, sizeof *d->loss_fails);
    rp_loss_dpo_reference(&d->losses[0]);
    d->nlosses = 1;
    /* The best few distinct codes: a duplicate would draw the same curve twice. */
    for (int k = 0; k < m && d->nlosses + d->nloss_fails < RP_LOSS_CANDIDATES + 1; k++) {
        const arc_candidate *c = &d->cands[idx[k]];
        int dup = 0;
        for (int j = 0; j < k && !dup; j++)
            dup = c->code_hash && d->cands[idx[j]].code_hash && c->code_hash[0] &&
                  !strcmp(c->code_hash, d->cands[idx[j]].code_hash);
        if (dup) continue;
        rp_loss *L = &d->losses[d->nlosses];
        char why[256];
        if (rp_loss_sandbox(c->code, L, why, sizeof why) == 0) {
            L->cand_id = c->id;
            snprintf(L->name, sizeof L->name, "%s", c->name ? c->name : "");
            d->nlosses++;
        } else {
            rp_loss_fail *F = &d->loss_fails[d->nloss_fails++];
            F->cand_id = c->id;
            snprintf(F->name, sizeof F->name, "%s", c->name ? c->name : "");
            snprintf(F->why, sizeof F->why, "%s", why);
        }
    }
    if (m == 0)
        dc_fmt(d->loss_note, sizeof d->loss_note,
               "no candidate of this campaign has a fitness yet: only DPO's reference is drawn");
    free(idx);
}
