/* archive_hash.c — the normalised-code hash behind exact de-duplication.
 *
 * Two candidates that differ only in comments and layout are the same candidate. The code
 * is reduced to its tokens' text: comments (outside string and character literals) are
 * dropped, and whitespace is dropped too, except for a single space where removing it
 * would glue two tokens into one: between two word characters ("return x" vs "returnx")
 * and between two operator characters ("a - -b" vs "a--b"). So "x=a+b;" and
 * "x = a + b ;  // sum" hash alike, and any change of a constant or name does not.
 * Literals are kept byte for byte.
 *
 * Line breaks are layout everywhere except at the end of a preprocessor directive (a line
 * whose first non-blank character is '#'), where the newline is what ends the directive:
 * "#define T 1" followed by "int x = T;" on the next line is not the same program as both
 * on one line (T would expand to "1 int x = T;"), so that newline is kept as one '\n'.
 * A backslash-newline is a line splice (C's translation phase 2): it joins lines, inside a
 * directive or a // comment too, and leaves nothing behind, exactly as the compiler sees it. */
#include "archive.h"

#include "common/util.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int is_word(int c)
{
    return isalnum(c) || c == '_' || c >= 0x80;
}
static int is_op(int c)
{
    return c && strchr("+-*/%<>=!&|^~?:.#", c) != NULL;
}

/* A space is needed between prev and next only when dropping it would merge tokens. */
static int needs_space(int prev, int next)
{
    return (is_word(prev) && is_word(next)) || (is_op(prev) && is_op(next));
}

/* Length of a line splice (backslash, then "\n" or "\r\n") at s[i], else 0. */
static size_t splice_len(const char *s, size_t i, size_t n)
{
    if (s[i] != '\\') return 0;
    if (i + 1 < n && s[i + 1] == '\n') return 2;
    if (i + 2 < n && s[i + 1] == '\r' && s[i + 2] == '\n') return 3;
    return 0;
}

static void normalise(const char *s, dc_sb *out)
{
    int pending_space = 0; /* whitespace or a comment seen since the last kept character */
    int line_start = 1;    /* nothing but whitespace and comments so far on this line */
    int directive = 0;     /* inside a preprocessor directive line */
    size_t i = 0, n = strlen(s);
    while (i < n) {
        char c = s[i];
        size_t sp = splice_len(s, i, n);
        if (sp) { /* joins the lines: no whitespace, the line (and any directive) goes on */
            i += sp;
            continue;
        }
        if (c == '/' && i + 1 < n && s[i + 1] == '/') { /* line comment, up to the newline */
            while (i < n && s[i] != '\n') {
                size_t k = splice_len(s, i, n); /* a spliced newline does not end it */
                i += k ? k : 1;
            }
            pending_space = 1;
            continue;
        }
        if (c == '/' && i + 1 < n && s[i + 1] == '*') { /* block comment: one space, even
                                                         * across lines (a directive goes on) */
            const char *end = strstr(s + i + 2, "*/");
            i = end ? (size_t)(end - s) + 2 : n;
            pending_space = 1;
            continue;
        }
        if (c == '\n') {
            if (directive) { /* the newline that ends a directive is part of the program */
                dc_sb_append(out, "\n");
                directive = 0;
                pending_space = 0;
            } else {
                pending_space = 1;
            }
            line_start = 1;
            i++;
            continue;
        }
        if (isspace((unsigned char)c)) {
            i++;
            pending_space = 1;
            continue;
        }
        if (c == '#' && line_start) directive = 1;
        line_start = 0;
        if (pending_space && out->len > 0 &&
            needs_space((unsigned char)out->data[out->len - 1], (unsigned char)c))
            dc_sb_append(out, " ");
        pending_space = 0;
        if (c == '"' || c == '\'') { /* literal: copy verbatim up to the closing quote */
            size_t j = i + 1;
            while (j < n && s[j] != c && s[j] != '\n')
                j += (s[j] == '\\' && j + 1 < n) ? 2 : 1;
            if (j < n && s[j] == c) j++;
            dc_sb_appendn(out, s + i, j - i);
            i = j;
            continue;
        }
        dc_sb_appendn(out, &c, 1);
        i++;
    }
}

void archive_code_hash(const char *code, char *out, size_t cap)
{
    dc_sb b = {0};
    normalise(code ? code : "", &b);
    uint64_t h = dc_hash64(b.data ? b.data : "", b.len, 0);
    dc_sb_free(&b);
    snprintf(out, cap, "%016" PRIx64, h);
}
