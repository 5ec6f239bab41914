/* report_plots.c — the charts of the report, each one <figure> with an inline SVG, an HTML
 * legend and a caption that says what is shown (and what was left out, and why).
 *
 * Every data mark carries data-kind (and ids/values) so tests and curious readers can
 * count and read them: point/unscored/bin (search progress), loss/dloss, frontier-point,
 * curve/drift-time/drift-magnitude, llm-call/llm-latency. */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *PALETTE[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
#define NPALETTE ((int)(sizeof PALETTE / sizeof *PALETTE))

const char *rp_status_color(const char *s)
{
    static const struct {
        const char *name, *color;
    } map[] = {
        {"ok", "#2ca02c"},          {"pending", "#1f77b4"},   {"compile_error", "#ff7f0e"},
        {"violation", "#d62728"},   {"crash", "#8b0000"},     {"timeout", "#9467bd"},
        {"nonfinite", "#8c564b"},   {"invalid", "#e377c2"},   {"duplicate", "#9e9e9e"},
        {"parse_error", "#bcbd22"}, {"interrupted", "#17becf"}, {"error", "#333333"},
    };
    for (size_t i = 0; s && i < sizeof map / sizeof *map; i++)
        if (!strcmp(s, map[i].name)) return map[i].color;
    return "#555555";
}

/* ------------------------------------------------------------------ search progress */

/* Deterministic horizontal jitter in [-0.3, 0.3] generations, so candidates of one
 * generation do not sit on top of each other; the same id always lands in the same place. */
static double jitter(int64_t id)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return ((double)(h >> 40) / (double)(1ull << 24) - 0.5) * 0.6;
}

static double cand_value(const arc_candidate *c, int test_metric)
{
    if (!c->has_fitness) return NAN;
    return test_metric ? c->test_metric : c->fitness;
}

/* One legend entry per status present, with counts. */
void rp_status_legend_items(dc_sb *b, const rp_data *d, int (*keep)(const arc_candidate *c))
{
    const char *seen[64];
    int counts[64], ns = 0;
    for (int i = 0; i < d->ncands; i++) {
        if (keep && !keep(&d->cands[i])) continue;
        int k = 0;
        while (k < ns && strcmp(seen[k], d->cands[i].status)) k++;
        if (k == ns) {
            if (ns == 64) continue;
            seen[ns] = d->cands[i].status;
            counts[ns++] = 0;
        }
        counts[k]++;
    }
    for (int k = 0; k < ns; k++) {
        dc_sb_printf(b, "<span><i style=\"background:%s\"></i>", rp_status_color(seen[k]));
        rp_esc(b, seen[k]);
        dc_sb_printf(b, " (%d)</span>", counts[k]);
    }
}

static void status_legend(dc_sb *b, const rp_data *d)
{
    dc_sb_append(b, "<div class=\"legend\">");
    rp_status_legend_items(b, d, NULL);
    dc_sb_append(b, "</div>");
}

/* Scatter marks: one disc per candidate, or, with very many, one per screen cell and
 * status sized by count (each with data-n, so nothing is silently dropped). */
static int scatter(dc_sb *b, const rp_axes *ax, const rp_data *d, int test_metric, int nscored)
{
    if (nscored <= RP_MAX_SCATTER) {
        char v[32];
        for (int i = 0; i < d->ncands; i++) {
            const arc_candidate *c = &d->cands[i];
            double y = cand_value(c, test_metric);
            if (!isfinite(y)) continue;
            double x = c->generation + jitter(c->id);
            dc_sb_printf(b, "<a href=\"#c%lld\"><circle data-kind=\"point\" data-id=\"%lld\" data-status=\"",
                         (long long)c->id, (long long)c->id);
            rp_esc(b, c->status);
            dc_sb_printf(b, "\" cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>#%lld ", rp_px(ax, x),
                         rp_py(ax, y), rp_status_color(c->status), (long long)c->id);
            rp_esc(b, c->name);
            dc_sb_printf(b, " (gen %d, ", c->generation);
            rp_esc(b, c->status);
            dc_sb_printf(b, "): %s</title></circle></a>", rp_num(v, sizeof v, y));
        }
        return 0;
    }
    /* Aggregated: 5 px cells, per status. */
    const int cell = 5;
    int cw = ax->w / cell + 1, ch = ax->h / cell + 1, nbins = 0;
    typedef struct {
        int cx, cy, n;
        const char *status;
    } bin;
    bin *bins = dc_malloc((size_t)nscored * sizeof *bins);
    int *grid = dc_malloc((size_t)cw * ch * sizeof *grid); /* last bin index per cell, -1 */
    for (int i = 0; i < cw * ch; i++) grid[i] = -1;
    int *next = dc_malloc((size_t)nscored * sizeof *next); /* chain of bins in one cell */
    for (int i = 0; i < d->ncands; i++) {
        const arc_candidate *c = &d->cands[i];
        double y = cand_value(c, test_metric);
        if (!isfinite(y)) continue;
        int px = (int)(rp_px(ax, c->generation + jitter(c->id)) / cell);
        int py = (int)(rp_py(ax, y) / cell);
        if (px < 0) px = 0;
        if (px >= cw) px = cw - 1;
        if (py < 0) py = 0;
        if (py >= ch) py = ch - 1;
        int g = py * cw + px, k = grid[g];
        while (k >= 0 && strcmp(bins[k].status, c->status)) k = next[k];
        if (k < 0) {
            k = nbins++;
            bins[k] = (bin){px, py, 0, c->status};
            next[k] = grid[g];
            grid[g] = k;
        }
        bins[k].n++;
    }
    for (int k = 0; k < nbins; k++) {
        double r = fmin(1.5 + 0.9 * sqrt((double)bins[k].n), 7.0);
        dc_sb_printf(b, "<circle data-kind=\"bin\" data-n=\"%d\" data-status=\"", bins[k].n);
        rp_esc(b, bins[k].status);
        dc_sb_printf(b, "\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" fill-opacity=\"0.6\">"
                        "<title>%d candidates (",
                     (bins[k].cx + 0.5) * cell, (bins[k].cy + 0.5) * cell, r,
                     rp_status_color(bins[k].status), bins[k].n);
        rp_esc(b, bins[k].status);
        dc_sb_append(b, ")</title></circle>");
    }
    free(bins);
    free(grid);
    free(next);
    return nbins;
}

