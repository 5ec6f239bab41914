/* report_timeline.c — the evaluator timeline: where the campaign's wall time went.
 *
 * One row per evaluator (run --jobs N; with --jobs 1 the campaign process is evaluator 0)
 * with a bar per candidate, from when it was handed to its evaluator
 * (candidates.eval_started_at) to its result (that + seconds), coloured by status; one row
 * for the LLM calls (created_at is archived right after the reply, so a call ran from
 * created_at - latency_s to created_at). A gap in a row is time that evaluator, or the
 * proposer, sat idle. Campaigns archived before these times were recorded get a one-line
 * note instead. */
#include "report.h"

#include "common/util.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TL_W 900
#define TL_ROW 24 /* px per row; bars are TL_BAR high */
#define TL_BAR 18
#define TL_LLM_COLOR "#1f4f8f"
#define TL_LLM_FAILED "#e7969c" /* light red: no status has it */

typedef struct {
    double t0, t1; /* seconds since the epoch */
} span;

/* The campaign's --jobs as archived with it (0 when not found). */
static int archived_jobs(const rp_data *d)
{
    cJSON *conf = cJSON_Parse(d->camp.config_json ? d->camp.config_json : "{}");
    int jobs = 0;
    const cJSON *pair;
    cJSON_ArrayForEach(pair, cJSON_GetObjectItemCaseSensitive(conf, "settings"))
    {
        const cJSON *k = cJSON_GetArrayItem(pair, 0), *v = cJSON_GetArrayItem(pair, 1);
        if (cJSON_IsString(k) && cJSON_IsString(v) && !strcmp(k->valuestring, "jobs"))
            jobs = atoi(v->valuestring);
    }
    cJSON_Delete(conf);
    return jobs > 0 && jobs <= 4096 ? jobs : 0;
}

/* When candidate c was evaluated; 0, or -1 when that was not recorded. */
static int cand_span(const arc_candidate *c, span *s)
{
    if (c->evaluator < 0 || dc_utc_parse(c->eval_started_at, &s->t0) != 0) return -1;
    s->t1 = s->t0 + (isfinite(c->seconds) && c->seconds > 0 ? c->seconds : 0);
    return 0;
}

/* 1 for a candidate drawn on the timeline (an evaluator ran it, its start is known). */
static int has_span(const arc_candidate *c)
{
    span s;
    return cand_span(c, &s) == 0;
}

static int call_span(const arc_llm_call *c, span *s)
{
    if (dc_utc_parse(c->created_at, &s->t1) != 0) return -1;
    s->t0 = s->t1 - (isfinite(c->latency_s) && c->latency_s > 0 ? c->latency_s : 0);
    return 0;
}

static int call_failed(const arc_llm_call *c)
{
    return (c->error && c->error[0]) || c->http_status < 200 || c->http_status >= 300;
}

/* One bar: x from a to b seconds after the origin, at least a pixel wide so that a
 * sub-pixel evaluation (a duplicate) still shows. */
static void bar(dc_sb *b, const rp_axes *ax, double unit, int row, double a, double e)
{
    double x0 = rp_px(ax, a / unit), w = rp_px(ax, e / unit) - x0;
    /* a pixel of white between bars that touch (one evaluation right after another) */
    w = w > 2 ? w - 1 : w < 1 ? 1 : w;
    dc_sb_printf(b, " data-start=\"%.6f\" data-end=\"%.6f\" x=\"%.2f\" y=\"%d\" width=\"%.2f\" "
                    "height=\"%d\"",
                 a, e, x0, ax->mt + row * TL_ROW + (TL_ROW - TL_BAR) / 2, w, TL_BAR);
}

