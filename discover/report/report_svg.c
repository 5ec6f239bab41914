/* report_svg.c — the plotting primitives of the report: axes with "nice" ticks, lines that
 * skip missing values, and min/max downsampling so long curves stay small in the page. */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double rp_nice_step(double range, int target)
{
    if (!(range > 0) || !isfinite(range)) return 1.0;
    double raw = range / (target > 0 ? target : 5);
    double mag = pow(10.0, floor(log10(raw)));
    double r = raw / mag;
    double step = r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10;
    return step * mag;
}

/* Widens an empty or non-finite range so it still has an extent to draw. */
static void fix_range(double *lo, double *hi)
{
    if (!isfinite(*lo) || !isfinite(*hi)) {
        *lo = 0;
        *hi = 1;
    }
    if (*hi < *lo) {
        double t = *lo;
        *lo = *hi;
        *hi = t;
    }
    if (*hi - *lo < 1e-12 * (fabs(*lo) + fabs(*hi)) || *hi == *lo) {
        double pad = *lo == 0 ? 1 : fabs(*lo) * 0.1;
        *lo -= pad;
        *hi += pad;
    }
}

rp_axes rp_axes_make(int w, int h, double x0, double x1, double y0, double y1)
{
    rp_axes ax = {x0, x1, y0, y1, w, h, 58, 14, 26, 40, 0};
    fix_range(&ax.x0, &ax.x1);
    fix_range(&ax.y0, &ax.y1);
    return ax;
}

double rp_px(const rp_axes *ax, double x)
{
    return ax->ml + (x - ax->x0) / (ax->x1 - ax->x0) * (ax->w - ax->ml - ax->mr);
}

double rp_py(const rp_axes *ax, double y)
{
    return ax->h - ax->mb - (y - ax->y0) / (ax->y1 - ax->y0) * (ax->h - ax->mt - ax->mb);
}

/* Tick label: few digits, no "-0". */
static void tick_label(char *buf, size_t cap, double v, double step)
{
    if (fabs(v) < step * 1e-6) v = 0;
    if (fabs(v) >= 1e5 || (fabs(v) < 1e-3 && v != 0)) snprintf(buf, cap, "%.2g", v);
    else snprintf(buf, cap, "%.6g", v);
}

void rp_svg_open(dc_sb *b, const rp_axes *ax, const char *title, const char *xlabel,
                 const char *ylabel)
{
    dc_sb_printf(b, "<svg class=\"plot\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"",
                 ax->w, ax->h, ax->w, ax->h);
    rp_esc(b, title);
    dc_sb_append(b, "\">");
    double L = ax->ml, R = ax->w - ax->mr, T = ax->mt, B = ax->h - ax->mb;
    dc_sb_printf(b, "<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", L, T,
                 R - L, B - T);
    double sx = rp_nice_step(ax->x1 - ax->x0, (ax->w - ax->ml - ax->mr) / 90 + 1);
    double sy = rp_nice_step(ax->y1 - ax->y0, (ax->h - ax->mt - ax->mb) / 45 + 1);
    if (ax->x_integer && sx < 1) sx = 1;
    char lab[32];
    for (double v = ceil(ax->x0 / sx) * sx; v <= ax->x1 + sx * 1e-9; v += sx) {
        double px = rp_px(ax, v);
        tick_label(lab, sizeof lab, v, sx);
        dc_sb_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                        "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                     px, T, px, B, px, B + 14, lab);
    }
    for (double v = ceil(ax->y0 / sy) * sy; v <= ax->y1 + sy * 1e-9; v += sy) {
        double py = rp_py(ax, v);
        tick_label(lab, sizeof lab, v, sy);
        dc_sb_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                        "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>",
                     L, py, R, py, L - 4, py + 4, lab);
    }
    dc_sb_printf(b, "<text class=\"axis\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", (L + R) / 2,
                 ax->h - 6);
    rp_esc(b, xlabel);
    dc_sb_printf(b, "</text><text class=\"axis\" transform=\"translate(13,%.1f) rotate(-90)\" "
                    "text-anchor=\"middle\">",
                 (T + B) / 2);
    rp_esc(b, ylabel);
    dc_sb_append(b, "</text>");
    /* The data layer is clipped to the frame (a diverging loss must not paint over the
     * labels); clip ids only need to be unique within the page. */
    static int clip_id;
    clip_id++;
    dc_sb_printf(b, "<clipPath id=\"clip%d\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                    "height=\"%.1f\"/></clipPath><g class=\"data\" clip-path=\"url(#clip%d)\">",
                 clip_id, L - 6, T - 6, R - L + 12, B - T + 12, clip_id);
}

void rp_svg_close(dc_sb *b) { dc_sb_append(b, "</g></svg>"); }

int rp_downsample(const double *y, int n, int max_out, int *keep)
{
    if (n <= max_out || max_out < 4) {
        int m = n < max_out || max_out < 4 ? n : max_out;
        for (int i = 0; i < m; i++) keep[i] = i;
        return m;
    }
    /* First and last always; in between, buckets each contribute their min and max in
     * index order, so the shape (and every spike) survives. */
    int buckets = (max_out - 2) / 2, m = 0;
    keep[m++] = 0;
    for (int k = 0; k < buckets; k++) {
        int s = 1 + (int)((long long)k * (n - 2) / buckets);
        int e = 1 + (int)((long long)(k + 1) * (n - 2) / buckets);
        int lo = -1, hi = -1;
        for (int i = s; i < e; i++) {
            if (!isfinite(y[i])) continue;
            if (lo < 0 || y[i] < y[lo]) lo = i;
            if (hi < 0 || y[i] > y[hi]) hi = i;
        }
        if (lo < 0) { /* an all-missing bucket keeps one missing point: the gap stays */
            if (s < e) keep[m++] = s;
            continue;
        }
        if (lo == hi) keep[m++] = lo;
        else {
            keep[m++] = lo < hi ? lo : hi;
            keep[m++] = lo < hi ? hi : lo;
        }
    }
    keep[m++] = n - 1;
    return m;
}

void rp_svg_line(dc_sb *b, const rp_axes *ax, const double *x, const double *y, int n,
                 const char *attrs)
{
    int *keep = dc_malloc((size_t)(n > 0 ? n : 1) * sizeof *keep);
    int m = rp_downsample(y, n, RP_MAX_LINE, keep);
    dc_sb_printf(b, "<path %s d=\"", attrs ? attrs : "");
    int pen = 0;
    for (int j = 0; j < m; j++) {
        int i = keep[j];
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            pen = 0;
            continue;
        }
        /* Clamp far-off values to just outside the frame: a huge loss must not make the
         * path coordinates meaningless, and the clip box hides the excess. */
        double py = rp_py(ax, y[i]);
        if (py < -1000) py = -1000;
        if (py > ax->h + 1000) py = ax->h + 1000;
        dc_sb_printf(b, "%c%.1f %.1f", pen ? 'L' : 'M', rp_px(ax, x[i]), py);
        pen = 1;
    }
    dc_sb_append(b, "\"/>");
    free(keep);
}