void rp_plot_progress(dc_sb *b, const rp_data *d, int test_metric)
{
    const char *what = test_metric ? "held-out test metric" : "fitness (validation)";
    int nscored = 0, gmax = 0, nunscored = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < d->ncands; i++) {
        const arc_candidate *c = &d->cands[i];
        if (c->generation > gmax) gmax = c->generation;
        double y = cand_value(c, test_metric);
        if (!isfinite(y)) {
            nunscored++;
            continue;
        }
        nscored++;
        lo = fmin(lo, y);
        hi = fmax(hi, y);
    }
    dc_sb_printf(b, "<figure class=\"wide\" id=\"fig-%s\"><figcaption><b>%s over generations.</b> ",
                 test_metric ? "test" : "fitness", test_metric ? "Held-out test metric" : "Fitness");
    if (nscored == 0) {
        dc_sb_printf(b, "No candidate has a %s yet (%d candidate%s without a score).</figcaption></figure>",
                     what, d->ncands, d->ncands == 1 ? "" : "s");
        return;
    }
    if (!isfinite(lo)) lo = hi = 0;
    double pad = (hi - lo) > 0 ? (hi - lo) * 0.06 : fmax(fabs(hi) * 0.05, 0.05);
    /* Unscored candidates get a rug of ticks in a band under the data. */
    double band = nunscored ? (hi - lo + 2 * pad) * 0.10 : 0;
    rp_axes ax = rp_axes_make(900, 330, -0.6, gmax + 0.6, lo - pad - band, hi + pad);
    ax.x_integer = 1;
    dc_sb_printf(b, "%s",
                 test_metric ? "The test metric of every scored candidate, coloured by status; the line "
                               "is the test metric of the candidate the search would pick (best fitness so "
                               "far): when it falls while fitness rises, the search is overfitting its "
                               "validation split."
                             : "One point per scored candidate, coloured by status; the line is the best "
                               "fitness so far.");
    if (nunscored)
        dc_sb_printf(b, " Ticks along the bottom: %d candidate%s without a score.", nunscored,
                     nunscored == 1 ? "" : "s");
    dc_sb_append(b, "</figcaption>");
    rp_svg_open(b, &ax, test_metric ? "test metric over generations" : "fitness over generations",
                "generation", what);
    int nbins = scatter(b, &ax, d, test_metric, nscored);
    /* Rug of unscored candidates. */
    double rug_y = rp_py(&ax, lo - pad - band * 0.5);
    for (int i = 0; i < d->ncands; i++) {
        const arc_candidate *c = &d->cands[i];
        if (isfinite(cand_value(c, test_metric))) continue;
        if (nunscored > RP_MAX_SCATTER && i % ((nunscored + RP_MAX_SCATTER - 1) / RP_MAX_SCATTER)) continue;
        double x = rp_px(&ax, c->generation + jitter(c->id));
        dc_sb_printf(b, "<a href=\"#c%lld\"><line data-kind=\"unscored\" data-id=\"%lld\" x1=\"%.1f\" y1=\"%.1f\" "
                        "x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2\"><title>#%lld ",
                     (long long)c->id, (long long)c->id, x, rug_y - 5, x, rug_y + 5,
                     rp_status_color(c->status), (long long)c->id);
        rp_esc(b, c->name);
        dc_sb_append(b, ": ");
        rp_esc(b, c->status);
        dc_sb_append(b, "</title></line></a>");
    }
    /* Best so far, per generation (exact, from all candidates). */
    double *gx = dc_malloc((size_t)(gmax + 1) * 2 * sizeof *gx), *gy = gx + gmax + 1;
    double best_fit = -INFINITY, pick = NAN;
    int k = 0;
    for (int g = 0; g <= gmax; g++) {
        for (int i = 0; i < d->ncands; i++) {
            const arc_candidate *c = &d->cands[i];
            if (c->generation != g || !c->has_fitness || !isfinite(c->fitness)) continue;
            if (c->fitness > best_fit) {
                best_fit = c->fitness;
                pick = test_metric ? c->test_metric : c->fitness;
            }
        }
        gx[k] = g;
        gy[k++] = isfinite(best_fit) ? pick : NAN;
    }
    /* A step line: horizontal to the next generation, then vertical. */
    double *sx = dc_malloc((size_t)(2 * k + 1) * 2 * sizeof *sx), *sy = sx + 2 * k + 1;
    int m = 0;
    for (int i = 0; i < k; i++) {
        sx[m] = gx[i] - 0.5;
        sy[m++] = gy[i];
        sx[m] = gx[i] + 0.5;
        sy[m++] = gy[i];
    }
    rp_svg_line(b, &ax, sx, sy, m,
                test_metric ? "data-kind=\"best-line\" class=\"best test\"" : "data-kind=\"best-line\" class=\"best\"");
    free(sx);
    free(gx);
    rp_svg_close(b);
    status_legend(b, d);
    if (nbins)
        dc_sb_printf(b, "<p class=\"note\">%d scored candidates are drawn as %d discs (one per 5-px "
                        "cell and status, area by count); hover a disc for its count.</p>",
                     nscored, nbins);
    dc_sb_append(b, "</figure>");
}

