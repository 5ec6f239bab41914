/* util.h — small helpers every part of discover uses: checked allocation, a growable
 * string buffer, whole-file reads, monotonic time. */
#ifndef DC_UTIL_H
#define DC_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Allocation that cannot return NULL: on failure prints what was asked for and exits(1).
 * Used for bookkeeping-sized allocations; big tensors check their own errors. */
void *dc_malloc(size_t n);
void *dc_calloc(size_t count, size_t size);
void *dc_realloc(void *p, size_t n);
char *dc_strdup(const char *s);

/* snprintf into a fixed buffer; always NUL-terminates; returns buf. Text that does not fit
 * is cut: meant for messages, where a shortened message beats none. */
char *dc_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* snprintf for paths and keys, where a cut result would name the wrong thing: 0, or -1 when
 * the text did not fit (buf then holds "", never a truncated path). */
int dc_fmt_exact(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Growable string. Zero-initialise ({0}) before use; free with dc_sb_free. */
typedef struct {
    char *data;
    size_t len, cap;
} dc_sb;
void dc_sb_append(dc_sb *b, const char *s);
void dc_sb_appendn(dc_sb *b, const char *s, size_t n);
void dc_sb_printf(dc_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dc_sb_free(dc_sb *b);
/* Hands over ownership of the NUL-terminated text (never NULL) and resets b. */
char *dc_sb_take(dc_sb *b);

/* Reads a whole file (up to max_bytes; 0 = no limit) into a NUL-terminated buffer.
 * Returns NULL and writes a message naming the path and the reason into err. */
/* Strict number parsing, the one parser of the project: the whole of s must be a number
 * (base 10; no leading or trailing space, finite) within [min, max]. 0 on success, else -1
 * and *out untouched; the caller names the flag or option in its message. */
int dc_parse_long(const char *s, long min, long max, long *out);
int dc_parse_double(const char *s, double min, double max, double *out);

/* Parses "1,2,3" (also "1-5"); returns the count (<= cap) or -1 with a message. */
int dc_parse_int_list(const char *text, int *out, int cap, char *err, size_t errcap);
/* Parses "0.05,0.1,0.5"; returns the count or -1 with a message. */
int dc_parse_double_list(const char *text, double *out, int cap, char *err, size_t errcap);

char *dc_read_file(const char *path, size_t max_bytes, size_t *len_out, char *err, size_t errcap);
/* Writes a whole file atomically (temp file + rename). 0 on success. */
int dc_write_file(const char *path, const void *data, size_t len, char *err, size_t errcap);

/* Monotonic seconds (CLOCK_MONOTONIC). */
double dc_now(void);
/* Wall-clock time as ISO 8601 UTC "2026-11-23T18:20:00Z" into buf (>= 21 bytes). */
void dc_utc_iso(char *buf, size_t cap);
/* Timestamps precise enough to place sub-second events on a timeline (the report's
 * evaluator timeline): ISO 8601 UTC with microseconds, "2026-11-23T18:20:00.123456Z" (buf
 * >= 28 bytes). dc_utc_epoch: the wall clock in seconds since 1970 (CLOCK_REALTIME). */
double dc_utc_epoch(void);
void dc_utc_iso_at(double epoch, char *buf, size_t cap);
/* Parses "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (what dc_utc_iso and dc_utc_iso_at write) into
 * seconds since 1970. 0, or -1 when the text is anything else ("" included). */
int dc_utc_parse(const char *iso, double *epoch);

/* 64-bit FNV-1a; used for cache keys and code hashes. */
uint64_t dc_hash64(const void *data, size_t len, uint64_t seed);

/* mkdir -p; 0 on success. */
int dc_mkdirs(const char *path, char *err, size_t errcap);

#endif
