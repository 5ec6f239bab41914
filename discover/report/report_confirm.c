/* report_confirm.c — the confirmation chart: for each confirmed candidate (discover
 * confirm), its search fitness against its mean confirmed fitness on fresh seeds, with the
 * diagonal where the two agree. Points under the diagonal were luckier in the search than
 * they are on fresh seeds; the winner (best confirmed) is ringed. */
#include "report.h"

#include <math.h>
#include <stdio.h>

void rp_plot_confirm(dc_sb *b, const rp_data *d)
{
    int n = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < d->nconfirmed; i++) {
        const arc_confirmed *c = &d->confirmed[i];
        if (c->n == 0 || !isfinite(c->fitness) || !isfinite(c->search_fitness)) continue;
        n++;
        lo = fmin(lo, fmin(c->fitness, c->search_fitness));
        hi = fmax(hi, fmax(c->fitness, c->search_fitness));
    }
    dc_sb_append(b, "<figure id=\"fig-confirm\"><figcaption><b>Search fitness against confirmed "
                    "fitness.</b> ");
    if (n == 0) {
        dc_sb_append(b, "No candidate of this campaign is confirmed yet: <code>discover confirm "
                        "--campaign ");
        rp_esc(b, d->camp.name);
        dc_sb_append(b, " --top 5</code> re-trains the best on fresh seeds.</figcaption></figure>");
        return;
    }
    char v1[32], v2[32];
    const arc_confirmed *w = &d->confirmed[0]; /* archive_confirmed_list: best confirmed first */
    dc_sb_printf(b,
                 "One point per confirmed candidate (%d): x its fitness on the search's seeds, y "
                 "the mean over its confirmations on fresh seeds. On the dashed diagonal the "
                 "two agree; below it the search was lucky. Ringed: the winner by confirmed "
                 "fitness, #%lld ",
                 n, (long long)w->candidate_id);
    rp_esc(b, w->name);
    dc_sb_printf(b, " (%s over %d seed%s; search %s).</figcaption>", rp_num(v1, sizeof v1, w->fitness),
                 w->n, w->n == 1 ? "" : "s", rp_num(v2, sizeof v2, w->search_fitness));
    double pad = hi > lo ? (hi - lo) * 0.08 : fmax(fabs(hi) * 0.05, 0.05);
    rp_axes ax = rp_axes_make(520, 400, lo - pad, hi + pad, lo - pad, hi + pad);
    rp_svg_open(b, &ax, "search fitness against confirmed fitness", "search fitness",
                "confirmed fitness (mean, fresh seeds)");
    double dx[2] = {lo - pad, hi + pad};
    rp_svg_line(b, &ax, dx, dx, 2, "stroke=\"#999\" stroke-dasharray=\"4 3\" fill=\"none\"");
    for (int i = 0; i < d->nconfirmed; i++) {
        const arc_confirmed *c = &d->confirmed[i];
        if (c->n == 0 || !isfinite(c->fitness) || !isfinite(c->search_fitness)) continue;
        double x = rp_px(&ax, c->search_fitness), y = rp_py(&ax, c->fitness);
        if (i == 0)
            dc_sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"8\" fill=\"none\" "
                            "stroke=\"#d62728\" stroke-width=\"2\"/>",
                         x, y);
        dc_sb_printf(b, "<a href=\"#c%lld\"><circle data-kind=\"confirmed\" data-id=\"%lld\" "
                        "cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#1f77b4\"><title>#%lld ",
                     (long long)c->candidate_id, (long long)c->candidate_id, x, y,
                     (long long)c->candidate_id);
        rp_esc(b, c->name);
        dc_sb_printf(b, ": search %s, confirmed %s over %d seed%s", rp_num(v1, sizeof v1, c->search_fitness),
                     rp_num(v2, sizeof v2, c->fitness), c->n, c->n == 1 ? "" : "s");
        dc_sb_append(b, "</title></circle></a>");
    }
    rp_svg_close(b);
    dc_sb_append(b, "</figure>");
}