/* ------------------------------------------------------------------ preference losses */

/* Space-separated values for data attributes ("nan" for missing). */
static void values_attr(dc_sb *b, const double *v, int n)
{
    for (int i = 0; i < n; i++) {
        if (isfinite(v[i])) dc_sb_printf(b, "%s%.6g", i ? " " : "", v[i]);
        else dc_sb_printf(b, "%snan", i ? " " : "");
    }
}

/* One loss chart: f or f' (deriv), over x = βρ (wide view) or over ρ at β = 0.05 (paper
 * view, the axes of the DiscoPOP paper's LRML figure). */
static void loss_chart(dc_sb *b, const rp_data *d, int deriv, int paper)
{
    /* y range from the finite values, clamped so one exploding objective does not flatten
     * the others (the clip box hides what is outside). */
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < d->nlosses; k++)
        for (int i = 0; i < RP_LOSS_N; i++) {
            const rp_loss *L = &d->losses[k];
            double v = paper ? (deriv ? L->rdf[i] : L->rf[i]) : (deriv ? L->df[i] : L->f[i]);
            if (!isfinite(v)) continue;
            lo = fmin(lo, v);
            hi = fmax(hi, v);
        }
    if (!(lo <= hi)) lo = 0, hi = 1; /* nothing finite: an empty frame */
    if (deriv) {
        lo = fmax(lo, -3);
        hi = fmin(hi, 3);
    } else {
        lo = fmax(lo, -5);
        hi = fmin(hi, 15);
    }
    double pad = (hi - lo) * 0.05;
    if (pad <= 0) pad = 0.05;
    rp_axes ax = rp_axes_make(440, 300, RP_LOSS_XMIN, RP_LOSS_XMAX, lo - pad, hi + pad);
    const char *title = paper ? (deriv ? "derivative, paper view" : "loss, paper view")
                              : (deriv ? "derivative of the loss" : "loss f(x)");
    rp_svg_open(b, &ax, title, paper ? "\xcf\x81 (\xce\xb2 = 0.05)" : "x = \xce\xb2\xcf\x81",
                deriv ? "f\xe2\x80\xb2(x)" : "f(x)");
    const char *kind = paper ? (deriv ? "dloss-rho" : "loss-rho") : (deriv ? "dloss" : "loss");
    for (int k = 0; k < d->nlosses; k++) {
        const rp_loss *L = &d->losses[k];
        const double *xs = paper ? L->rho : L->x;
        const double *ys = paper ? (deriv ? L->rdf : L->rf) : (deriv ? L->df : L->f);
        /* The exact values ride along (data-y) so readers and tests can check them. */
        dc_sb attrs = {0};
        dc_sb_printf(&attrs, "data-kind=\"%s\" data-id=\"%lld\" data-x0=\"%g\" data-x1=\"%g\" data-y=\"",
                     kind, (long long)L->cand_id, RP_LOSS_XMIN, RP_LOSS_XMAX);
        values_attr(&attrs, ys, RP_LOSS_N);
        if (k == 0) dc_sb_append(&attrs, "\" class=\"ref\"");
        else
            dc_sb_printf(&attrs, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"",
                         PALETTE[(k - 1) % NPALETTE]);
        rp_svg_line(b, &ax, xs, ys, RP_LOSS_N, attrs.data);
        dc_sb_free(&attrs);
    }
    rp_svg_close(b);
}

void rp_plot_losses(dc_sb *b, const rp_data *d)
{
    dc_sb_append(b, "<figure class=\"wide\" id=\"fig-losses\"><figcaption><b>The loss as a function of "
                    "x = \xce\xb2\xcf\x81 and its derivative</b> (\xcf\x81: chosen minus rejected log-ratio), "
                    "for the best candidates beside DPO's log(1+e<sup>\xe2\x88\x92x</sup>) (dashed), as the "
                    "DiscoPOP paper plots LRML. Top: x over [\xe2\x88\x92" "10, 10]; bottom, the paper's view: "
                    "\xcf\x81 over [\xe2\x88\x92" "10, 10] at \xce\xb2 = 0.05 (x within \xc2\xb1" "0.5), where "
                    "LRML's local minimum (\xcf\x81 \xe2\x89\x88 \xe2\x88\x92" "2.37) and maximum (\xcf\x81 \xe2\x89\x88 1.44) "
                    "show. Each candidate's code ran in the sandbox on one batch sweeping both grids; an "
                    "objective that uses batch statistics is shown as it behaves on that batch. Values "
                    "outside the frame are clipped.");
    if (d->kind == SBX_TOKEN_PREF)
        dc_sb_append(b, " Token-level objectives ran with one token per response and similarity 0.5 "
                        "on both (neither ambiguous nor key): the curve is the pair loss their token "
                        "weights feed, not the weights themselves.");
    if (d->loss_note[0]) {
        dc_sb_append(b, " ");
        rp_esc(b, d->loss_note);
        dc_sb_append(b, ".");
    }
    if (d->nloss_fails) {
        dc_sb_append(b, " <span class=\"warn\">Left out because they failed in the sandbox:");
        for (int i = 0; i < d->nloss_fails; i++) {
            dc_sb_printf(b, "%s <a href=\"#c%lld\">#%lld ", i ? ";" : "", (long long)d->loss_fails[i].cand_id,
                         (long long)d->loss_fails[i].cand_id);
            rp_esc(b, d->loss_fails[i].name);
            dc_sb_append(b, "</a> (");
            rp_esc(b, d->loss_fails[i].why);
            dc_sb_append(b, ")");
        }
        dc_sb_append(b, ".</span>");
    }
    dc_sb_append(b, "</figcaption><div class=\"row\">");
    loss_chart(b, d, 0, 0);
    loss_chart(b, d, 1, 0);
    dc_sb_append(b, "</div><div class=\"row\">");
    loss_chart(b, d, 0, 1);
    loss_chart(b, d, 1, 1);
    dc_sb_append(b, "</div><div class=\"legend\"><span><i class=\"dash\"></i>DPO (reference)</span>");
    for (int k = 1; k < d->nlosses; k++) {
        dc_sb_printf(b, "<span><i style=\"background:%s\"></i><a href=\"#c%lld\">#%lld ", PALETTE[(k - 1) % NPALETTE],
                     (long long)d->losses[k].cand_id, (long long)d->losses[k].cand_id);
        rp_esc(b, d->losses[k].name);
        dc_sb_append(b, "</a></span>");
    }
    dc_sb_append(b, "</div></figure>");
}

