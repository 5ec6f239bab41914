/* cache.c — checked, atomically written cache files for the sentiment pipeline. */
#include "cache.h"

#include "common/paths.h"
#include "common/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t MAGIC[8] = {'D', 'C', 'S', 'E', 'N', 'T', 0, 1};
#define HEADER_BYTES 40u

void sent_buf_put(sent_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        b->data = dc_realloc(b->data, cap);
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

void sent_buf_u32(sent_buf *b, uint32_t v) { sent_buf_put(b, &v, sizeof v); }
void sent_buf_f64(sent_buf *b, double v) { sent_buf_put(b, &v, sizeof v); }

void sent_buf_free(sent_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void sent_read(sent_reader *r, void *p, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        memset(p, 0, n);
        return;
    }
    memcpy(p, r->data + r->pos, n);
    r->pos += n;
}

uint32_t sent_read_u32(sent_reader *r)
{
    uint32_t v;
    sent_read(r, &v, sizeof v);
    return v;
}

double sent_read_f64(sent_reader *r)
{
    double v;
    sent_read(r, &v, sizeof v);
    return v;
}

int sent_cache_path(const char *stage, uint64_t key, char *buf, size_t cap, char *err,
                    size_t errcap)
{
    char dir[4096];
    if (dc_cache_dir(dir, sizeof dir, err, errcap) != 0) return -1;
    dc_fmt(buf, cap, "%s/sentiment-%s-%016llx.bin", dir, stage, (unsigned long long)key);
    return 0;
}

int sent_cache_write(const char *path, uint32_t stage, uint64_t key, const sent_buf *payload,
                     char *err, size_t errcap)
{
    sent_buf all = {0};
    uint32_t ver = SENT_CACHE_VERSION;
    uint64_t n = payload->len, sum = dc_hash64(payload->data, payload->len, 0);
    sent_buf_put(&all, MAGIC, sizeof MAGIC);
    sent_buf_put(&all, &ver, sizeof ver);
    sent_buf_put(&all, &stage, sizeof stage);
    sent_buf_put(&all, &key, sizeof key);
    sent_buf_put(&all, &n, sizeof n);
    sent_buf_put(&all, &sum, sizeof sum);
    sent_buf_put(&all, payload->data, payload->len);
    int rc = dc_write_file(path, all.data, all.len, err, errcap);
    sent_buf_free(&all);
    return rc;
}

int sent_cache_read(const char *path, uint32_t stage, uint64_t key, uint8_t **payload,
                    size_t *len, char *why, size_t whycap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        dc_fmt(why, whycap, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    uint8_t hdr[HEADER_BYTES];
    if (fread(hdr, 1, sizeof hdr, f) != sizeof hdr) {
        fclose(f);
        dc_fmt(why, whycap, "%s is truncated (incomplete header)", path);
        return -1;
    }
    uint32_t ver, stg;
    uint64_t k, n, sum;
    memcpy(&ver, hdr + 8, 4);
    memcpy(&stg, hdr + 12, 4);
    memcpy(&k, hdr + 16, 8);
    memcpy(&n, hdr + 24, 8);
    memcpy(&sum, hdr + 32, 8);
    if (memcmp(hdr, MAGIC, sizeof MAGIC) != 0 || ver != SENT_CACHE_VERSION || stg != stage ||
        k != key) {
        fclose(f);
        dc_fmt(why, whycap, "%s is not a version-%u cache file for this configuration", path,
               SENT_CACHE_VERSION);
        return -1;
    }
    if (n > (1ull << 34)) {
        fclose(f);
        dc_fmt(why, whycap, "%s declares an implausible size", path);
        return -1;
    }
    uint8_t *data = malloc(n ? n : 1);
    if (!data) {
        fclose(f);
        dc_fmt(why, whycap, "out of memory reading %s", path);
        return -1;
    }
    size_t got = fread(data, 1, n, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != n || extra) {
        free(data);
        dc_fmt(why, whycap, "%s is %s (%zu of %llu payload bytes)", path,
               got != n ? "truncated" : "longer than its header says", got,
               (unsigned long long)n);
        return -1;
    }
    if (dc_hash64(data, n, 0) != sum) {
        free(data);
        dc_fmt(why, whycap, "%s is corrupt (checksum mismatch)", path);
        return -1;
    }
    *payload = data;
    *len = n;
    return 1;
}
