/* reply_parse.c — tolerant extraction of {thought, name, code} from an LLM reply.
 *
 * A strict JSON parser (cJSON) rejects too much of what LLMs actually send (literal newlines in
 * strings, trailing commas) and its errors carry no line/column, so this file has its own small
 * lenient JSON reader that builds a cJSON tree and reports "<what> at line L column C" in terms
 * of the whole reply — the coordinates the LLM can act on. */
#define _GNU_SOURCE /* strncasecmp, strcasestr */
#include "reply_parse.h"

#include "common/util.h"

#include <cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 64
#define MAX_CANDIDATES 256 /* '{' positions tried as the start of the object */
#define NAME_INPUT_MAX 200 /* anything longer is prose, not a name */

/* ---------------------------------------------------------------- lenient JSON reader */

typedef struct {
    const char *src; /* the whole reply: line/column are counted from here */
    const char *p, *end;
    int depth;
    int failed;
    char err[200];
} jreader;

static void line_col(const char *src, const char *at, int *line, int *col)
{
    int l = 1, c = 1;
    for (const char *q = src; q < at; q++) {
        if (*q == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c;
}

/* Records the first error only: "<what> at line L column C". */
static void jfail(jreader *j, const char *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void jfail(jreader *j, const char *at, const char *fmt, ...)
{
    if (j->failed) return;
    j->failed = 1;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int l, c;
    line_col(j->src, at, &l, &c);
    dc_fmt(j->err, sizeof j->err, "%s at line %d column %d", what, l, c);
}

/* Whitespace, and // or / * * / comments, which some models put in "JSON". */
static void skip_ws(jreader *j)
{
    while (j->p < j->end) {
        if (isspace((unsigned char)*j->p)) {
            j->p++;
        } else if (j->p + 1 < j->end && j->p[0] == '/' && j->p[1] == '/') {
            while (j->p < j->end && *j->p != '\n') j->p++;
        } else if (j->p + 1 < j->end && j->p[0] == '/' && j->p[1] == '*') {
            const char *e = j->p + 2;
            while (e + 1 < j->end && !(e[0] == '*' && e[1] == '/')) e++;
            j->p = e + 1 < j->end ? e + 2 : j->end;
        } else {
            break;
        }
    }
}

static void describe_char(char c, char *out, size_t cap)
{
    if (isprint((unsigned char)c)) dc_fmt(out, cap, "'%c'", c);
    else if (c == '\n') dc_fmt(out, cap, "a line break");
    else dc_fmt(out, cap, "byte 0x%02x", (unsigned char)c);
}

static int hex4(const char *p, const char *end, unsigned *out)
{
    if (end - p < 4) return 0;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static void put_utf8(dc_sb *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    dc_sb_appendn(b, u, n);
}

/* j->p at the opening quote. Literal control characters are kept (LLMs put real newlines in code
   strings); an unknown escape such as "\d" keeps its backslash. Returns 1 with the text in out. */
static int read_string(jreader *j, dc_sb *out)
{
    const char *start = j->p;
    j->p++;
    dc_sb_append(out, "");
    while (j->p < j->end) {
        char c = *j->p;
        if (c == '"') {
            j->p++;
            return 1;
        }
        if (c != '\\') {
            dc_sb_appendn(out, &c, 1);
            j->p++;
            continue;
        }
        if (j->p + 1 >= j->end) break;
        char e = j->p[1];
        j->p += 2;
        switch (e) {
        case '"': dc_sb_append(out, "\""); break;
        case '\\': dc_sb_append(out, "\\"); break;
        case '/': dc_sb_append(out, "/"); break;
        case 'b': dc_sb_append(out, "\b"); break;
        case 'f': dc_sb_append(out, "\f"); break;
        case 'n': dc_sb_append(out, "\n"); break;
        case 'r': dc_sb_append(out, "\r"); break;
        case 't': dc_sb_append(out, "\t"); break;
        case 'u': {
            unsigned cp;
            if (!hex4(j->p, j->end, &cp)) {
                dc_sb_append(out, "\\u");
                break;
            }
            j->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00) { /* high surrogate: pair it with the low one */
                unsigned lo;
                if (j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' && hex4(j->p + 2, j->end, &lo) &&
                    lo >= 0xDC00 && lo < 0xE000) {
                    j->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else {
                    cp = 0xFFFD;
                }
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                cp = 0xFFFD;
            }
            if (cp == 0) cp = 0xFFFD; /* a NUL would cut the C string short */
            put_utf8(out, cp);
            break;
        }
        default: {
            char two[2] = {'\\', e};
            dc_sb_appendn(out, two, 2);
            break;
        }
        }
    }
    jfail(j, start, "unterminated string (is the reply cut short?) starting");
    return 0;
}

static cJSON *read_value(jreader *j);

static cJSON *read_object(jreader *j)
{
    const char *open = j->p;
    j->p++;
    cJSON *obj = cJSON_CreateObject();
    if (!obj) {
        jfail(j, open, "out of memory");
        return NULL;
    }
    dc_sb key = {0};
    for (;;) {
        skip_ws(j);
        if (j->p >= j->end) {
            jfail(j, open, "unexpected end of reply inside the object starting");
            break;
        }
        if (*j->p == '}') { /* also accepts a trailing comma */
            j->p++;
            dc_sb_free(&key);
            return obj;
        }
        key.len = 0;
        if (*j->p == '"') {
            if (!read_string(j, &key)) break;
        } else if (isalpha((unsigned char)*j->p) || *j->p == '_') { /* a bare JavaScript-style key */
            const char *k = j->p;
            while (j->p < j->end && (isalnum((unsigned char)*j->p) || *j->p == '_')) j->p++;
            dc_sb_appendn(&key, k, (size_t)(j->p - k));
        } else {
            char d[24];
            describe_char(*j->p, d, sizeof d);
            jfail(j, j->p, "expected a \"key\" or '}' but found %s", d);
            break;
        }
        skip_ws(j);
        if (j->p >= j->end || *j->p != ':') {
            jfail(j, j->p < j->end ? j->p : j->end, "expected ':' after the key \"%.40s\"", key.data);
            break;
        }
        j->p++;
        cJSON *v = read_value(j);
        if (!v) break;
        /* Duplicate keys: the last one wins, as in most JSON readers. */
        if (cJSON_GetObjectItemCaseSensitive(obj, key.data)) cJSON_ReplaceItemInObjectCaseSensitive(obj, key.data, v);
        else cJSON_AddItemToObject(obj, key.data, v);
        skip_ws(j);
        if (j->p >= j->end) {
            jfail(j, open, "unexpected end of reply inside the object starting");
            break;
        }
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p == '}') {
            j->p++;
            dc_sb_free(&key);
            return obj;
        }
        jfail(j, j->p, "expected ',' or '}'");
        break;
    }
    dc_sb_free(&key);
    cJSON_Delete(obj);
    return NULL;
}

static cJSON *read_array(jreader *j)
{
    const char *open = j->p;
    j->p++;
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        jfail(j, open, "out of memory");
        return NULL;
    }
    for (;;) {
        skip_ws(j);
        if (j->p >= j->end) {
            jfail(j, open, "unexpected end of reply inside the array starting");
            break;
        }
        if (*j->p == ']') {
            j->p++;
            return arr;
        }
        cJSON *v = read_value(j);
        if (!v) break;
        cJSON_AddItemToArray(arr, v);
        skip_ws(j);
        if (j->p >= j->end) {
            jfail(j, open, "unexpected end of reply inside the array starting");
            break;
        }
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p == ']') {
            j->p++;
            return arr;
        }
        jfail(j, j->p, "expected ',' or ']'");
        break;
    }
    cJSON_Delete(arr);
    return NULL;
}

static int match_word(jreader *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0) return 0;
    j->p += n;
    return 1;
}

