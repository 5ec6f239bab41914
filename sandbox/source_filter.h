/* source_filter.h — the textual gate in front of libtcc (runs inside the worker).
 *
 * The candidate may include exactly one header, <math.h> (or "math.h"), and that maps to
 * the sandbox's own declarations. Every other #include / #include_next / #import / #embed,
 * including computed ones (`#include MACRO`) and directives split by comments or line
 * continuations, is refused here with the line number. This is the first of two layers:
 * the worker's seccomp filter also makes every open() fail while compiling, so a file can
 * never be read even if this scanner were fooled. */
#ifndef DC_SBX_SOURCE_FILTER_H
#define DC_SBX_SOURCE_FILTER_H

#include <stddef.h>

/* Checks src[0..len) and writes a copy into out (len + 1 bytes, NUL-terminated) in which
 * each allowed math.h include directive is blanked (spaces; newlines kept so line numbers
 * do not move). Also rejects NUL bytes and text that is not valid UTF-8. Returns 0, or -1
 * with a one-sentence message naming the line. */
int sbx_filter_source(const char *src, size_t len, char *out, char *msg, size_t msgcap);

#endif