/* ------------------------------------------------------------------ reward vs KL */

void rp_plot_frontier(dc_sb *b, const rp_data *d)
{
    dc_sb_append(b, "<figure id=\"fig-frontier\"><figcaption><b>Reward vs KL of \xce\xb2 sweeps.</b> ");
    if (d->nfronts == 0) {
        dc_sb_append(b, "No \xce\xb2-sweep results in the archive yet: 'discover replay ID --beta "
                        "0.01,0.05,0.1,0.25' records them.</figcaption></figure>");
        return;
    }
    int has_dpo = 0;
    double xl = INFINITY, xh = -INFINITY, yl = INFINITY, yh = -INFINITY;
    for (int k = 0; k <= d->nfronts + 2; k++) {
        const rp_frontier *f = k < d->nfronts ? &d->fronts[k] : k == d->nfronts ? &d->bon :
                               k == d->nfronts + 1 ? &d->tq : &d->ppo;
        if (k < d->nfronts) has_dpo |= f->is_dpo;
        for (int i = 0; i < f->n; i++) {
            xl = fmin(xl, f->kl[i]);
            xh = fmax(xh, f->kl[i]);
            yl = fmin(yl, f->reward[i]);
            yh = fmax(yh, f->reward[i]);
        }
    }
    dc_sb_printf(b, "Mean validation reward against per-token KL(\xcf\x80\xe2\x80\x96\xcf\x80<sub>ref</sub>) for each "
                    "\xce\xb2 (labels), averaged over the evaluations (seeds) in the archive; up and to the "
                    "left is better.%s%s%s%s</figcaption>",
                 has_dpo ? " DPO dashed." : " DPO has no sweep in this campaign.",
                 d->bon.n ? " Grey squares: best-of-N sampling from \xcf\x80<sub>ref</sub> (labels N; no "
                            "training; KL at most log N \xe2\x88\x92 (N\xe2\x88\x92" "1)/N per response, over its mean "
                            "length), the decoding-time baseline." : "",
                 d->tq.n ? " Grey diamonds: Transfer Q* decoding from \xcf\x80<sub>ref</sub> (labels \xce\xb1; "
                           "rollout values steer its top-k tokens; exact KL)." : "",
                 d->ppo.n ? " Green triangles: PPO trained from \xcf\x80<sub>ref</sub> on the task's reward "
                            "with a per-token KL penalty (labels: its coefficient), the online-RL "
                            "baseline." : "");
    double px = (xh - xl) * 0.08 + 1e-9, py = (yh - yl) * 0.08 + 1e-9;
    rp_axes ax = rp_axes_make(520, 340, fmin(0, xl - px), xh + px, yl - py, yh + py);
    rp_svg_open(b, &ax, "reward vs KL", "KL per token", "reward");
    char v1[32], v2[32];
    for (int k = 0; k < d->nfronts; k++) {
        const rp_frontier *f = &d->fronts[k];
        const char *col = f->is_dpo ? "#000000" : PALETTE[k % NPALETTE];
        char attrs[160];
        snprintf(attrs, sizeof attrs, "data-kind=\"frontier\" data-id=\"%lld\" fill=\"none\" stroke=\"%s\"%s",
                 (long long)f->cand_id, col, f->is_dpo ? " stroke-dasharray=\"6 4\" stroke-width=\"2\"" : " stroke-width=\"2\"");
        rp_svg_line(b, &ax, f->kl, f->reward, f->n, attrs);
        for (int i = 0; i < f->n; i++) {
            double cx = rp_px(&ax, f->kl[i]), cy = rp_py(&ax, f->reward[i]);
            dc_sb_printf(b, "<circle data-kind=\"frontier-point\" data-id=\"%lld\" data-beta=\"%g\" "
                            "data-reward=\"%.6g\" data-kl=\"%.6g\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"><title>",
                         (long long)f->cand_id, f->beta[i], f->reward[i], f->kl[i], cx, cy, col);
            rp_esc(b, f->name);
            dc_sb_printf(b, " \xce\xb2=%g: reward %s, KL %s (%d run%s)</title></circle>"
                            "<text class=\"lab\" x=\"%.1f\" y=\"%.1f\">%g</text>",
                         f->beta[i], rp_num(v1, sizeof v1, f->reward[i]), rp_num(v2, sizeof v2, f->kl[i]),
                         f->samples[i], f->samples[i] == 1 ? "" : "s", cx + 5, cy - 5, f->beta[i]);
        }
    }
    if (d->bon.n) {
        const rp_frontier *f = &d->bon;
        rp_svg_line(b, &ax, f->kl, f->reward, f->n,
                    "data-kind=\"bon\" fill=\"none\" stroke=\"#888888\" stroke-width=\"1.5\"");
        for (int i = 0; i < f->n; i++) {
            double cx = rp_px(&ax, f->kl[i]), cy = rp_py(&ax, f->reward[i]);
            dc_sb_printf(b, "<rect data-kind=\"bon-point\" data-n=\"%g\" data-reward=\"%.6g\" "
                            "data-kl=\"%.6g\" x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" "
                            "fill=\"#888888\"><title>best-of-%g from \xcf\x80_ref: reward %s, KL %s (%d run%s)"
                            "</title></rect><text class=\"lab\" x=\"%.1f\" y=\"%.1f\">N=%g</text>",
                         f->beta[i], f->reward[i], f->kl[i], cx - 3.5, cy - 3.5, f->beta[i],
                         rp_num(v1, sizeof v1, f->reward[i]), rp_num(v2, sizeof v2, f->kl[i]),
                         f->samples[i], f->samples[i] == 1 ? "" : "s", cx + 5, cy + 12, f->beta[i]);
        }
    }
    for (int i = 0; i < d->tq.n; i++) {
        const rp_frontier *f = &d->tq;
        double cx = rp_px(&ax, f->kl[i]), cy = rp_py(&ax, f->reward[i]);
        dc_sb_printf(b, "<path data-kind=\"tq-point\" data-alpha=\"%g\" data-reward=\"%.6g\" data-kl=\"%.6g\" "
                        "d=\"M%.1f %.1fl5 5l-5 5l-5 -5z\" fill=\"#555555\"><title>Transfer Q* from \xcf\x80_ref, "
                        "\xce\xb1=%g: reward %s, KL %s (%d run%s)</title></path>"
                        "<text class=\"lab\" x=\"%.1f\" y=\"%.1f\">TQ* \xce\xb1=%g</text>",
                     f->beta[i], f->reward[i], f->kl[i], cx, cy - 5, f->beta[i], rp_num(v1, sizeof v1, f->reward[i]),
                     rp_num(v2, sizeof v2, f->kl[i]), f->samples[i], f->samples[i] == 1 ? "" : "s", cx + 6, cy + 4,
                     f->beta[i]);
    }
    for (int i = 0; i < d->ppo.n; i++) {
        const rp_frontier *f = &d->ppo;
        double cx = rp_px(&ax, f->kl[i]), cy = rp_py(&ax, f->reward[i]);
        dc_sb_printf(b, "<path data-kind=\"ppo-point\" data-kl-coef=\"%g\" data-reward=\"%.6g\" data-kl=\"%.6g\" "
                        "d=\"M%.1f %.1fl6 10h-12z\" fill=\"#2ca02c\"><title>PPO from \xcf\x80_ref, KL "
                        "coefficient %g: reward %s, KL %s (%d run%s)</title></path>"
                        "<text class=\"lab\" x=\"%.1f\" y=\"%.1f\">PPO %g</text>",
                     f->beta[i], f->reward[i], f->kl[i], cx, cy - 6, f->beta[i], rp_num(v1, sizeof v1, f->reward[i]),
                     rp_num(v2, sizeof v2, f->kl[i]), f->samples[i], f->samples[i] == 1 ? "" : "s", cx + 7,
                     cy + 4, f->beta[i]);
    }
    rp_svg_close(b);
    dc_sb_append(b, "<div class=\"legend\">");
    if (d->ppo.n)
        dc_sb_append(b, "<span><i style=\"background:#2ca02c\"></i>PPO from \xcf\x80<sub>ref</sub></span>");
    if (d->tq.n)
        dc_sb_append(b, "<span><i style=\"background:#555555\"></i>Transfer Q* from \xcf\x80<sub>ref</sub></span>");
    if (d->bon.n)
        dc_sb_append(b, "<span><i style=\"background:#888888\"></i>best-of-N from \xcf\x80<sub>ref</sub></span>");
    for (int k = 0; k < d->nfronts; k++) {
        const rp_frontier *f = &d->fronts[k];
        if (f->is_dpo) dc_sb_append(b, "<span><i class=\"dash\"></i>");
        else dc_sb_printf(b, "<span><i style=\"background:%s\"></i>", PALETTE[k % NPALETTE]);
        dc_sb_printf(b, "<a href=\"#c%lld\">#%lld ", (long long)f->cand_id, (long long)f->cand_id);
        rp_esc(b, f->name);
        dc_sb_append(b, "</a></span>");
    }
    dc_sb_append(b, "</div></figure>");
}

