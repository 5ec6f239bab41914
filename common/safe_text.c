/* safe_text.c — escaping of untrusted text for terminals, logs and JSON (safe_text.h). */
#include "safe_text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Decodes one UTF-8 character at s: its length (1..4) with *cp set, or 0 when the byte at
 * s does not start a valid sequence (overlong forms, surrogates and code points past
 * U+10FFFF are invalid, as the standard says). A NUL byte never continues a sequence. */
static int utf8_next(const unsigned char *s, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, v = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, v = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, v = c & 0x07, min = 0x10000;
    else
        return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

/* Characters above ASCII that act on a terminal or reorder what it shows. */
static int dangerous_unicode(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200e || cp == 0x200f ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 ||
           cp == 0x2029;
}

void dc_sb_append_safe(dc_sb *b, const char *s, int mode)
{
    if (!s) s = "(null)";
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        /* Runs of plain printable ASCII are the common case: copy them in one go. */
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x7f)
            p++;
        if (p > run) dc_sb_appendn(b, (const char *)run, (size_t)(p - run));
        if (!*p) break;
        uint32_t cp;
        int len = utf8_next(p, &cp);
        if (len == 0) {
            dc_sb_printf(b, "\\x%02x", *p++);
        } else if (cp == '\n' || cp == '\t') {
            if (mode == DC_SAFE_BLOCK)
                dc_sb_appendn(b, (const char *)p, 1);
            else
                dc_sb_append(b, cp == '\n' ? "\\n" : "\\t");
            p++;
        } else if (cp == '\r') {
            dc_sb_append(b, "\\r");
            p++;
        } else if (cp < 0x20 || cp == 0x7f) {
            dc_sb_printf(b, "\\x%02x", (unsigned)cp);
            p++;
        } else if (dangerous_unicode(cp)) {
            dc_sb_printf(b, "\\u%04x", (unsigned)cp);
            p += len;
        } else {
            dc_sb_appendn(b, (const char *)p, (size_t)len);
            p += len;
        }
    }
    if (!b->data) dc_sb_append(b, ""); /* "" stays a string, never NULL */
}

char *dc_safe_text(const char *s, int mode)
{
    dc_sb b = {0};
    dc_sb_append_safe(&b, s, mode);
    return dc_sb_take(&b);
}

const char *dc_safe(dc_safe_pool *p, const char *s, int mode)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 8;
        p->items = dc_realloc(p->items, (size_t)p->cap * sizeof *p->items);
    }
    p->items[p->n] = dc_safe_text(s, mode);
    return p->items[p->n++];
}

void dc_safe_free(dc_safe_pool *p)
{
    for (int i = 0; i < p->n; i++)
        free(p->items[i]);
    free(p->items);
    memset(p, 0, sizeof *p);
}

void dc_safe_fputs(const char *s, int mode, FILE *f)
{
    char *t = dc_safe_text(s, mode);
    fputs(t, f);
    free(t);
}

char *dc_json_safe(const char *json)
{
    dc_sb b = {0};
    const unsigned char *p = (const unsigned char *)(json ? json : "");
    while (*p) {
        const unsigned char *run = p;
        while (*p && *p < 0x7f)
            p++;
        if (p > run) dc_sb_appendn(&b, (const char *)run, (size_t)(p - run));
        if (!*p) break;
        uint32_t cp;
        int len = utf8_next(p, &cp);
        if (len == 0) {
            dc_sb_append(&b, "\\ufffd");
            p++;
        } else if (cp == 0x7f || dangerous_unicode(cp)) {
            dc_sb_printf(&b, "\\u%04x", (unsigned)cp);
            p += len;
        } else {
            dc_sb_appendn(&b, (const char *)p, (size_t)len);
            p += len;
        }
    }
    return dc_sb_take(&b);
}

int dc_utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        int len = utf8_next(p, &cp);
        if (len == 0) return 0;
        p += len;
    }
    return 1;
}