static cJSON *read_value(jreader *j)
{
    skip_ws(j);
    if (j->p >= j->end) {
        jfail(j, j->end, "unexpected end of reply where a value was expected");
        return NULL;
    }
    if (j->depth >= MAX_DEPTH) {
        jfail(j, j->p, "JSON nested too deeply");
        return NULL;
    }
    char c = *j->p;
    cJSON *v = NULL;
    j->depth++;
    if (c == '{') {
        v = read_object(j);
    } else if (c == '[') {
        v = read_array(j);
    } else if (c == '"') {
        dc_sb s = {0};
        if (read_string(j, &s)) v = cJSON_CreateString(s.data);
        dc_sb_free(&s);
    } else if (c == '-' || isdigit((unsigned char)c)) {
        char num[64];
        size_t n = 0;
        while (j->p + n < j->end && n < sizeof num - 1 && strchr("+-.eE0123456789", j->p[n])) n++;
        memcpy(num, j->p, n);
        num[n] = '\0';
        char *e = NULL;
        double d = strtod(num, &e);
        if (e == num) jfail(j, j->p, "malformed number");
        else {
            j->p += e - num;
            v = cJSON_CreateNumber(d);
        }
    } else if (match_word(j, "true") || match_word(j, "True")) {
        v = cJSON_CreateTrue();
    } else if (match_word(j, "false") || match_word(j, "False")) {
        v = cJSON_CreateFalse();
    } else if (match_word(j, "null") || match_word(j, "None")) {
        v = cJSON_CreateNull();
    } else {
        char d[24];
        describe_char(c, d, sizeof d);
        jfail(j, j->p, "unexpected %s where a value was expected", d);
    }
    j->depth--;
    if (!v && !j->failed) jfail(j, j->p, "out of memory");
    return v;
}

