/* idx.h — reader for the IDX format of (Fashion-)MNIST, gzipped or plain.
 *
 * An IDX file is a big-endian header — two zero bytes, a type byte (0x08 = unsigned byte),
 * the number of dimensions — then one uint32 size per dimension, then the data. Images are
 * magic 0x00000803 (count, rows, cols), labels 0x00000801 (count). */
#ifndef DC_IDX_H
#define DC_IDX_H

#include <stddef.h>

typedef struct {
    int ndims;
    int dims[3];         /* dims[0] = item count */
    unsigned char *data; /* dims[0] * dims[1] * ... bytes, owned (free()) */
} dc_idx;

/* Reads the IDX file at path and checks its magic is 0x0800 | expected_ndims, its sizes are
 * sane and the data is exactly as long as the header says. Returns 0, or -1 with a message
 * that names the file and what is wrong with it. */
int dc_idx_read(const char *path, int expected_ndims, dc_idx *out, char *err, size_t errcap);
void dc_idx_free(dc_idx *x);

#endif