/* ------------------------------------------------------------------ training curves */

#define RP_MAX_CURVE_CHARTS 48

void rp_plot_curves(dc_sb *b, const rp_data *d)
{
    dc_sb_append(b, "<figure class=\"wide\" id=\"fig-curves\"><figcaption><b>Training and value-drift curves");
    if (!d->has_focus) {
        dc_sb_append(b, ".</b> No candidate to show: none has a fitness yet (--candidate ID picks "
                        "one).</figcaption></figure>");
        return;
    }
    const arc_candidate *c = &d->focus;
    dc_sb_printf(b, " of <a href=\"#c%lld\">#%lld ", (long long)c->id, (long long)c->id);
    rp_esc(b, c->name);
    dc_sb_append(b, "</a></b> (");
    rp_esc(b, d->focus_note);
    dc_sb_append(b, ").");
    if (c->curves.len == 0) {
        dc_sb_append(b, " It has no recorded curves.</figcaption></figure>");
        return;
    }
    dc_sb_append(b, " Drift magnitude (last \xe2\x88\x92 first) is the red bar at the right end; drift "
                    "time (the first step by which 90% of the final change was covered) the dashed "
                    "line.");
    int shown = c->curves.len < RP_MAX_CURVE_CHARTS ? c->curves.len : RP_MAX_CURVE_CHARTS;
    if (shown < c->curves.len)
        dc_sb_printf(b, " The first %d of %d curves are shown ('discover show %lld' lists all).", shown,
                     c->curves.len, (long long)c->id);
    dc_sb_append(b, "</figcaption><div class=\"grid\">");
    for (int k = 0; k < shown; k++) {
        const dc_curve *cv = &c->curves.items[k];
        double *x = dc_malloc((size_t)(cv->len + 1) * sizeof *x);
        double xl = INFINITY, xh = -INFINITY, yl = INFINITY, yh = -INFINITY;
        for (int i = 0; i < cv->len; i++) {
            x[i] = cv->step[i];
            xl = fmin(xl, x[i]);
            xh = fmax(xh, x[i]);
            if (isfinite(cv->value[i])) {
                yl = fmin(yl, cv->value[i]);
                yh = fmax(yh, cv->value[i]);
            }
        }
        dc_drift dr = dc_curve_drift(cv);
        char mag[32];
        dc_sb_append(b, "<div class=\"cell\"><div class=\"ctitle\">");
        rp_esc(b, cv->metric);
        dc_sb_printf(b, "</div><div class=\"note\">%d points; drift %s", cv->len,
                     rp_num(mag, sizeof mag, dr.magnitude));
        if (dr.drift_time >= 0) dc_sb_printf(b, " by step %d", dr.drift_time);
        dc_sb_append(b, "</div>");
        double py = (yh - yl) * 0.08;
        rp_axes ax = rp_axes_make(300, 190, xl, xh, yl - py, yh + py);
        ax.ml = 50;
        rp_svg_open(b, &ax, cv->metric, "step", "");
        char attrs[128];
        snprintf(attrs, sizeof attrs, "data-kind=\"curve\" data-n=\"%d\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\"",
                 cv->len);
        rp_svg_line(b, &ax, x, cv->value, cv->len, attrs);
        if (dr.drift_time >= 0 && cv->len >= 2) {
            double tx = rp_px(&ax, dr.drift_time);
            dc_sb_printf(b, "<line data-kind=\"drift-time\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                            "stroke=\"#555\" stroke-dasharray=\"4 3\"/>",
                         tx, ax.mt, tx, ax.h - ax.mb);
        }
        if (cv->len >= 2 && isfinite(dr.magnitude)) {
            double first = cv->value[0], last = cv->value[cv->len - 1];
            double rx = rp_px(&ax, x[cv->len - 1]) - 2;
            dc_sb_printf(b, "<line data-kind=\"drift-magnitude\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                            "stroke=\"#d62728\" stroke-width=\"3\"><title>drift %s</title></line>",
                         rx, rp_py(&ax, first), rx, rp_py(&ax, last), mag);
        }
        rp_svg_close(b);
        dc_sb_append(b, "</div>");
        free(x);
    }
    dc_sb_append(b, "</div></figure>");
}

