/* archive_hash.c — the normalised-code hash behind exact de-duplication.
 *
 * Two candidates that differ only in comments and layout are the same candidate. The code
 * is reduced to its tokens' text: comments (outside string and character literals) are
 * dropped, and whitespace is dropped too, except for a single space where removing it
 * would glue two tokens into one: between two word characters ("return x" vs "returnx")
 * and between two operator characters ("a - -b" vs "a--b"). So "x=a+b;" and
 * "x = a + b ;  // sum" hash alike, and any change of a constant or name does not.
 * Literals are kept byte for byte. */
#include "archive.h"

#include "util.h"

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

static void normalise(const char *s, dc_sb *out)
{
    int pending_space = 0; /* whitespace or a comment seen since the last kept character */
    size_t i = 0, n = strlen(s);
    while (i < n) {
        char c = s[i];
        if (c == '/' && i + 1 < n && s[i + 1] == '/') { /* line comment */
            while (i < n && s[i] != '\n')
                i++;
            pending_space = 1;
            continue;
        }
        if (c == '/' && i + 1 < n && s[i + 1] == '*') { /* block comment */
            const char *end = strstr(s + i + 2, "*/");
            i = end ? (size_t)(end - s) + 2 : n;
            pending_space = 1;
            continue;
        }
        if (isspace((unsigned char)c)) {
            i++;
            pending_space = 1;
            continue;
        }
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
