/* cache.h — the on-disk cache of the sentiment pipeline's stages (pretrained model, SFT
 * model, preference pairs) and the little binary (de)serialiser the stages use.
 *
 * File layout (little-endian host order; the cache is per machine):
 *   magic "DCSENT\0\1" (8) | format version u32 | stage u32 | key u64 | payload bytes u64 |
 *   payload checksum u64 (FNV-1a) | payload
 * A file whose size, magic, version, key or checksum does not match is reported and
 * rebuilt. Files are written atomically (temp file + rename) by dc_write_file. */
#ifndef DC_SENT_CACHE_H
#define DC_SENT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#define SENT_CACHE_VERSION 1u

/* A growable byte buffer with typed writers. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} sent_buf;
void sent_buf_put(sent_buf *b, const void *p, size_t n);
void sent_buf_u32(sent_buf *b, uint32_t v);
void sent_buf_f64(sent_buf *b, double v);
void sent_buf_free(sent_buf *b);

/* A bounds-checked reader: after any overrun `bad` is set and reads yield zeros. */
typedef struct {
    const uint8_t *data;
    size_t len, pos;
    int bad;
} sent_reader;
void sent_read(sent_reader *r, void *p, size_t n);
uint32_t sent_read_u32(sent_reader *r);
double sent_read_f64(sent_reader *r);

/* <cache dir>/sentiment-<stage>-<key as 16 hex digits>.bin; 0 or -1 with a message. */
int sent_cache_path(const char *stage, uint64_t key, char *buf, size_t cap, char *err,
                    size_t errcap);
/* Writes payload with its header. 0 or -1 with a message. */
int sent_cache_write(const char *path, uint32_t stage, uint64_t key, const sent_buf *payload,
                     char *err, size_t errcap);
/* 1: loaded (the payload is malloc'd into *payload, *len); 0: no such file; -1: present
 * but unusable (truncated, corrupt, other version or key) with the reason in why. */
int sent_cache_read(const char *path, uint32_t stage, uint64_t key, uint8_t **payload,
                    size_t *len, char *why, size_t whycap);

#endif
