/* ref_fixture.h — reading the PyTorch reference fixtures of tests/reference/ (written by
 * tests/reference/make_reference.py, whose docstring is the format's specification) and
 * comparing a C tensor with its reference.
 *
 * A fixture is little-endian: int32 header[16] (magic "DREF", version, kind, configuration),
 * float32 hyper[8], then the tensors in a fixed order, read here one after another; the
 * test checks at the end that nothing is left over, so a fixture of another configuration
 * or version cannot be half-read silently. */
#ifndef DC_TEST_REF_FIXTURE_H
#define DC_TEST_REF_FIXTURE_H

#include "tests/test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_MAGIC 0x46455244 /* the bytes "DREF" read as a little-endian int32 */
#define REF_VERSION 1
#define REF_KIND_GPT 1
#define REF_KIND_MLP 2
#define REF_MAX_TENSORS 16

typedef struct {
    unsigned char *data;
    size_t size, pos;
    int32_t header[16];
    float hyper[8];
    void *owned[REF_MAX_TENSORS]; /* the copies handed out, freed by ref_close */
    int nowned;
    char path[512];
} ref_file;

static inline void ref_close(ref_file *r)
{
    for (int i = 0; i < r->nowned; i++)
        free(r->owned[i]);
    free(r->data);
    memset(r, 0, sizeof *r);
}

/* Loads tests/reference/<name> of the source tree. 0, or -1 with the reason on stderr. */
static inline int ref_open(ref_file *r, const char *name, int kind)
{
    memset(r, 0, sizeof *r);
    snprintf(r->path, sizeof r->path, "%s/tests/reference/%s", DC_SOURCE_DIR, name);
    FILE *f = fopen(r->path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open (regenerate with tests/reference/make_reference.py)\n",
                r->path);
        return -1;
    }
    int ok = fseek(f, 0, SEEK_END) == 0;
    long n = ok ? ftell(f) : -1;
    ok = ok && n >= 0 && fseek(f, 0, SEEK_SET) == 0;
    r->data = ok ? malloc(n > 0 ? (size_t)n : 1) : NULL;
    ok = r->data && fread(r->data, 1, (size_t)n, f) == (size_t)n;
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, "%s: read failed\n", r->path);
        ref_close(r);
        return -1;
    }
    r->size = (size_t)n;
    if (r->size < sizeof r->header + sizeof r->hyper) {
        fprintf(stderr, "%s: %zu bytes, shorter than the header\n", r->path, r->size);
        ref_close(r);
        return -1;
    }
    memcpy(r->header, r->data, sizeof r->header);
    memcpy(r->hyper, r->data + sizeof r->header, sizeof r->hyper);
    r->pos = sizeof r->header + sizeof r->hyper;
    if (r->header[0] != REF_MAGIC || r->header[1] != REF_VERSION || r->header[2] != kind) {
        // a big-endian host also lands here: the fixture's byte order is fixed
        fprintf(stderr, "%s: magic %#x version %d kind %d, expected %#x version %d kind %d\n",
                r->path, (unsigned)r->header[0], r->header[1], r->header[2], REF_MAGIC, REF_VERSION,
                kind);
        ref_close(r);
        return -1;
    }
    return 0;
}

/* The next n 4-byte values, copied (aligned, and no aliasing of the byte buffer); NULL when
 * the file is too short (the message names what was being read). */
static inline void *ref_next(ref_file *r, size_t n, const char *what)
{
    if (r->nowned == REF_MAX_TENSORS || n > (r->size - r->pos) / 4) {
        fprintf(stderr, "%s: too short for %s (%zu values at byte %zu of %zu)\n", r->path, what, n,
                r->pos, r->size);
        return NULL;
    }
    size_t bytes = n * 4;
    void *p = malloc(bytes ? bytes : 1);
    if (!p) return NULL;
    memcpy(p, r->data + r->pos, bytes);
    r->pos += bytes;
    r->owned[r->nowned++] = p;
    return p;
}

static inline const int32_t *ref_ints(ref_file *r, size_t n, const char *what)
{
    return ref_next(r, n, what);
}

static inline const float *ref_floats(ref_file *r, size_t n, const char *what)
{
    return ref_next(r, n, what);
}

/* Every value within |got - ref| <= atol + rtol |ref| (NaN never is). Prints one line with
 * the worst error either way (the record of how close C comes), and on failure how many
 * values are out and the worst one. Returns 1 when all are within. */
static inline int ref_near(const char *what, const float *got, const float *ref, size_t n,
                           double atol, double rtol)
{
    size_t bad = 0, worst_i = 0;
    double worst_abs = 0, worst_ratio = 0; /* ratio: error over what is allowed */
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]), allowed = atol + rtol * fabs((double)ref[i]);
        double ratio = d / allowed;
        if (!(d <= allowed)) bad++;
        if (!(ratio <= worst_ratio)) { // NaN sticks as the worst
            worst_ratio = ratio;
            worst_i = i;
        }
        if (d > worst_abs) worst_abs = d;
    }
    printf("  %-28s max |err| %.3g, worst err/allowed %.3g (atol %g, rtol %g, n %zu)\n", what,
           worst_abs, worst_ratio, atol, rtol, n);
    CHECK_MSG(bad == 0,
              "%s: %zu of %zu values outside |C - reference| <= %g + %g |reference|; worst [%zu]: "
              "C %.9g, reference %.9g",
              what, bad, n, atol, rtol, worst_i, got[worst_i], ref[worst_i]);
    return bad == 0;
}

#endif
