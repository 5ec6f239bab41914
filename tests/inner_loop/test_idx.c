/* test_idx.c — the IDX loader and the Fashion-MNIST file checks on tiny gzip fixtures
 * written by the test: a good file loads; bad magic, a truncated header, truncated data,
 * trailing data, a missing folder and mismatched counts each give a clear error that names
 * the file. */
#define _DEFAULT_SOURCE /* mkdtemp, setenv */
#include "tests/test.h"

#include "inner_loop/fashion/fashion.h"
#include "inner_loop/fashion/fashion_data.h"
#include "inner_loop/fashion/idx.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

static char dir[256];

/* Writes an IDX file: magic, sizes (big-endian), then `payload` bytes i*7 % 256 (or labels
 * i % 10 for 1-D files), optionally dropping `cut` bytes from the end or adding `extra`. */
static void write_idx(const char *name, uint32_t magic, const uint32_t *dims, int nd, long cut,
                      int extra)
{
    unsigned char buf[64 + 4 * 3 * 5 * 5];
    size_t len = 0, total = 1;
    uint32_t words[4] = {magic, 0, 0, 0};
    for (int d = 0; d < nd; d++)
        words[d + 1] = dims[d], total *= dims[d];
    for (int w = 0; w <= nd; w++)
        for (int s = 24; s >= 0; s -= 8)
            buf[len++] = (unsigned char)(words[w] >> s);
    for (size_t i = 0; i < total; i++)
        buf[len++] = (unsigned char)(nd == 1 ? i % 10 : i * 7 % 256);
    for (int i = 0; i < extra; i++)
        buf[len++] = 0;
    len = (size_t)((long)len - cut);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    gzFile f = gzopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(gzwrite(f, buf, (unsigned)len) == (int)len);
    CHECK(gzclose(f) == Z_OK);
}

static int read_err(const char *name, int nd, const char *want1, const char *want2)
{
    char path[512], err[512] = "";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    dc_idx x;
    int rc = dc_idx_read(path, nd, &x, err, sizeof err);
    if (rc == 0) dc_idx_free(&x);
    CHECK(rc == -1);
    CHECK_MSG(strstr(err, path) != NULL, "message does not name the file: %s", err);
    CHECK_MSG(strstr(err, want1) != NULL, "expected '%s' in: %s", want1, err);
    if (want2) CHECK_MSG(strstr(err, want2) != NULL, "expected '%s' in: %s", want2, err);
    return rc;
}