/* ------------------------------------------------------------------ value-drift overlay */

#define RP_DRIFT_LINES 8

/* The curve of def in cv among the curves named PREFIX + name ("" or "seed3/"); a pattern
 * with {} takes the first β found, whose text goes to param. NULL when absent. */
static const dc_curve *phase_curve(const dc_curves *cv, const dc_curve_def *def, const char *prefix,
                                   char *param, size_t cap)
{
    size_t pl = strlen(prefix);
    for (int i = 0; i < cv->len; i++) {
        const char *name = cv->items[i].metric;
        if (!strncmp(name, prefix, pl) && dc_metric_match(def->pattern, name + pl, NULL, param, cap))
            return &cv->items[i];
    }
    return NULL;
}

/* The seed prefix under which cv holds curves of the schema: "" for a one-seed run, else the
 * first "seedN/" (dc_task_eval_seeds names multi-seed curves so). 0 found, -1 none. */
static int seed_prefix(const dc_curves *cv, const dc_curve_def *schema, char *prefix, size_t cap)
{
    char p[64];
    for (const dc_curve_def *c = schema; c->pattern; c++)
        if (phase_curve(cv, c, "", p, sizeof p)) {
            prefix[0] = '\0';
            return 0;
        }
    for (int i = 0; i < cv->len; i++) {
        const char *name = cv->items[i].metric, *slash = strchr(name, '/');
        int seed, used = 0;
        if (!slash || sscanf(name, "seed%d/%n", &seed, &used) != 1 || used != slash - name + 1)
            continue;
        for (const dc_curve_def *c = schema; c->pattern; c++)
            if (dc_metric_match(c->pattern, slash + 1, NULL, p, sizeof p)) {
                dc_fmt(prefix, cap, "%.*s", used, name);
                return 0;
            }
    }
    return -1;
}

typedef struct {
    const dc_curve *cv;
    char label[128];
    const char *color, *dash, *phase;
    int sft; /* drawn over [0, 1], the others over [1, 2] */
} drift_line;

