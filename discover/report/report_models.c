/* report_models.c — what each model bought (run --model A,B,...): one table row per model
 * (calls, tokens, cost, ok rate, best fitness) and the cumulative best fitness against the
 * cumulative cost, one line per model and one for the campaign.
 *
 * A call is credited with the candidate written from its reply (candidates.llm_call_id).
 * When no call has a price the x axis is the call number instead, and the caption says so.
 * Campaigns that asked one model get no figure: the LLM usage figure is that model. */
#include "report.h"

#include "common/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *MODEL_COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                     "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
#define NCOLORS ((int)(sizeof MODEL_COLORS / sizeof *MODEL_COLORS))
#define MAX_MODELS 16

static const char *model_of(const arc_llm_call *c)
{
    return c->model && c->model[0] ? c->model : "(campaign model)";
}

/* The candidate written from call id (NULL: none, e.g. a failed call). */
static const arc_candidate *candidate_of(const rp_data *d, int64_t call_id)
{
    for (int i = 0; i < d->ncands; i++)
        if (d->cands[i].llm_call_id == call_id) return &d->cands[i];
    return NULL;
}

static int scored(const arc_candidate *c)
{
    return c && !strcmp(c->status, "ok") && c->has_fitness && isfinite(c->fitness);
}

typedef struct {
    const char *name;
    int calls, ok;
    long long tin, tout;
    double cost, best;
} model_row;

static int model_index(model_row *rows, int *nrows, const char *name)
{
    for (int i = 0; i < *nrows; i++)
        if (!strcmp(rows[i].name, name)) return i;
    if (*nrows == MAX_MODELS) return -1;
    rows[*nrows] = (model_row){.name = name, .best = -INFINITY};
    return (*nrows)++;
}

void rp_plot_models(dc_sb *b, const rp_data *d)
{
    model_row rows[MAX_MODELS];
    int nrows = 0, priced = 0;
    for (int i = 0; i < d->ncalls; i++) {
        const arc_llm_call *c = &d->calls[i];
        int m = model_index(rows, &nrows, model_of(c));
        if (m < 0) continue; /* more models than run --model accepts: not from this project */
        const arc_candidate *cand = candidate_of(d, c->id);
        double cost = isfinite(c->cost) && c->cost > 0 ? c->cost : 0;
        rows[m].calls++;
        rows[m].tin += c->tokens_in;
        rows[m].tout += c->tokens_out;
        rows[m].cost += cost;
        priced |= cost > 0;
        if (cand && !strcmp(cand->status, "ok")) rows[m].ok++;
        if (scored(cand) && cand->fitness > rows[m].best) rows[m].best = cand->fitness;
    }
    if (nrows < 2) return;

    dc_sb_append(b, "<figure class=\"wide\" id=\"fig-models\"><figcaption><b>Models.</b> What "
                    "each model bought: its calls, tokens, cost, the share of its candidates that "
                    "trained and scored (ok), its best fitness, and the best fitness so far ");
    dc_sb_append(b, priced ? "against the cumulative cost"
                           : "against the call number (no call has a price: give --price-in/"
                             "--price-out to plot against cost)");
    dc_sb_append(b, ", one line per model and a black one for the campaign.</figcaption>"
                    "<table class=\"totals\" id=\"models-table\"><tr><th>model</th><th>calls</th>"
                    "<th>tokens in</th><th>tokens out</th><th>cost</th><th>ok rate</th>"
                    "<th>best fitness</th></tr>");
    for (int m = 0; m < nrows; m++) {
        char best[32];
        dc_sb_append(b, "<tr data-kind=\"model-row\"><td>");
        rp_esc(b, rows[m].name);
        dc_sb_printf(b, "</td><td>%d</td><td>%lld</td><td>%lld</td><td>%.4g</td><td>%.2f</td><td>%s</td></tr>",
                     rows[m].calls, rows[m].tin, rows[m].tout, rows[m].cost,
                     rows[m].calls ? (double)rows[m].ok / rows[m].calls : 0.0,
                     rp_num(best, sizeof best, rows[m].best));
    }
    dc_sb_append(b, "</table>");

    /* The axes: x is cost (or call number), y the fitness of scored call candidates. */
    double xmax = 0, lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < d->ncalls; i++) {
        const arc_llm_call *c = &d->calls[i];
        xmax += priced ? (isfinite(c->cost) && c->cost > 0 ? c->cost : 0) : 1;
        const arc_candidate *cand = candidate_of(d, c->id);
        if (scored(cand)) {
            lo = fmin(lo, cand->fitness);
            hi = fmax(hi, cand->fitness);
        }
    }
    if (!isfinite(lo) || xmax <= 0) {
        dc_sb_append(b, "<p class=\"note\">No call produced a scored candidate yet.</p></figure>");
        return;
    }
    double pad = (hi - lo) > 0 ? (hi - lo) * 0.06 : fmax(fabs(hi) * 0.05, 0.05);
    rp_axes ax = rp_axes_make(900, 300, 0, xmax * 1.02, lo - pad, hi + pad);
    rp_svg_open(b, &ax, "best fitness so far against cumulative cost",
                priced ? "cumulative cost" : "call", "best fitness so far");
    /* Line k < nrows: model k alone (its own cumulative cost); k == nrows: the campaign. */
    double *x = dc_malloc((size_t)(2 * d->ncalls + 2) * 2 * sizeof *x), *y = x + 2 * d->ncalls + 2;
    for (int k = 0; k <= nrows; k++) {
        double spent = 0, best = -INFINITY;
        int np = 0;
        for (int i = 0; i < d->ncalls; i++) {
            const arc_llm_call *c = &d->calls[i];
            if (k < nrows && strcmp(model_of(c), rows[k].name)) continue;
            const arc_candidate *cand = candidate_of(d, c->id);
            double prev = best;
            spent += priced ? (isfinite(c->cost) && c->cost > 0 ? c->cost : 0) : 1;
            if (scored(cand) && cand->fitness > best) best = cand->fitness;
            if (!isfinite(best)) continue;
            /* a step: flat until this call's spend, then up to the new best */
            if (isfinite(prev) && np > 0) {
                x[np] = spent;
                y[np++] = prev;
            }
            x[np] = spent;
            y[np++] = best;
        }
        if (np == 0) continue;
        char attrs[200];
        if (k < nrows)
            dc_fmt(attrs, sizeof attrs,
                   "data-kind=\"model-line\" data-model=\"%d\" fill=\"none\" stroke=\"%s\" "
                   "stroke-width=\"2\"",
                   k, MODEL_COLORS[k % NCOLORS]);
        else
            dc_fmt(attrs, sizeof attrs,
                   "data-kind=\"campaign-line\" fill=\"none\" stroke=\"#000\" stroke-width=\"1.5\" "
                   "stroke-dasharray=\"5 3\"");
        rp_svg_line(b, &ax, x, y, np, attrs);
    }
    free(x);
    rp_svg_close(b);
    dc_sb_append(b, "<div class=\"legend\">");
    for (int m = 0; m < nrows; m++) {
        dc_sb_printf(b, "<span><i style=\"background:%s\"></i>", MODEL_COLORS[m % NCOLORS]);
        rp_esc(b, rows[m].name);
        dc_sb_append(b, "</span>");
    }
    dc_sb_append(b, "<span><i style=\"background:#000\"></i>campaign</span></div></figure>");
}