/* ---------------------------------------------------------------- locating the answer */

static int is_wanted_key(const char *k)
{
    return strcasecmp(k, "code") == 0 || strcasecmp(k, "name") == 0 || strcasecmp(k, "thought") == 0;
}

static int has_wanted_key(const cJSON *obj)
{
    if (!cJSON_IsObject(obj)) return 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        if (c->string && is_wanted_key(c->string)) return 1;
    return 0;
}

/* '{' followed by optional space and a quote: the start of a real JSON object, not "{x}" in prose
   or a C block. Errors from such a start are the ones worth reporting. */
static int looks_like_object(const char *q)
{
    q++;
    while (*q && isspace((unsigned char)*q)) q++;
    return *q == '"';
}

/* Reasoning models (DeepSeek-R1, Qwen3) prepend <think>...</think>, which is prose full of braces. */
static const char *after_think(const char *reply)
{
    const char *t = strstr(reply, "<think>");
    if (!t) return reply;
    const char *e = strstr(t, "</think>");
    return e ? e + strlen("</think>") : reply;
}

static char *dup_range(const char *a, const char *b)
{
    char *s = dc_malloc((size_t)(b - a) + 1);
    memcpy(s, a, (size_t)(b - a));
    s[b - a] = '\0';
    return s;
}

/* The first fenced block of C code: ```c / ```cpp / ```c++ / ```C, or an unlabelled ``` block that
   mentions objective( and is not JSON. An unclosed fence runs to the end. NULL when none. */
static char *find_c_fence(const char *text)
{
    const char *p = text;
    for (int guard = 0; guard < 64; guard++) {
        const char *f = strstr(p, "```");
        if (!f) return NULL;
        const char *info = f + 3;
        const char *eol = strchr(info, '\n');
        if (!eol) return NULL;
        char lang[16] = "";
        size_t ln = 0;
        for (const char *q = info; q < eol && ln < sizeof lang - 1; q++)
            if (!isspace((unsigned char)*q)) lang[ln++] = (char)tolower((unsigned char)*q);
        lang[ln] = '\0';
        const char *body = eol + 1;
        const char *close = strstr(body, "```");
        const char *bend = close ? close : body + strlen(body);
        int is_c = strcmp(lang, "c") == 0 || strcmp(lang, "cpp") == 0 || strcmp(lang, "c++") == 0 ||
                   strcmp(lang, "c99") == 0 || strcmp(lang, "c11") == 0;
        if (!is_c && ln == 0) {
            const char *q = body;
            while (q < bend && isspace((unsigned char)*q)) q++;
            char *blk = dup_range(body, bend);
            is_c = q < bend && *q != '{' && strstr(blk, "objective") != NULL;
            free(blk);
        }
        if (is_c) return dup_range(body, bend);
        if (!close) return NULL;
        p = close + 3;
    }
    return NULL;
}

