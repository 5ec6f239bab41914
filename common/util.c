#define _GNU_SOURCE
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void out_of_memory(size_t n)
{
    fprintf(stderr, "discover: out of memory (asked for %zu bytes)\n", n);
    exit(1);
}

void *dc_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory(n);
    return p;
}

void *dc_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) out_of_memory(count * size);
    return p;
}

void *dc_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) out_of_memory(n);
    return q;
}

char *dc_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = dc_malloc(n);
    memcpy(d, s, n);
    return d;
}

char *dc_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return buf;
}

int dc_fmt_exact(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        if (cap) buf[0] = '\0';
        return -1;
    }
    return 0;
}

static void sb_reserve(dc_sb *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    b->data = dc_realloc(b->data, cap);
    b->cap = cap;
}

void dc_sb_appendn(dc_sb *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void dc_sb_append(dc_sb *b, const char *s) { dc_sb_appendn(b, s, strlen(s)); }

void dc_sb_printf(dc_sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    sb_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
}

void dc_sb_free(dc_sb *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *dc_sb_take(dc_sb *b)
{
    char *s = b->data ? b->data : dc_strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

char *dc_read_file(const char *path, size_t max_bytes, size_t *len_out, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        dc_fmt(err, errcap, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    dc_sb b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (max_bytes && b.len + n > max_bytes) {
            dc_fmt(err, errcap, "'%s' is larger than %zu bytes", path, max_bytes);
            fclose(f);
            dc_sb_free(&b);
            return NULL;
        }
        dc_sb_appendn(&b, chunk, n);
    }
    if (ferror(f)) {
        dc_fmt(err, errcap, "cannot read '%s': %s", path, strerror(errno));
        fclose(f);
        dc_sb_free(&b);
        return NULL;
    }
    fclose(f);
    if (len_out) *len_out = b.len;
    return dc_sb_take(&b);
}

int dc_write_file(const char *path, const void *data, size_t len, char *err, size_t errcap)
{
    size_t plen = strlen(path) + 32;
    char *tmp = dc_malloc(plen);
    snprintf(tmp, plen, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        dc_fmt(err, errcap, "cannot write '%s': %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    int ok = fwrite(data, 1, len, f) == len;
    ok = (fflush(f) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        dc_fmt(err, errcap, "cannot write '%s': %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

double dc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void dc_utc_iso(char *buf, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

double dc_utc_epoch(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void dc_utc_iso_at(double epoch, char *buf, size_t cap)
{
    /* whole seconds and microseconds taken apart so rounding never shows 60 seconds;
     * truncated, not rounded: a recorded start is never later than the event */
    double whole = floor(epoch);
    long us = (long)((epoch - whole) * 1e6);
    if (us > 999999) us = 999999;
    time_t t = (time_t)whole;
    struct tm tm;
    gmtime_r(&t, &tm);
    char head[32];
    strftime(head, sizeof head, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%06ldZ", head, us);
}

int dc_utc_parse(const char *iso, double *epoch)
{
    if (!iso) return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p) return -1;
    double frac = 0;
    if (*p == '.') {
        double scale = 0.1;
        p++;
        if (!isdigit((unsigned char)*p)) return -1;
        for (; isdigit((unsigned char)*p); p++, scale /= 10) frac += (*p - '0') * scale;
    }
    if (strcmp(p, "Z") != 0) return -1;
    *epoch = (double)timegm(&tm) + frac;
    return 0;
}

uint64_t dc_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

int dc_mkdirs(const char *path, char *err, size_t errcap)
{
    char *p = dc_strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            dc_fmt(err, errcap, "cannot create directory '%s': %s", p, strerror(errno));
            free(p);
            return -1;
        }
        *s = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        dc_fmt(err, errcap, "cannot create directory '%s': %s", p, strerror(errno));
        free(p);
        return -1;
    }
    free(p);
    return 0;
}

int dc_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

int dc_parse_double(const char *s, double min, double max, double *out)
{
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < min || v > max) return -1;
    *out = v;
    return 0;
}

/* Parses a whole non-negative int from [s, s+n); -1 when it is not one. */
static int parse_int_token(const char *s, size_t n, int *out)
{
    if (n == 0 || n > 10) return -1;
    char buf[16];
    memcpy(buf, s, n);
    buf[n] = 0;
    long v;
    if (buf[0] < '0' || buf[0] > '9' || dc_parse_long(buf, 0, INT_MAX, &v) != 0) return -1;
    *out = (int)v;
    return 0;
}

int dc_parse_int_list(const char *text, int *out, int cap, char *err, size_t errcap)
{
    int count = 0;
    const char *p = text;
    if (!text || !*text) {
        snprintf(err, errcap, "empty list; write numbers like 1,2,3 or a range like 1-5");
        return -1;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *dash = memchr(p, '-', len);
        int a, b;
        int bad = dash ? parse_int_token(p, (size_t)(dash - p), &a) ||
                             parse_int_token(dash + 1, len - (size_t)(dash - p) - 1, &b) || b < a
                       : parse_int_token(p, len, &a);
        if (bad) {
            snprintf(err, errcap,
                     "'%.*s' in '%s' is not a whole number >= 0 or a range a-b with "
                     "a <= b; write numbers like 1,2,3 or a range like 1-5",
                     (int)len, p, text);
            return -1;
        }
        if (!dash) b = a;
        for (long v = a; v <= b; v++) {
            if (count == cap) {
                snprintf(err, errcap, "'%s' has more than %d numbers", text, cap);
                return -1;
            }
            out[count++] = (int)v;
        }
        if (!comma) break;
        p = comma + 1;
    }
    return count;
}

int dc_parse_double_list(const char *text, double *out, int cap, char *err, size_t errcap)
{
    int count = 0;
    const char *p = text;
    if (!text || !*text) {
        snprintf(err, errcap, "empty list; write numbers like 0.05,0.1,0.5");
        return -1;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char buf[64];
        int bad = len == 0 || len >= sizeof buf;
        double v = 0;
        if (!bad) {
            memcpy(buf, p, len);
            buf[len] = 0;
            bad = dc_parse_double(buf, -HUGE_VAL, HUGE_VAL, &v) != 0;
        }
        if (bad) {
            snprintf(err, errcap,
                     "'%.*s' in '%s' is not a finite number; write numbers like "
                     "0.05,0.1,0.5",
                     (int)len, p, text);
            return -1;
        }
        if (count == cap) {
            snprintf(err, errcap, "'%s' has more than %d numbers", text, cap);
            return -1;
        }
        out[count++] = v;
        if (!comma) break;
        p = comma + 1;
    }
    return count;
}
