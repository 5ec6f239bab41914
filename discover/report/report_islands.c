/* report_islands.c — fitness over generations per island (run --islands K > 1).
 *
 * One best-so-far step line per island, so the sub-populations can be compared and a
 * migration that lifts an island shows as a step right after a multiple of M. Campaigns with
 * one island get no figure: the fitness plot above is that island. */
#include "report.h"

#include "common/util.h"

#include <math.h>
#include <stdlib.h>

static const char *ISLAND_COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                      "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
#define NCOLORS ((int)(sizeof ISLAND_COLORS / sizeof *ISLAND_COLORS))

void rp_plot_islands(dc_sb *b, const rp_data *d)
{
    int nislands = 0, gmax = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < d->ncands; i++) {
        const arc_candidate *c = &d->cands[i];
        if (c->island + 1 > nislands) nislands = c->island + 1;
        if (c->generation > gmax) gmax = c->generation;
        if (c->has_fitness && isfinite(c->fitness)) {
            lo = fmin(lo, c->fitness);
            hi = fmax(hi, c->fitness);
        }
    }
    if (nislands < 2 || !isfinite(lo)) return;
    double pad = (hi - lo) > 0 ? (hi - lo) * 0.06 : fmax(fabs(hi) * 0.05, 0.05);
    rp_axes ax = rp_axes_make(900, 300, -0.6, gmax + 0.6, lo - pad, hi + pad);
    ax.x_integer = 1;
    dc_sb_printf(b, "<figure class=\"wide\" id=\"fig-islands\"><figcaption><b>Fitness over "
                    "generations per island.</b> The best fitness so far of each of the %d "
                    "islands (the seed baselines, generation 0, belong to all of them).",
                 nislands);
    dc_sb_append(b, "</figcaption>");
    rp_svg_open(b, &ax, "fitness over generations per island", "generation",
                "fitness (validation)");
    /* Two points per generation (a step line), island by island. */
    double *x = dc_malloc((size_t)(gmax + 1) * 4 * sizeof *x), *y = x + 2 * (gmax + 1);
    for (int isl = 0; isl < nislands; isl++) {
        double best = -INFINITY;
        int m = 0;
        for (int g = 0; g <= gmax; g++) {
            for (int i = 0; i < d->ncands; i++) {
                const arc_candidate *c = &d->cands[i];
                if (c->generation != g || (g > 0 && c->island != isl)) continue;
                if (c->has_fitness && isfinite(c->fitness) && c->fitness > best) best = c->fitness;
            }
            double v = isfinite(best) ? best : NAN;
            x[m] = g - 0.5;
            y[m++] = v;
            x[m] = g + 0.5;
            y[m++] = v;
        }
        char attrs[160];
        dc_fmt(attrs, sizeof attrs,
               "data-kind=\"island-line\" data-island=\"%d\" fill=\"none\" stroke=\"%s\" "
               "stroke-width=\"2\"",
               isl, ISLAND_COLORS[isl % NCOLORS]);
        rp_svg_line(b, &ax, x, y, m, attrs);
    }
    free(x);
    rp_svg_close(b);
    dc_sb_append(b, "<div class=\"legend\">");
    for (int isl = 0; isl < nislands; isl++)
        dc_sb_printf(b, "<span><i style=\"background:%s\"></i>island %d</span>",
                     ISLAND_COLORS[isl % NCOLORS], isl);
    dc_sb_append(b, "</div></figure>");
}