/* Value of "key": "..." anywhere in text (for broken JSON), decoded leniently; NULL if absent. */
static char *find_json_string_field(const char *text, const char *key)
{
    char pat[32];
    dc_fmt(pat, sizeof pat, "\"%s\"", key);
    const char *p = text;
    for (int guard = 0; guard < 64; guard++) {
        const char *k = strcasestr(p, pat);
        if (!k) return NULL;
        const char *q = k + strlen(pat);
        while (*q && isspace((unsigned char)*q)) q++;
        if (*q == ':') {
            q++;
            while (*q && isspace((unsigned char)*q)) q++;
            if (*q == '"') {
                jreader j = {.src = text, .p = q, .end = q + strlen(q)};
                dc_sb s = {0};
                if (read_string(&j, &s)) return dc_sb_take(&s);
                dc_sb_free(&s);
                return NULL;
            }
        }
        p = k + 1;
    }
    return NULL;
}

/* A prose line "Name: foo" / "**Name:** foo" / "- name: `foo`"; NULL if absent. */
static char *find_name_line(const char *text)
{
    const char *line = text;
    for (int guard = 0; guard < 10000 && *line; guard++) {
        const char *eol = strchr(line, '\n');
        if (!eol) eol = line + strlen(line);
        const char *q = line;
        while (q < eol && (isspace((unsigned char)*q) || *q == '*' || *q == '#' || *q == '-' || *q == '_')) q++;
        if (eol - q > 5 && strncasecmp(q, "name", 4) == 0) {
            q += 4;
            while (q < eol && (*q == '*' || *q == ' ')) q++;
            if (q < eol && *q == ':') {
                q++;
                while (q < eol && (isspace((unsigned char)*q) || *q == '*' || *q == '`' || *q == '"')) q++;
                const char *e = eol;
                while (e > q && (isspace((unsigned char)e[-1]) || e[-1] == '*' || e[-1] == '`' || e[-1] == '"' ||
                                 e[-1] == ','))
                    e--;
                if (e > q) return dup_range(q, e);
            }
        }
        if (!*eol) break;
        line = eol + 1;
    }
    return NULL;
}

/* ---------------------------------------------------------------- cleaning the fields */

int dc_reply_normalise_name(const char *in, char *out, size_t cap)
{
    if (cap == 0) return -1;
    out[0] = '\0';
    const char *a = in, *b = in + strlen(in);
    while (a < b && isspace((unsigned char)*a)) a++;
    while (b > a && isspace((unsigned char)b[-1])) b--;
    if (b - a > NAME_INPUT_MAX || memchr(a, '\n', (size_t)(b - a))) return -1;
    size_t limit = cap - 1 < DC_REPLY_NAME_MAX ? cap - 1 : DC_REPLY_NAME_MAX;
    size_t n = 0;
    for (const char *q = a; q < b && n < limit; q++) {
        unsigned char c = (unsigned char)*q;
        if (isalnum(c) || c == '_' || c == '-') out[n++] = (char)c;
        else if (c < 0x80 && (isspace(c) || ispunct(c))) {
            if (n > 0 && out[n - 1] != '_') out[n++] = '_';
        }
        /* other bytes (UTF-8 letters, control characters) are dropped */
    }
    while (n > 0 && out[n - 1] == '_') n--;
    out[n] = '\0';
    return n > 0 ? 0 : -1;
}

/* Code wrapped in its own ``` fence inside the JSON string: keep what is inside. */
static void strip_inner_fence(dc_sb *code)
{
    char *s = code->data;
    size_t a = 0, b = code->len;
    while (a < b && isspace((unsigned char)s[a])) a++;
    while (b > a && isspace((unsigned char)s[b - 1])) b--;
    if (b - a >= 3 && memcmp(s + a, "```", 3) == 0) {
        const char *eol = memchr(s + a, '\n', b - a);
        a = eol ? (size_t)(eol - s) + 1 : b;
        if (b - a >= 3 && memcmp(s + b - 3, "```", 3) == 0) b -= 3;
        memmove(s, s + a, b - a);
        code->len = b - a;
        s[code->len] = '\0';
    }
}

