/* fashion_data.h — the Fashion-MNIST files in memory (uint8 pixels and labels).
 *
 * Pixels stay uint8 (47 MB for the training split instead of 188 MB as floats); the trainer
 * converts each batch to floats in [0, 1] when it needs it. */
#ifndef DC_FASHION_DATA_H
#define DC_FASHION_DATA_H

#include <stddef.h>

#define DC_FASHION_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define DC_FASHION_CLASSES 10

typedef struct {
    char dir[1024]; /* where it was loaded from; empty when nothing is loaded */
    int pixels;     /* rows * cols (784) */
    int n_train, n_test;
    unsigned char *train_x, *train_y; /* (n_train, pixels), (n_train) */
    unsigned char *test_x, *test_y;   /* (n_test, pixels), (n_test) */
} dc_fashion_data;

/* The folder to read: the data_dir option when non-empty, else $DISCOVER_FASHION_DIR, else
 * the Debian package's folder. */
void dc_fashion_data_dir(const char *option, char *buf, size_t cap);

/* Loads the four files from dir (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
 * t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) and validates them (counts agree,
 * image sizes agree, labels < 10). Returns 0, or -1 with a message naming the file and
 * what to do (a missing folder or file says which Debian package to install). */
int dc_fashion_data_load(dc_fashion_data *d, const char *dir, char *err, size_t errcap);
void dc_fashion_data_free(dc_fashion_data *d);

#endif
