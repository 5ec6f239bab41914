/* idx.c — IDX reading through zlib (gzread also reads files that are not compressed). */
#include "idx.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Reads exactly n bytes; returns the number actually read (short on EOF), -1 on error. */
static long long read_full(gzFile f, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t want = n - got;
        if (want > (1u << 30)) want = 1u << 30; // gzread takes an unsigned int length
        int r = gzread(f, (char *)buf + got, (unsigned)want);
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (long long)got;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int dc_idx_read(const char *path, int expected_ndims, dc_idx *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    if (expected_ndims < 1 || expected_ndims > 3) {
        snprintf(err, errcap, "%s: internal error: IDX files with %d dimensions are not supported",
                 path, expected_ndims);
        return -1;
    }
    gzFile f = gzopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "cannot open %s", path);
        return -1;
    }
    int rc = -1;
    unsigned char head[4 + 4 * 3];
    size_t head_len = 4 + 4 * (size_t)expected_ndims;
    long long got = read_full(f, head, head_len);
    uint32_t magic = 0x0800u | (uint32_t)expected_ndims;
    if (got < 0) {
        int zerr;
        snprintf(err, errcap, "%s: cannot decompress (%s); the file is damaged: reinstall it", path,
                 gzerror(f, &zerr));
        goto done;
    }
    if (got < (long long)head_len) {
        snprintf(err, errcap,
                 "%s: truncated IDX header (%lld of %zu bytes); the file is damaged: reinstall it",
                 path, got, head_len);
        goto done;
    }
    if (be32(head) != magic) {
        snprintf(err, errcap,
                 "%s: not an IDX %s file (magic 0x%08x, expected 0x%08x); check the file name",
                 path, expected_ndims == 1 ? "label" : "image", be32(head), magic);
        goto done;
    }
    size_t total = 1;
    out->ndims = expected_ndims;
    for (int d = 0; d < expected_ndims; d++) {
        uint32_t n = be32(head + 4 + 4 * d);
        // a generous bound that keeps the byte count far from overflow
        if (n == 0 || n > 10000000u || (d > 0 && n > 4096u)) {
            snprintf(err, errcap,
                     "%s: implausible IDX size %u in dimension %d; the file is damaged", path, n,
                     d);
            goto done;
        }
        out->dims[d] = (int)n;
        total *= n;
    }
    if (total > ((size_t)1 << 34)) {
        snprintf(err, errcap, "%s: IDX data of %zu bytes is too large", path, total);
        goto done;
    }
    out->data = malloc(total);
    if (!out->data) {
        snprintf(err, errcap, "%s: out of memory for %zu bytes", path, total);
        goto done;
    }
    got = read_full(f, out->data, total);
    if (got < 0) {
        int zerr;
        snprintf(err, errcap, "%s: cannot decompress (%s); the file is damaged: reinstall it", path,
                 gzerror(f, &zerr));
        goto done;
    }
    if ((size_t)got != total) {
        snprintf(err, errcap,
                 "%s: truncated: the header declares %zu data bytes but the file holds %lld; "
                 "the file is damaged: reinstall it",
                 path, total, got);
        goto done;
    }
    unsigned char extra;
    if (read_full(f, &extra, 1) != 0) {
        snprintf(err, errcap, "%s: more data than the header declares; the file is damaged", path);
        goto done;
    }
    rc = 0;
done:
    gzclose(f);
    if (rc) dc_idx_free(out);
    return rc;
}

void dc_idx_free(dc_idx *x)
{
    free(x->data);
    memset(x, 0, sizeof *x);
}
