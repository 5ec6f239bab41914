/* archive_table.c — aligned / tab-separated rendering of listings (see archive_table.h). */
#include "archive_table.h"

#include "common/safe_text.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

void arc_table_init(arc_table *t, int ncols, const char **headers, const int *max_width,
                    const int *right)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->headers = headers;
    t->max_width = max_width;
    t->right = right;
}

/* One line, every character that could break rows or drive the terminal (controls, bidi
 * overrides, invalid UTF-8) escaped: names come from the proposer. */
static char *clean(const char *s)
{
    return dc_safe_text(s ? s : "", DC_SAFE_LINE);
}

void arc_table_add(arc_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 32;
        t->cells = dc_realloc(t->cells, (size_t)t->cap * (size_t)t->ncols * sizeof *t->cells);
    }
    for (int j = 0; j < t->ncols; j++)
        t->cells[t->nrows * t->ncols + j] = clean(cells[j]);
    t->nrows++;
}

int arc_text_width(const char *s)
{
    int w = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xc0) != 0x80) w++;
    return w;
}

/* Prefix of s that fits in w columns; when cut, ends in "…" (U+2026). New string. */
static char *fit(const char *s, int w)
{
    if (w <= 0 || arc_text_width(s) <= w) return dc_strdup(s);
    dc_sb b = {0};
    int cols = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = 1;
        while ((p[n] & 0xc0) == 0x80)
            n++; /* whole code point */
        if (cols + 1 > w - 1) break;
        dc_sb_appendn(&b, (const char *)p, n);
        cols++;
        p += n;
    }
    dc_sb_append(&b, "\xe2\x80\xa6");
    return dc_sb_take(&b);
}

static void pad(FILE *f, int n)
{
    for (int i = 0; i < n; i++)
        fputc(' ', f);
}

void arc_table_print(const arc_table *t, FILE *f, int aligned)
{
    if (!aligned) {
        for (int j = 0; j < t->ncols; j++)
            fprintf(f, "%s%s", j ? "\t" : "", t->headers[j]);
        fputc('\n', f);
        for (int i = 0; i < t->nrows; i++) {
            for (int j = 0; j < t->ncols; j++)
                fprintf(f, "%s%s", j ? "\t" : "", t->cells[i * t->ncols + j]);
            fputc('\n', f);
        }
        return;
    }
    int *width = dc_calloc((size_t)t->ncols, sizeof *width);
    char **shown = dc_calloc((size_t)t->nrows * (size_t)t->ncols + 1, sizeof *shown);
    for (int j = 0; j < t->ncols; j++)
        width[j] = arc_text_width(t->headers[j]);
    for (int i = 0; i < t->nrows; i++)
        for (int j = 0; j < t->ncols; j++) {
            char *s = fit(t->cells[i * t->ncols + j], t->max_width ? t->max_width[j] : 0);
            shown[i * t->ncols + j] = s;
            int w = arc_text_width(s);
            if (w > width[j]) width[j] = w;
        }
    for (int i = -1; i < t->nrows; i++) {
        for (int j = 0; j < t->ncols; j++) {
            const char *s = i < 0 ? t->headers[j] : shown[i * t->ncols + j];
            int gap = width[j] - arc_text_width(s);
            int last = j == t->ncols - 1;
            if (j) fputs("  ", f);
            if (t->right && t->right[j]) pad(f, gap);
            fputs(s, f);
            if (!(t->right && t->right[j]) && !last) pad(f, gap);
        }
        fputc('\n', f);
    }
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(shown[i]);
    free(shown);
    free(width);
}

void arc_table_free(arc_table *t)
{
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}
