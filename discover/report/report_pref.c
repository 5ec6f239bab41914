/* report_pref.c — preference losses as functions of x = βρ, for the loss plots.
 *
 * Computing a candidate's f(x) means running its code, so it goes through the sandbox
 * (sandbox.h): a worker compiles it and evaluates one batch of 2·RP_LOSS_N pairs: the first
 * half sweeps x over [RP_LOSS_XMIN, RP_LOSS_XMAX], the second sweeps ρ over the same range
 * (the paper's view); reference log-probs 0, rejected 0, chosen = ρ = x/β, lengths 1. Then
 * x = β·chosen and df/dx = (d loss / d chosen) / β. For a row-separable
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
        double rho = grid_x(i), xr = RP_LOSS_BETA * rho;
        out->rho[i] = rho;
        out->rf[i] = log1p(exp(-xr)); /* |xr| <= 0.5: no overflow */
        out->rdf[i] = -1.0 / (1.0 + exp(xr));
    }
}

/* NaN for a non-finite value (skipped when plotting); 1 when v is finite. */
static int keep_finite(double *v)
{
    if (isfinite(*v)) return 1;
    *v = NAN;
    return 0;
}

/* The same sweep as token-level pairs: pair i's chosen and rejected responses are token i of
 * the flat arrays, one token each, with similarity 0.5 (neither ambiguous nor key). */
static dc_status token_eval(sbx_worker *w, const pref_batch *p, double *loss, double *d_chosen,
                            double *d_rejected, char *msg, size_t msgcap)
{
    enum { N2 = 2 * RP_LOSS_N };
    static int off[N2], len[N2];
    static double half[N2];
    for (int i = 0; i < N2; i++) off[i] = i, len[i] = 1, half[i] = 0.5;
    token_pref_batch b = {p->n,          p->beta,        off, off, len, len, p->chosen_logps,
                          p->rejected_logps, p->ref_chosen_logps, p->ref_rejected_logps,
                          half,          half};
    return sbx_token_eval(w, &b, N2, N2, loss, d_chosen, d_rejected, msg, msgcap);
}

int rp_loss_sandbox(sbx_kind kind, const char *code, rp_loss *out, char *why, size_t whycap)
{
    enum { N2 = 2 * RP_LOSS_N };
    static double zeros[N2], ones[N2];
    double chosen[N2], loss[N2], d_chosen[N2], d_rejected[N2];
    for (int i = 0; i < RP_LOSS_N; i++) {
        out->x[i] = grid_x(i);
        out->rho[i] = grid_x(i);
        chosen[i] = out->x[i] / RP_LOSS_BETA;
        chosen[RP_LOSS_N + i] = out->rho[i];
    }
    for (int i = 0; i < N2; i++) ones[i] = 1.0;
    pref_batch b = {N2, RP_LOSS_BETA, chosen, zeros, zeros, zeros, ones, ones};
    sbx_worker *w = NULL;
    char msg[512] = "";
    dc_status st = sbx_open(kind, code ? code : "", code ? strlen(code) : 0, NULL, &w, msg,
                            sizeof msg);
    if (st == DC_OK && kind == SBX_TOKEN_PREF)
        st = token_eval(w, &b, loss, d_chosen, d_rejected, msg, sizeof msg);
    else if (st == DC_OK)
        st = sbx_pref_eval(w, &b, loss, d_chosen, d_rejected, msg, sizeof msg);
    sbx_close(w);
    if (st != DC_OK) {
        dc_fmt(why, whycap, "%s%s%s", dc_status_name(st), msg[0] ? ": " : "", msg);
        return -1;
    }
    int finite = 0;
    for (int i = 0; i < RP_LOSS_N; i++) {
        out->f[i] = loss[i];
        out->df[i] = d_chosen[i] / RP_LOSS_BETA;
        out->rf[i] = loss[RP_LOSS_N + i];
        out->rdf[i] = d_chosen[RP_LOSS_N + i] / RP_LOSS_BETA;
        finite += keep_finite(&out->f[i]);
        keep_finite(&out->df[i]);
        finite += keep_finite(&out->rf[i]);
        keep_finite(&out->rdf[i]);
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
        if (rp_loss_sandbox(d->kind, c->code, L, why, sizeof why) == 0) {
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