/* Code that arrived escaped twice ("\\n" in the JSON) has no real line breaks but literal "\n"
   pairs; a C objective with no line break at all is implausible, so unescape once more. */
static void unescape_twice_escaped(dc_sb *code)
{
    if (memchr(code->data, '\n', code->len) || !strstr(code->data, "\\n")) return;
    char *s = code->data;
    size_t w = 0;
    for (size_t r = 0; r < code->len; r++) {
        if (s[r] == '\\' && r + 1 < code->len && strchr("nt\"\\", s[r + 1])) {
            char e = s[++r];
            s[w++] = e == 'n' ? '\n' : e == 't' ? '\t' : e;
        } else {
            s[w++] = s[r];
        }
    }
    code->len = w;
    s[w] = '\0';
}

/* Trims whitespace at both ends (in place). */
static void trim_sb(dc_sb *b)
{
    size_t a = 0, e = b->len;
    while (a < e && isspace((unsigned char)b->data[a])) a++;
    while (e > a && isspace((unsigned char)b->data[e - 1])) e--;
    memmove(b->data, b->data + a, e - a);
    b->len = e - a;
    b->data[b->len] = '\0';
}

static void keys_found(const cJSON *obj, char *out, size_t cap)
{
    dc_sb s = {0};
    dc_sb_append(&s, "");
    int n = 0;
    for (const cJSON *c = obj->child; c && n < 12; c = c->next, n++) {
        if (n) dc_sb_append(&s, ", ");
        dc_sb_printf(&s, "%.30s", c->string ? c->string : "?");
    }
    if (n == 0) dc_sb_append(&s, "none");
    dc_fmt(out, cap, "%s", s.data);
    dc_sb_free(&s);
}

/* Finishes the three fields from raw strings (any may be NULL = missing); takes ownership. */
static int finish(char *thought, char *name, char *code, dc_candidate_text *out, char *err, size_t errcap)
{
    int rc = -1;
    dc_sb c = {0};
    char nm[DC_REPLY_NAME_MAX + 1];
    if (!code) {
        dc_fmt(err, errcap, "no \"code\" found");
        goto done;
    }
    dc_sb_append(&c, code);
    strip_inner_fence(&c);
    unescape_twice_escaped(&c);
    trim_sb(&c);
    if (c.len == 0) {
        dc_fmt(err, errcap, "\"code\" is empty");
        goto done;
    }
    if (!name) {
        dc_fmt(err, errcap, "no \"name\" found");
        goto done;
    }
    if (dc_reply_normalise_name(name, nm, sizeof nm) != 0) {
        dc_fmt(err, errcap, "\"name\" must be a short identifier (letters, digits, _ or -; at most %d characters)",
               DC_REPLY_NAME_MAX);
        goto done;
    }
    out->code = dc_sb_take(&c);
    out->name = dc_strdup(nm);
    dc_sb t = {0};
    dc_sb_append(&t, thought ? thought : "");
    trim_sb(&t);
    out->thought = dc_sb_take(&t);
    err[0] = '\0';
    rc = 0;
done:
    dc_sb_free(&c);
    free(thought);
    free(name);
    free(code);
    return rc;
}

/* A field of the object as text: strings as they are, arrays of strings joined by newlines (some
   models send code as a list of lines), null as missing. *bad is set for other types. */
static char *field_text(const cJSON *obj, const char *key, int *bad)
{
    const cJSON *v = cJSON_GetObjectItem(obj, key); /* case-insensitive */
    *bad = 0;
    if (!v || cJSON_IsNull(v)) return NULL;
    if (cJSON_IsString(v)) return dc_strdup(v->valuestring);
    if (cJSON_IsArray(v)) {
        dc_sb s = {0};
        dc_sb_append(&s, "");
        int i = 0;
        for (const cJSON *e = v->child; e; e = e->next, i++) {
            if (!cJSON_IsString(e)) {
                dc_sb_free(&s);
                *bad = 1;
                return NULL;
            }
            if (i) dc_sb_append(&s, "\n");
            dc_sb_append(&s, e->valuestring);
        }
        return dc_sb_take(&s);
    }
    *bad = 1;
    return NULL;
}