void rp_plot_drift(dc_sb *b, const rp_data *d)
{
    if (!d->drift_curves || !d->has_focus) return;
    char fp[32], dp[32] = "";
    if (seed_prefix(&d->focus.curves, d->drift_curves, fp, sizeof fp) != 0) return;
    // DPO's run at the same seed when it has one, else its first
    const dc_curves *dcv = d->has_dpo ? &d->dpo.curves : NULL;
    if (dcv) {
        int same = 0;
        for (int i = 0; i < dcv->len && fp[0] && !same; i++)
            same = !strncmp(dcv->items[i].metric, fp, strlen(fp));
        if (same) dc_fmt(dp, sizeof dp, "%s", fp);
        else if (seed_prefix(dcv, d->drift_curves, dp, sizeof dp) != 0) dcv = NULL;
    }
    dc_sb_append(b, "<figure class=\"wide\" id=\"fig-drift\"><figcaption><b>Value drift");
    if (fp[0]) dc_sb_printf(b, " (%.*s)", (int)strlen(fp) - 1, fp);
    dc_sb_append(b, ".</b> Each measure through SFT (0 to 1) and then, from the same "
                    "\xcf\x80<sub>ref</sub>, through each method (1 to 2), every phase's steps scaled to "
                    "its length; the legend gives each phase's drift (last \xe2\x88\x92 first) and the "
                    "step by which 90% of it was reached.</figcaption><div class=\"row\">");
    const char *done[16];
    int ndone = 0;
    for (const dc_curve_def *m = d->drift_curves; m->pattern && ndone < 16; m++) {
        int seen = 0;
        for (int i = 0; i < ndone; i++) seen |= !strcmp(done[i], m->measure);
        if (seen) continue;
        done[ndone++] = m->measure;
        drift_line lines[RP_DRIFT_LINES];
        int nl = 0;
        for (const dc_curve_def *c = d->drift_curves; c->pattern && nl < RP_DRIFT_LINES - 1; c++) {
            if (strcmp(c->measure, m->measure) != 0) continue;
            char param[64] = "";
            drift_line *l = &lines[nl];
            memset(l, 0, sizeof *l);
            l->phase = c->phase;
            if (!strcmp(c->phase, "trained")) {
                // the candidate's own objective, and DPO's when the candidate is not DPO
                if ((l->cv = phase_curve(&d->focus.curves, c, fp, param, sizeof param))) {
                    dc_fmt(l->label, sizeof l->label, "#%lld %s (\xce\xb2 %s)", (long long)d->focus.id,
                           d->focus.name ? d->focus.name : "", param);
                    l->color = d->focus_is_dpo ? "#000000" : "#1f77b4";
                    l->dash = d->focus_is_dpo ? "6 4" : NULL;
                    nl++;
                }
                if (dcv && nl < RP_DRIFT_LINES - 1 && (lines[nl].cv = phase_curve(dcv, c, dp, param, sizeof param))) {
                    l = &lines[nl++];
                    l->phase = c->phase;
                    dc_fmt(l->label, sizeof l->label, "#%lld DPO (\xce\xb2 %s)", (long long)d->dpo.id, param);
                    l->color = "#000000";
                    l->dash = "6 4";
                    l->sft = 0;
                }
                continue;
            }
            l->cv = phase_curve(&d->focus.curves, c, fp, param, sizeof param);
            if (!l->cv && dcv) l->cv = phase_curve(dcv, c, dp, param, sizeof param);
            if (!l->cv) continue;
            l->sft = !strcmp(c->phase, "sft");
            dc_fmt(l->label, sizeof l->label, "%s", c->label ? c->label : c->phase);
            l->color = l->sft ? "#7f7f7f" : "#2ca02c";
            nl++;
        }
        if (nl == 0) continue;
        double yl = INFINITY, yh = -INFINITY;
        for (int k = 0; k < nl; k++)
            for (int i = 0; i < lines[k].cv->len; i++)
                if (isfinite(lines[k].cv->value[i])) {
                    yl = fmin(yl, lines[k].cv->value[i]);
                    yh = fmax(yh, lines[k].cv->value[i]);
                }
        double py = (yh - yl) * 0.08;
        rp_axes ax = rp_axes_make(420, 260, 0, 2, yl - py, yh + py);
        dc_sb_append(b, "<div class=\"cell\">");
        rp_svg_open(b, &ax, m->measure, "SFT \xe2\x86\x92 method (fraction of each phase)", m->measure);
        dc_sb_printf(b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#bbb\"/>", rp_px(&ax, 1), ax.mt,
                     rp_px(&ax, 1), ax.h - ax.mb);
        for (int k = 0; k < nl; k++) {
            const dc_curve *cv = lines[k].cv;
            double *x = dc_malloc((size_t)(cv->len + 1) * sizeof *x);
            double last = cv->len > 0 && cv->step[cv->len - 1] > 0 ? cv->step[cv->len - 1] : 1;
            for (int i = 0; i < cv->len; i++) x[i] = (lines[k].sft ? 0.0 : 1.0) + cv->step[i] / last;
            char attrs[200];
            snprintf(attrs, sizeof attrs,
                     "data-kind=\"drift-line\" data-phase=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s%s%s",
                     lines[k].phase, lines[k].color, lines[k].dash ? " stroke-dasharray=\"" : "",
                     lines[k].dash ? lines[k].dash : "", lines[k].dash ? "\"" : "");
            rp_svg_line(b, &ax, x, cv->value, cv->len, attrs);
            free(x);
        }
        rp_svg_close(b);
        dc_sb_append(b, "<div class=\"legend\">");
        for (int k = 0; k < nl; k++) {
            dc_drift dr = dc_curve_drift(lines[k].cv);
            char mag[32];
            if (lines[k].dash) dc_sb_append(b, "<span><i class=\"dash\"></i>");
            else dc_sb_printf(b, "<span><i style=\"background:%s\"></i>", lines[k].color);
            rp_esc(b, lines[k].label);
            dc_sb_printf(b, " <span data-kind=\"drift-legend\" data-phase=\"%s\" data-drift=\"%.6g\">drift %s",
                         lines[k].phase, dr.magnitude, rp_num(mag, sizeof mag, dr.magnitude));
            if (dr.drift_time >= 0) dc_sb_printf(b, " by step %d", dr.drift_time);
            dc_sb_append(b, "</span></span>");
        }
        dc_sb_append(b, "</div></div>");
    }
    dc_sb_append(b, "</div></figure>");
}

/* ------------------------------------------------------------------ LLM usage */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int call_failed(const arc_llm_call *c)
{
    return (c->error && c->error[0]) || c->http_status < 200 || c->http_status >= 300;
}