void rp_plot_timeline(dc_sb *b, const rp_data *d)
{
    dc_sb_append(b, "<figure class=\"wide\" id=\"fig-timeline\"><figcaption><b>Evaluator "
                    "timeline.</b> ");
    /* what was recorded: the rows, the origin and the extent */
    int nev = archived_jobs(d), timed = 0, untimed = 0;
    double origin = INFINITY, end = -INFINITY, camp0;
    for (int i = 0; i < d->ncands; i++) {
        span s;
        if (cand_span(&d->cands[i], &s) != 0) {
            /* a reply that did not parse never reached an evaluator; a pending candidate
             * has its times archived with its result */
            untimed += strcmp(d->cands[i].status, "parse_error") != 0 &&
                       strcmp(d->cands[i].status, "pending") != 0;
            continue;
        }
        timed++;
        if (d->cands[i].evaluator + 1 > nev) nev = d->cands[i].evaluator + 1;
        origin = fmin(origin, s.t0);
        end = fmax(end, s.t1);
    }
    if (timed == 0) {
        dc_sb_append(b, untimed ? "Not available: this campaign was archived before discover "
                                  "recorded which evaluator ran each candidate and when."
                                : "Nothing has been evaluated in this campaign yet.");
        dc_sb_append(b, "</figcaption></figure>");
        return;
    }
    int ncalls = 0;
    for (int i = 0; i < d->ncalls; i++) {
        span s;
        if (call_span(&d->calls[i], &s) != 0) continue;
        ncalls++;
        origin = fmin(origin, s.t0);
        end = fmax(end, s.t1);
    }
    if (dc_utc_parse(d->camp.created_at, &camp0) == 0 && camp0 < origin) origin = camp0;
    int llm_row = ncalls > 0 || !strncmp(d->camp.proposer ? d->camp.proposer : "", "llm", 3);
    int nrows = nev + llm_row;
    double total = end - origin > 0 ? end - origin : 1;
    /* long campaigns read better in minutes or hours */
    double unit = total > 36000 ? 3600 : total > 600 ? 60 : 1;
    const char *xlabel = unit == 3600   ? "hours since the campaign started"
                         : unit == 60 ? "minutes since the campaign started"
                                      : "seconds since the campaign started";

    /* busy share of each row over the campaign's extent */
    double *busy = dc_calloc((size_t)nrows, sizeof *busy);
    for (int i = 0; i < d->ncands; i++) {
        span s;
        if (cand_span(&d->cands[i], &s) == 0) busy[llm_row + d->cands[i].evaluator] += s.t1 - s.t0;
    }
    for (int i = 0; i < d->ncalls && llm_row; i++) {
        span s;
        if (call_span(&d->calls[i], &s) == 0) busy[0] += s.t1 - s.t0;
    }
    dc_sb_append(b, "Wall time since the campaign started. One row per evaluator (with "
                    "<code>--jobs N</code> each is its own process; with <code>--jobs 1</code> "
                    "e0 is the campaign process), one bar per candidate from when it was handed "
                    "to its evaluator to its result, coloured by status");
    if (llm_row) dc_sb_append(b, "; the LLM row has a bar per call, from request to reply");
    dc_sb_append(b, ". Gaps are idle time. Busy:");
    for (int r = 0; r < nrows; r++) {
        double pct = fmin(100.0, 100.0 * busy[r] / total);
        if (llm_row && r == 0) dc_sb_printf(b, " LLM %.0f %%", pct);
        else dc_sb_printf(b, "%s e%d %.0f %%", r > 0 ? "," : "", r - llm_row, pct);
    }
    dc_sb_append(b, ".");
    if (untimed)
        dc_sb_printf(b, " <span class=\"warn\">%d candidate%s without a recorded evaluation time "
                        "(archived by an older discover) %s left out.</span>",
                     untimed, untimed == 1 ? "" : "s", untimed == 1 ? "is" : "are");
    dc_sb_append(b, "</figcaption>");
    free(busy);

    rp_axes ax = rp_axes_make(TL_W, 0, 0, total / unit, 0, nrows);
    ax.mt = 8;
    ax.mb = 40;
    ax.h = ax.mt + nrows * TL_ROW + ax.mb;
    double L = ax.ml, R = ax.w - ax.mr, T = ax.mt, B = ax.h - ax.mb;
    dc_sb_printf(b, "<svg class=\"plot\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" "
                    "aria-label=\"evaluator timeline\"><rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" "
                    "width=\"%.1f\" height=\"%.1f\"/>",
                 ax.w, ax.h, ax.w, ax.h, L, T, R - L, B - T);
    double sx = rp_nice_step(ax.x1 - ax.x0, (ax.w - ax.ml - ax.mr) / 90 + 1);
    for (double v = ceil(ax.x0 / sx) * sx; v <= ax.x1 + sx * 1e-9; v += sx) {
        double px = rp_px(&ax, v);
        dc_sb_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                        "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.6g</text>",
                     px, T, px, B, px, B + 14, fabs(v) < sx * 1e-6 ? 0.0 : v);
    }
    for (int r = 0; r < nrows; r++) {
        double y = T + r * TL_ROW + TL_ROW / 2.0;
        if (r > 0)
            dc_sb_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", L,
                         T + r * TL_ROW, R, T + r * TL_ROW);
        if (llm_row && r == 0)
            dc_sb_printf(b, "<text class=\"tick\" data-kind=\"tl-row\" x=\"%.1f\" y=\"%.1f\" "
                            "text-anchor=\"end\">LLM</text>",
                         L - 4, y + 4);
        else
            dc_sb_printf(b, "<text class=\"tick\" data-kind=\"tl-row\" x=\"%.1f\" y=\"%.1f\" "
                            "text-anchor=\"end\">e%d</text>",
                         L - 4, y + 4, r - llm_row);
    }
    dc_sb_printf(b, "<text class=\"axis\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>",
                 (L + R) / 2, ax.h - 6, xlabel);

    char v[32];
    for (int i = 0; i < d->ncands; i++) {
        const arc_candidate *c = &d->cands[i];
        span s;
        if (cand_span(c, &s) != 0) continue;
        dc_sb_printf(b, "<a href=\"#c%lld\"><rect data-kind=\"tl-bar\" data-id=\"%lld\" "
                        "data-evaluator=\"%d\" data-status=\"",
                     (long long)c->id, (long long)c->id, c->evaluator);
        rp_esc(b, c->status);
        dc_sb_append(b, "\"");
        bar(b, &ax, unit, llm_row + c->evaluator, s.t0 - origin, s.t1 - origin);
        dc_sb_printf(b, " fill=\"%s\"><title>#%lld ", rp_status_color(c->status), (long long)c->id);
        rp_esc(b, c->name);
        dc_sb_printf(b, " (gen %d, e%d, ", c->generation, c->evaluator);
        rp_esc(b, c->status);
        dc_sb_printf(b, "): %s s</title></rect></a>", rp_num(v, sizeof v, s.t1 - s.t0));
    }
    int failed = 0;
    for (int i = 0; i < d->ncalls && llm_row; i++) {
        const arc_llm_call *c = &d->calls[i];
        span s;
        if (call_span(c, &s) != 0) continue;
        int bad = call_failed(c);
        failed += bad;
        dc_sb_printf(b, "<rect data-kind=\"tl-llm\" data-id=\"%lld\" data-failed=\"%d\"",
                     (long long)c->id, bad);
        bar(b, &ax, unit, 0, s.t0 - origin, s.t1 - origin);
        dc_sb_printf(b, " fill=\"%s\"><title>LLM call %lld (gen %d", bad ? TL_LLM_FAILED : TL_LLM_COLOR,
                     (long long)c->id, c->generation);
        if (c->model && c->model[0]) {
            dc_sb_append(b, ", ");
            rp_esc(b, c->model);
        }
        dc_sb_printf(b, "%s): %s s</title></rect>", bad ? ", failed" : "",
                     rp_num(v, sizeof v, s.t1 - s.t0));
    }
    dc_sb_append(b, "</svg>");

    /* legend: the statuses drawn, with counts, and the LLM calls */
    dc_sb_append(b, "<div class=\"legend\">");
    rp_status_legend_items(b, d, has_span);
    if (llm_row) {
        dc_sb_printf(b, "<span><i style=\"background:%s\"></i>LLM call (%d)</span>", TL_LLM_COLOR,
                     ncalls - failed);
        if (failed)
            dc_sb_printf(b, "<span><i style=\"background:%s\"></i>failed LLM call (%d)</span>",
                         TL_LLM_FAILED, failed);
    }
    dc_sb_append(b, "</div></figure>");
}
