/* fashion_data.c — finding, reading and validating the Fashion-MNIST IDX files. */
#include "fashion_data.h"

#include "idx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INSTALL_HINT                                                                               \
    "install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist) "    \
    "or set DISCOVER_FASHION_DIR (or the task option data_dir) to the folder holding "             \
    "train-images-idx3-ubyte.gz"

void dc_fashion_data_dir(const char *option, char *buf, size_t cap)
{
    const char *env = getenv("DISCOVER_FASHION_DIR");
    const char *dir = option && *option ? option : env && *env ? env : DC_FASHION_DEFAULT_DIR;
    snprintf(buf, cap, "%s", dir);
}

/* Loads one split's images and labels and checks they belong together. */
static int load_split(const char *dir, const char *prefix, dc_idx *img, dc_idx *lab, char *err,
                      size_t errcap)
{
    char ipath[1200], lpath[1200];
    snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    struct stat st;
    const char *paths[2] = {ipath, lpath};
    for (int i = 0; i < 2; i++) {
        if (stat(paths[i], &st) != 0) {
            snprintf(err, errcap, "Fashion-MNIST file %s not found: " INSTALL_HINT, paths[i]);
            return -1;
        }
    }
    if (dc_idx_read(ipath, 3, img, err, errcap)) return -1;
    if (dc_idx_read(lpath, 1, lab, err, errcap)) {
        dc_idx_free(img);
        return -1;
    }
    const char *why = NULL;
    if (img->dims[0] != lab->dims[0]) why = "image and label counts differ";
    for (int i = 0; !why && i < lab->dims[0]; i++)
        if (lab->data[i] >= DC_FASHION_CLASSES) why = "a label is outside 0..9";
    if (why) {
        snprintf(err, errcap,
                 "%s and %s: %s (%d images, %d labels); the files are damaged or "
                 "mismatched: reinstall dataset-fashion-mnist",
                 ipath, lpath, why, img->dims[0], lab->dims[0]);
        dc_idx_free(img);
        dc_idx_free(lab);
        return -1;
    }
    return 0;
}

int dc_fashion_data_load(dc_fashion_data *d, const char *dir, char *err, size_t errcap)
{
    memset(d, 0, sizeof *d);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errcap, "Fashion-MNIST folder %s not found: " INSTALL_HINT, dir);
        return -1;
    }
    dc_idx tri, trl, tei, tel;
    if (load_split(dir, "train", &tri, &trl, err, errcap)) return -1;
    if (load_split(dir, "t10k", &tei, &tel, err, errcap)) {
        dc_idx_free(&tri);
        dc_idx_free(&trl);
        return -1;
    }
    if (tri.dims[1] != tei.dims[1] || tri.dims[2] != tei.dims[2]) {
        snprintf(err, errcap,
                 "%s: training images are %dx%d but test images %dx%d; the files "
                 "are mismatched: reinstall dataset-fashion-mnist",
                 dir, tri.dims[1], tri.dims[2], tei.dims[1], tei.dims[2]);
        dc_idx_free(&tri);
        dc_idx_free(&trl);
        dc_idx_free(&tei);
        dc_idx_free(&tel);
        return -1;
    }
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    d->pixels = tri.dims[1] * tri.dims[2];
    d->n_train = tri.dims[0];
    d->n_test = tei.dims[0];
    d->train_x = tri.data;
    d->train_y = trl.data;
    d->test_x = tei.data;
    d->test_y = tel.data;
    return 0;
}

void dc_fashion_data_free(dc_fashion_data *d)
{
    free(d->train_x);
    free(d->train_y);
    free(d->test_x);
    free(d->test_y);
    memset(d, 0, sizeof *d);
}