static int from_object(const cJSON *obj, const char *text, dc_candidate_text *out, char *err, size_t errcap)
{
    char keys[256];
    int bad;
    char *code = field_text(obj, "code", &bad);
    if (bad) {
        dc_fmt(err, errcap, "\"code\" must be a string");
        return -1;
    }
    if (!code && !cJSON_GetObjectItem(obj, "code")) code = find_c_fence(text); /* code given after the JSON */
    if (!code) {
        keys_found(obj, keys, sizeof keys);
        if (cJSON_GetObjectItem(obj, "code")) dc_fmt(err, errcap, "\"code\" is empty");
        else dc_fmt(err, errcap, "JSON object has no \"code\" key (keys found: %s)", keys);
        return -1;
    }
    char *name = field_text(obj, "name", &bad);
    if (bad) {
        free(code);
        dc_fmt(err, errcap, "\"name\" must be a string");
        return -1;
    }
    if (!name) {
        free(code);
        keys_found(obj, keys, sizeof keys);
        dc_fmt(err, errcap, "JSON object has no \"name\" key (keys found: %s)", keys);
        return -1;
    }
    char *thought = field_text(obj, "thought", &bad);
    if (bad) { /* an odd thought is no reason to lose a candidate: keep its JSON text */
        char *printed = cJSON_PrintUnformatted(cJSON_GetObjectItem(obj, "thought"));
        thought = dc_strdup(printed ? printed : "");
        cJSON_free(printed);
    }
    return finish(thought, name, code, out, err, errcap);
}

int dc_reply_parse(const char *reply, dc_candidate_text *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    if (errcap) err[0] = '\0';
    const char *text = reply ? after_think(reply) : "";
    const char *t = text;
    while (*t && isspace((unsigned char)*t)) t++;
    if (!*t) {
        dc_fmt(err, errcap, "reply is empty: answer with a JSON object {\"thought\": ..., \"name\": ..., \"code\": ...}");
        return -1;
    }
    const char *end = reply + strlen(reply);

    /* Try each '{' as the start of the answer, first to last; keep the most telling error. */
    cJSON *found = NULL, *keyless = NULL;
    char parse_err[200] = "";
    int parse_err_rank = 0;
    int tries = 0;
    for (const char *q = strchr(text, '{'); q && tries < MAX_CANDIDATES; q = strchr(q + 1, '{'), tries++) {
        jreader j = {.src = reply, .p = q, .end = end};
        cJSON *v = read_value(&j);
        if (v) {
            if (has_wanted_key(v)) {
                found = v;
                break;
            }
            if (!keyless) keyless = v;
            else cJSON_Delete(v);
            q = j.p - 1; /* skip past this object */
            continue;
        }
        int rank = looks_like_object(q) ? 2 : 1;
        if (rank > parse_err_rank) {
            dc_fmt(parse_err, sizeof parse_err, "%s", j.err);
            parse_err_rank = rank;
        }
    }

    int rc;
    if (found) {
        rc = from_object(found, text, out, err, errcap);
    } else {
        /* Broken or missing JSON: salvage a ```c block plus a name when the reply has both. */
        char *code = find_c_fence(text);
        char *name = code ? find_json_string_field(text, "name") : NULL;
        if (code && !name) name = find_name_line(text);
        if (code && name) {
            rc = finish(find_json_string_field(text, "thought"), name, code, out, err, errcap);
        } else {
            free(code);
            free(name);
            rc = -1;
            if (parse_err_rank == 2 || (parse_err_rank && !keyless)) {
                dc_fmt(err, errcap, "reply is not valid JSON: %s", parse_err);
            } else if (keyless) {
                char keys[256];
                keys_found(keyless, keys, sizeof keys);
                dc_fmt(err, errcap, "JSON object has no \"code\" key (keys found: %s)", keys);
            } else {
                dc_fmt(err, errcap,
                       "reply contains no JSON object: answer with {\"thought\": ..., \"name\": ..., \"code\": ...}");
            }
        }
    }
    cJSON_Delete(found);
    cJSON_Delete(keyless);
    if (rc != 0) dc_candidate_text_free(out);
    return rc;
}
