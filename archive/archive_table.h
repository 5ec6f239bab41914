/* archive_table.h — the tabular view used by the listing commands (ls, campaigns).
 *
 * Two renderings of the same rows: an aligned table for people (terminal), and
 * tab-separated values with one header line for scripts (pipes: cut, awk, sort). Cells are
 * cleaned either way: control characters (tabs, newlines, escapes from LLM-written names)
 * become spaces, so a row is always one line. In the aligned form, columns with a width
 * limit are cut with an ellipsis; TSV keeps every cell whole. */
#ifndef DC_ARCHIVE_TABLE_H
#define DC_ARCHIVE_TABLE_H

#include <stdio.h>

typedef struct {
    int ncols;
    const char **headers;
    const int *max_width; /* per column; 0 = no limit (aligned form only) */
    const int *right;     /* per column: 1 = right-aligned (numbers) */
    int nrows, cap;
    char **cells; /* nrows * ncols, owned */
} arc_table;

void arc_table_init(arc_table *t, int ncols, const char **headers, const int *max_width,
                    const int *right);
/* Appends a row of ncols cells (copied; NULL prints as ""). */
void arc_table_add(arc_table *t, const char *const *cells);
/* aligned = 1: padded columns separated by two spaces; 0: tab-separated. */
void arc_table_print(const arc_table *t, FILE *f, int aligned);
void arc_table_free(arc_table *t);

/* Display width of UTF-8 text (code points; every one counted as one column). */
int arc_text_width(const char *s);

#endif