void rp_plot_llm(dc_sb *b, const rp_data *d)
{
    dc_sb_append(b, "<figure class=\"wide\" id=\"fig-llm\"><figcaption><b>LLM calls.</b> ");
    if (d->ncalls == 0) {
        if (!strncmp(d->camp.proposer, "llm", 3))
            dc_sb_append(b, "No LLM calls recorded for this campaign.</figcaption></figure>");
        else
            dc_sb_append(b, "No LLM calls (offline proposer).</figcaption></figure>");
        return;
    }
    int n = d->ncalls, failed = 0;
    long long tin = 0, tout = 0;
    double cost = 0, *lat = dc_malloc((size_t)n * sizeof *lat);
    for (int i = 0; i < n; i++) {
        const arc_llm_call *c = &d->calls[i];
        failed += call_failed(c);
        tin += c->tokens_in;
        tout += c->tokens_out;
        cost += isfinite(c->cost) ? c->cost : 0;
        lat[i] = c->latency_s;
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    double mean = 0;
    for (int i = 0; i < n; i++) mean += lat[i];
    mean /= n;
    char v1[32], v2[32], v3[32];
    dc_sb_printf(b, "Tokens per call (in: blue, out: orange; failed calls red), latency per call and "
                    "cumulative cost over the campaign.</figcaption>"
                    "<table class=\"totals\"><tr><th>calls</th><th>failed</th><th>tokens in</th>"
                    "<th>tokens out</th><th>cost</th><th>latency mean</th><th>median</th><th>max</th></tr>"
                    "<tr><td>%d</td><td>%d</td><td>%lld</td><td>%lld</td><td>%.4g</td><td>%s s</td>"
                    "<td>%s s</td><td>%s s</td></tr></table><div class=\"row\">",
                 n, failed, tin, tout, cost, rp_num(v1, sizeof v1, mean), rp_num(v2, sizeof v2, lat[n / 2]),
                 rp_num(v3, sizeof v3, lat[n - 1]));
    free(lat);
    /* Tokens: one stacked bar per call, or per bucket of calls (mean per call) when there
     * are too many for bars a pixel wide. */
    const int max_bars = 300;
    int per = (n + max_bars - 1) / max_bars, nb = (n + per - 1) / per;
    double tmax = 1;
    for (int k = 0; k < nb; k++) {
        double s = 0;
        int cnt = 0;
        for (int i = k * per; i < n && i < (k + 1) * per; i++, cnt++)
            s += d->calls[i].tokens_in + d->calls[i].tokens_out;
        tmax = fmax(tmax, s / cnt);
    }
    /* x is the call number (1-based at the bar's left edge), whatever the bucketing. */
    rp_axes ax = rp_axes_make(300, 210, 0, n, 0, tmax * 1.05);
    ax.ml = 54;
    ax.x_integer = 1;
    char xl[64];
    if (per > 1) snprintf(xl, sizeof xl, "call (bars: mean of %d calls)", per);
    else snprintf(xl, sizeof xl, "call");
    rp_svg_open(b, &ax, "tokens per call", xl, "tokens");
    double bw = (rp_px(&ax, per) - rp_px(&ax, 0)) * 0.85;
    for (int k = 0; k < nb; k++) {
        double sin = 0, sout = 0;
        int cnt = 0, bad = 0;
        for (int i = k * per; i < n && i < (k + 1) * per; i++, cnt++) {
            sin += d->calls[i].tokens_in;
            sout += d->calls[i].tokens_out;
            bad += call_failed(&d->calls[i]);
        }
        sin /= cnt;
        sout /= cnt;
        double x = rp_px(&ax, k * per), y0 = rp_py(&ax, 0), yi = rp_py(&ax, sin), yo = rp_py(&ax, sin + sout);
        dc_sb_printf(b, "<g data-kind=\"llm-call\" data-calls=\"%d\"><title>%s%d: %.0f in, %.0f out%s</title>"
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\"/>"
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"#ff7f0e\"/></g>",
                     cnt, per > 1 ? "calls from " : "call ", k * per + 1, sin, sout,
                     bad ? " (failed)" : "", x, yi, bw, y0 - yi, bad ? "#d62728" : "#1f77b4", x, yo, bw, yi - yo);
    }
    rp_svg_close(b);
    /* Latency per call. */
    double lmax = 0;
    for (int i = 0; i < n; i++) lmax = fmax(lmax, d->calls[i].latency_s);
    ax = rp_axes_make(300, 210, 0, n + 1, 0, lmax * 1.08 + 1e-3);
    ax.x_integer = 1;
    rp_svg_open(b, &ax, "latency per call", "call", "seconds");
    int step = (n + RP_MAX_SCATTER - 1) / RP_MAX_SCATTER;
    for (int i = 0; i < n; i += step)
        dc_sb_printf(b, "<circle data-kind=\"llm-latency\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>",
                     rp_px(&ax, i + 1), rp_py(&ax, d->calls[i].latency_s),
                     call_failed(&d->calls[i]) ? "#d62728" : "#1f77b4");
    rp_svg_close(b);
    /* Cumulative cost. */
    double *cx = dc_malloc((size_t)n * 2 * sizeof *cx), *cy = cx + n, run = 0;
    for (int i = 0; i < n; i++) {
        run += isfinite(d->calls[i].cost) ? d->calls[i].cost : 0;
        cx[i] = i + 1;
        cy[i] = run;
    }
    ax = rp_axes_make(300, 210, 0, n + 1, 0, run > 0 ? run * 1.05 : 1);
    ax.x_integer = 1;
    rp_svg_open(b, &ax, "cumulative cost", "call", "cost");
    rp_svg_line(b, &ax, cx, cy, n, "data-kind=\"llm-cost\" fill=\"none\" stroke=\"#2ca02c\" stroke-width=\"2\"");
    rp_svg_close(b);
    free(cx);
    dc_sb_append(b, "</div></figure>");
}
