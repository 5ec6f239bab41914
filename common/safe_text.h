/* safe_text.h — text that came from a candidate or an LLM (names, thoughts, code, compiler
 * messages, #error and #line text), made harmless before it reaches a terminal, a log or a
 * JSON document.
 *
 * Such text may hold escape sequences that set the window title, clear the screen, move
 * the cursor to print a fake verdict over the real one, or write the clipboard (OSC 52),
 * and bidirectional overrides that make text display in another order than it reads. The
 * HTML report escapes for HTML; everything printed goes through dc_safe_text. */
#ifndef DC_SAFE_TEXT_H
#define DC_SAFE_TEXT_H

#include "util.h"

#include <stdio.h>

enum {
    DC_SAFE_LINE = 0,  /* one line: newlines and tabs are escaped too */
    DC_SAFE_BLOCK = 1, /* a listing (code, a thought): newlines and tabs are kept */
};

/* Appends s to b with every character that can act on a terminal written as a visible
 * escape: C0 controls as \n, \r, \t or \xHH (ESC is \x1b), DEL as \x7f; the C1 controls,
 * the bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F,
 * U+202A..U+202E, U+2066..U+2069) and the line and paragraph separators (U+2028, U+2029)
 * as \uHHHH; a byte that is not part of valid UTF-8 as \xHH. Everything else (printable
 * ASCII, valid UTF-8 text in any script) is copied unchanged. NULL appends "(null)". */
void dc_sb_append_safe(dc_sb *b, const char *s, int mode);

/* The same as a new string (free it). */
char *dc_safe_text(const char *s, int mode);

/* Escaped copies that live until dc_safe_free, so that one printf can take several:
 *   dc_safe_pool p = {0};
 *   printf("%s: %s\n", dc_safe(&p, name, DC_SAFE_LINE), dc_safe(&p, msg, DC_SAFE_LINE));
 *   dc_safe_free(&p); */
typedef struct {
    char **items;
    int n, cap;
} dc_safe_pool;
const char *dc_safe(dc_safe_pool *p, const char *s, int mode);
void dc_safe_free(dc_safe_pool *p);

/* Writes s to f escaped (fputs of dc_safe_text). */
void dc_safe_fputs(const char *s, int mode, FILE *f);

/* JSON text (as cJSON prints it) made valid UTF-8 and safe to print: each byte that is not
 * part of valid UTF-8 becomes \ufffd (the replacement character), and DEL, the C1 controls
 * and the characters listed above become \u escapes. Only strings can hold such bytes in
 * printed JSON, and a \u escape is valid there, so the document keeps its meaning. Returns
 * a new string (free it). */
char *dc_json_safe(const char *json);

/* 1 when s is valid UTF-8 (no overlong forms, no surrogates, nothing past U+10FFFF). */
int dc_utf8_valid(const char *s);

#endif