/* A complete fake data folder: 5 training and 3 test images of 2x2. */
static void write_dataset(uint32_t test_labels)
{
    uint32_t tr[3] = {5, 2, 2}, te[3] = {3, 2, 2}, trl[1] = {5}, tel[1] = {test_labels};
    write_idx("train-images-idx3-ubyte.gz", 0x803, tr, 3, 0, 0);
    write_idx("train-labels-idx1-ubyte.gz", 0x801, trl, 1, 0, 0);
    write_idx("t10k-images-idx3-ubyte.gz", 0x803, te, 3, 0, 0);
    write_idx("t10k-labels-idx1-ubyte.gz", 0x801, tel, 1, 0, 0);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/dc_test_idx_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);

    // a good image file: header and bytes round-trip
    uint32_t dims3[3] = {3, 4, 5};
    write_idx("good.gz", 0x803, dims3, 3, 0, 0);
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/good.gz", dir);
    dc_idx x;
    CHECK(dc_idx_read(path, 3, &x, err, sizeof err) == 0);
    CHECK(x.ndims == 3 && x.dims[0] == 3 && x.dims[1] == 4 && x.dims[2] == 5);
    CHECK(x.data && x.data[0] == 0 && x.data[1] == 7 && x.data[59] == (59 * 7) % 256);
    dc_idx_free(&x);

    // an image file read as labels, a wrong magic, truncation, trailing bytes
    read_err("good.gz", 1, "magic 0x00000803", "expected 0x00000801");
    write_idx("badmagic.gz", 0x1234, dims3, 3, 0, 0);
    read_err("badmagic.gz", 3, "not an IDX image file", "0x00001234");
    write_idx("shorthead.gz", 0x803, dims3, 3, 60 + 6, 0);
    read_err("shorthead.gz", 3, "truncated IDX header", NULL);
    write_idx("shortdata.gz", 0x803, dims3, 3, 10, 0);
    read_err("shortdata.gz", 3, "truncated", "declares 60 data bytes but the file holds 50");
    write_idx("extra.gz", 0x803, dims3, 3, 0, 3);
    read_err("extra.gz", 3, "more data than the header declares", NULL);
    uint32_t zero[3] = {0, 4, 5};
    write_idx("zero.gz", 0x803, zero, 3, 0, 0);
    read_err("zero.gz", 3, "implausible IDX size 0", NULL);

    // not gzip at all but garbage: zlib passes plain files through, so the magic check speaks
    snprintf(path, sizeof path, "%s/plain.gz", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("hello, this is not an IDX file", f);
        fclose(f);
    }
    read_err("plain.gz", 3, "not an IDX image file", NULL);

    // a corrupt gzip stream (valid gzip header, garbage deflate data)
    snprintf(path, sizeof path, "%s/corrupt.gz", dir);
    f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        const unsigned char hdr[] = {0x1f, 0x8b, 8,    0,    0,    0,    0,    0,
                                     0,    3,    0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        fwrite(hdr, 1, sizeof hdr, f);
        fclose(f);
    }
    read_err("corrupt.gz", 3, "", NULL);

    // the task: a missing folder names the Debian package and the variable
    const dc_task_ops *ops = &dc_task_fashion;
    dc_task *t = ops->create();
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    CHECK(ops->set_option(t, "data_dir", missing, err, sizeof err) == 0);
    CHECK(ops->prepare(t, NULL, err, sizeof err) == -1);
    CHECK(strstr(err, missing) && strstr(err, "apt-get install dataset-fashion-mnist") &&
          strstr(err, "DISCOVER_FASHION_DIR"));

    // the environment variable is honoured when data_dir is empty; a folder without the
    // files names the first missing file
    CHECK(ops->set_option(t, "data_dir", "", err, sizeof err) == 0);
    setenv("DISCOVER_FASHION_DIR", dir, 1);
    CHECK(ops->prepare(t, NULL, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "train-images-idx3-ubyte.gz") && strstr(err, "not found"), "%s", err);

    // a complete tiny data set whose test labels are fewer than its test images
    write_dataset(2);
    CHECK(ops->prepare(t, NULL, err, sizeof err) == -1);
    CHECK_MSG(strstr(err, "t10k-labels-idx1-ubyte.gz") && strstr(err, "counts differ"), "%s", err);

    // a consistent tiny data set loads; the split sizes are checked against it
    write_dataset(3);
    CHECK(ops->prepare(t, NULL, err, sizeof err) == -1); // val_size 10000 > 5 examples
    CHECK_MSG(strstr(err, "val_size") && strstr(err, "training split has 5"), "%s", err);
    dc_fashion_data d;
    CHECK(dc_fashion_data_load(&d, dir, err, sizeof err) == 0);
    CHECK(d.pixels == 4 && d.n_train == 5 && d.n_test == 3 && d.train_y[4] == 4);
    dc_fashion_data_free(&d);
    ops->destroy(t);

    // clean up the fixtures
    const char *names[] = {"good.gz",
                           "badmagic.gz",
                           "shorthead.gz",
                           "shortdata.gz",
                           "extra.gz",
                           "zero.gz",
                           "plain.gz",
                           "corrupt.gz",
                           "train-images-idx3-ubyte.gz",
                           "train-labels-idx1-ubyte.gz",
                           "t10k-images-idx3-ubyte.gz",
                           "t10k-labels-idx1-ubyte.gz"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    return TEST_REPORT();
}
