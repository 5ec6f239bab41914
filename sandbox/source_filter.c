/* source_filter.c — see source_filter.h. A small C lexer: enough of translation phases
 * 1–3 (line splices, comments, string and character literals) to find every
 * preprocessing directive exactly where the real preprocessor would. False rejections
 * are acceptable (the message says what to change); false acceptances are not. */
#include "source_filter.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t len, i;
    int line;
} cursor;

/* Next character after removing backslash-newline splices (also "\\\r\n"); -1 at end. */
static int next_ch(cursor *c)
{
    for (;;) {
        if (c->i >= c->len) return -1;
        char ch = c->s[c->i];
        if (ch == '\\') {
            size_t j = c->i + 1;
            if (j < c->len && c->s[j] == '\r') j++;
            if (j < c->len && c->s[j] == '\n') {
                c->i = j + 1;
                c->line++;
                continue;
            }
        }
        c->i++;
        if (ch == '\n') c->line++;
        return (unsigned char)ch;
    }
}

static int peek_ch(const cursor *c)
{
    cursor t = *c;
    return next_ch(&t);
}

/* Consumes a block comment whose "/" "*" were already read. */
static void skip_block_comment(cursor *c)
{
    int prev = 0, ch;
    while ((ch = next_ch(c)) != -1) {
        if (prev == '*' && ch == '/') return;
        prev = ch;
    }
}

/* Consumes up to (not including) the next newline. */
static void skip_line_comment(cursor *c)
{
    while (peek_ch(c) != -1 && peek_ch(c) != '\n') next_ch(c);
}

static void skip_literal(cursor *c, int quote)
{
    int ch;
    while ((ch = peek_ch(c)) != -1 && ch != '\n') {
        next_ch(c);
        if (ch == '\\') {
            if (peek_ch(c) != '\n') next_ch(c);
        } else if (ch == quote) {
            return;
        }
    }
}

static int is_ident(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

/* Printable ASCII copy of a directive for messages (the LLM reads them). */
static void snippet(const char *text, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; text[i] && o + 4 < cap; i++) {
        unsigned char ch = (unsigned char)text[i];
        out[o++] = (ch >= 32 && ch < 127) ? (char)ch : '?';
        if (i >= 60) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
    }
    out[o] = '\0';
}

/* Reads the rest of a directive (after '#') with comments replaced by one space, into
 * text. Returns 0 when it fit into textcap, 1 when it was longer (then it is refused). */
static int read_directive(cursor *c, char *text, size_t textcap)
{
    size_t n = 0;
    int too_long = 0, ch;
    while ((ch = peek_ch(c)) != -1 && ch != '\n') {
        next_ch(c);
        if (ch == '/' && peek_ch(c) == '*') {
            next_ch(c);
            skip_block_comment(c);
            ch = ' ';
        } else if (ch == '/' && peek_ch(c) == '/') {
            skip_line_comment(c);
            break;
        }
        if (n + 1 < textcap)
            text[n++] = (char)ch;
        else
            too_long = 1;
    }
    text[n] = '\0';
    return too_long;
}

static const char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' || *s == '\v') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\f' ||
                 s[n - 1] == '\v'))
        s[--n] = '\0';
    return s;
}

/* Directive names that make a preprocessor read another file. */
static int reads_a_file(const char *name, size_t n)
{
    static const char *const names[] = {"include", "include_next", "import", "embed"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i]) == n && memcmp(names[i], name, n) == 0) return 1;
    return 0;
}

static int check_utf8(const char *src, size_t len, char *msg, size_t msgcap)
{
    int line = 1;
    for (size_t i = 0; i < len;) {
        unsigned char b = (unsigned char)src[i];
        if (b == 0) {
            snprintf(msg, msgcap, "line %d: the source contains a NUL byte; submit plain C text",
                     line);
            return -1;
        }
        if (b == '\n') line++;
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned cp;
        if (b >= 0xC2 && b <= 0xDF) {
            need = 1;
            cp = b & 0x1Fu;
        } else if (b >= 0xE0 && b <= 0xEF) {
            need = 2;
            cp = b & 0x0Fu;
        } else if (b >= 0xF0 && b <= 0xF4) {
            need = 3;
            cp = b & 0x07u;
        } else {
            goto bad;
        }
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= len) goto bad;
            unsigned char cb = (unsigned char)src[i + k];
            if ((cb & 0xC0u) != 0x80u) goto bad;
            cp = (cp << 6) | (cb & 0x3Fu);
        }
        /* overlong forms, surrogates and code points past U+10FFFF are not UTF-8 */
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            goto bad;
        i += need + 1;
        continue;
    bad:
        snprintf(msg, msgcap,
                 "line %d: byte 0x%02X is not valid UTF-8; write the source as plain ASCII or UTF-8",
                 line, b);
        return -1;
    }
    return 0;
}

int sbx_filter_source(const char *src, size_t len, char *out, char *msg, size_t msgcap)
{
    if (check_utf8(src, len, msg, msgcap) != 0) return -1;
    memcpy(out, src, len);
    out[len] = '\0';

    cursor c = {src, len, 0, 1};
    int line_start = 1, ch;
    while ((ch = next_ch(&c)) != -1) {
        if (ch == '/' && peek_ch(&c) == '/') {
            skip_line_comment(&c);
            continue;
        }
        if (ch == '/' && peek_ch(&c) == '*') {
            next_ch(&c);
            skip_block_comment(&c);
            continue;
        }
        if (ch == '\n') {
            line_start = 1;
            continue;
        }
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' || ch == '\v') continue;
        int is_hash = ch == '#';
        if (!is_hash && ch == '%' && peek_ch(&c) == ':') { /* the digraph %: is # */
            next_ch(&c);
            is_hash = 1;
        }
        if (line_start && is_hash) {
            size_t start = c.i - (ch == '#' ? 1 : 2);
            int dline = c.line;
            char text[512];
            int too_long = read_directive(&c, text, sizeof text);
            char *p = text;
            while (*p == ' ' || *p == '\t' || *p == '\f' || *p == '\v' || *p == '\r') p++;
            size_t nlen = 0;
            while (is_ident((unsigned char)p[nlen])) nlen++;
            if (reads_a_file(p, nlen)) {
                char name[16];
                snprintf(name, sizeof name, "%.*s", (int)(nlen < 15 ? nlen : 15), p);
                char rest_buf[512];
                snprintf(rest_buf, sizeof rest_buf, "%s", p + nlen);
                const char *rest = trim(rest_buf);
                int ok = !too_long && strcmp(name, "include") == 0 &&
                         (strcmp(rest, "<math.h>") == 0 || strcmp(rest, "\"math.h\"") == 0);
                if (!ok) {
                    char snip[80];
                    snippet(rest, snip, sizeof snip);
                    snprintf(msg, msgcap,
                             "line %d: '#%s %s' is not allowed; the only header available is "
                             "<math.h> (no other files can be included)",
                             dline, name, snip);
                    return -1;
                }
                /* Blank the directive in place, keeping newlines of any splices. */
                for (size_t k = start; k < c.i; k++)
                    if (out[k] != '\n') out[k] = ' ';
            }
            line_start = 0;
            continue;
        }
        line_start = 0;
        if (ch == '"' || ch == '\'') skip_literal(&c, ch);
    }
    return 0;
}
